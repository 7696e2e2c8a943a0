"""Bosch BMP581 barometric pressure sensor on I2C (0x46, or 0x47 with SDO high).

Register-accurate after the datasheet (BST-BMP581-DS004, chapter 7) for what drivers use: CHIP_ID
0x01 = 0x50, REV_ID 0x02, INT_SOURCE 0x15, little-endian 24-bit data at 0x1D..0x1F (temperature,
signed, T = raw / 2^16 °C) and 0x20..0x22 (pressure, p = raw / 2^6 Pa) (section 4.5), INT_STATUS
0x27 (clear on read: data ready bit 0 when enabled in INT_SOURCE, POR/soft-reset done bit 4),
STATUS 0x28 (NVM ready), OSR_CONFIG 0x36 (osr_t, osr_p, press_en), ODR_CONFIG 0x37 (power mode,
ODR, deep_dis), OSR_EFF 0x38 and CMD 0x7E (0xB6 soft reset, not acknowledged on I2C, 7.36).

Power modes (section 4.3): STANDBY, NORMAL (one conversion per ODR period), FORCED (one
conversion, then STANDBY) and CONTINUOUS (back to back). A conversion takes the inverse of
Table 9's CONTINUOUS-mode ODR for its pressure oversampling; data registers update when it
completes and read 0x7F before the first (and pressure stays so while press_en is 0). In NORMAL
mode an ODR too fast for the oversampling is invalid (OSR_EFF.odr_is_valid = 0) and the chip falls
back to x1 (ODR >= 160 Hz) or x2 oversampling (section 4.3.4). The IIR filter and the FIFO are not
modelled: DSP settings are stored, the FIFO reads empty.
"""

from __future__ import annotations

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.i2c import RegisterTarget
from labtwin.twin.parts.quantity import as_quantity
from labtwin.twin.parts.sensing import QuantitySource, Sensing

__all__ = ["Bmp581", "ODR_HZ"]

CHIP_ID, REV_ID = 0x50, 0x32
REG_CHIP_ID, REG_REV_ID, REG_INT_SOURCE, REG_FIFO_COUNT = 0x01, 0x02, 0x15, 0x17
REG_TEMP_DATA, REG_PRESS_DATA, REG_INT_STATUS, REG_STATUS, REG_FIFO_DATA = 0x1D, 0x20, 0x27, 0x28, 0x29
REG_OSR_CONFIG, REG_ODR_CONFIG, REG_OSR_EFF, REG_CMD = 0x36, 0x37, 0x38, 0x7E
WRITABLE = frozenset({0x13, 0x14, 0x15, 0x16, 0x18, 0x2B, 0x2C, 0x2D, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35})
SOFT_RESET = 0xB6
INT_DRDY, INT_POR = 0x01, 0x10
STATUS_NVM_RDY = 0x02
ODR_CONFIG_RESET = 0x70  # deep_dis 0, odr 0x1C (1 Hz), STANDBY
STANDBY, NORMAL, FORCED, CONTINUOUS = 0, 1, 2, 3
NO_DATA = 0x7F7F7F
FIFO_EMPTY = 0x7F
ODR_HZ = (240.0, 218.5, 199.1, 179.2, 160.0, 149.3, 140.0, 129.8, 120.0, 110.1, 100.2, 89.6, 80.0, 70.0, 60.0,
          50.0, 45.0, 40.0, 35.0, 30.0, 25.0, 20.0, 15.0, 10.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.25, 0.125)
"""ODR_CONFIG.odr codes 0x00..0x1F in Hz (register 0x37)."""
CONTINUOUS_ODR_HZ = (498.0, 374.0, 255.0, 155.0, 87.0, 46.0, 24.0, 12.0)  # Table 9, per osr_p
PRESSURE_RMS_NOISE = (0.78, 0.58, 0.41, 0.30, 0.21, 0.15, 0.11, 0.08)  # Pa, Table 9, per osr_p
SIGMA_T = 0.005  # °C, assumed: the datasheet gives no temperature noise figure


class Bmp581(RegisterTarget):
    """A BMP581 sensing ``temperature`` (°C) and ``pressure`` (Pa).

    Args:
        address: 0x46 (SDO low) or 0x47 (SDO high).
        temperature, pressure: what the chip senses (numbers, functions of lab time, Quantities).
        seed, noise: seeded noise, ``noise`` times Table 9's RMS noise (0: none).
        trace: records each conversion as ``<name>.temperature`` and ``<name>.pressure``.
        name: label in trace signals, ``bmp581.<name>.<quantity>`` (default: the address, ``bmp581.0x47``).
    """

    def __init__(self, address: int = 0x47, *, temperature: QuantitySource = 22.0,
                 pressure: QuantitySource = 101_325.0, seed: int = 0, noise: float = 1.0,
                 trace: Trace | None = None, name: str | None = None) -> None:
        if address not in (0x46, 0x47):
            raise ConfigError(f"a BMP581 answers at 0x46 or 0x47, not 0x{address:02x}")
        super().__init__(address)
        self.temperature = as_quantity(temperature)
        self.pressure = as_quantity(pressure)
        self.sensing = Sensing(f"bmp581.{name or f'0x{address:02x}'}", seed=seed, noise=noise, trace=trace)
        self._reset()

    def _reset(self) -> None:
        self.registers[:] = bytes(len(self.registers))
        self.registers[REG_ODR_CONFIG] = ODR_CONFIG_RESET
        self._temp_raw = self._press_raw = NO_DATA
        self._int_status = INT_POR
        self._mode_since = 0.0
        self._conversions = 0  # conversions completed in the current mode
        self._forced_end: float | None = None

    # -- configuration ----------------------------------------------------------------------
    def power_mode(self) -> int:
        """ODR_CONFIG.pwr_mode: 0 STANDBY, 1 NORMAL, 2 FORCED, 3 CONTINUOUS."""
        return self.registers[REG_ODR_CONFIG] & 0x03

    def _osr(self) -> tuple[int, int]:
        osr = self.registers[REG_OSR_CONFIG]
        return osr & 0x07, (osr >> 3) & 0x07

    def _odr_valid(self) -> bool:
        return 1.0 / CONTINUOUS_ODR_HZ[self._osr()[1]] <= 1.0 / self._odr()

    def _odr(self) -> float:
        return ODR_HZ[(self.registers[REG_ODR_CONFIG] >> 2) & 0x1F]

    def effective_osr(self) -> tuple[int, int]:
        """(osr_t, osr_p) codes the chip uses: the configured ones unless NORMAL mode cannot fit them."""
        if self.power_mode() == NORMAL and not self._odr_valid():
            fallback = 0 if self._odr() >= 160.0 else 1
            return fallback, fallback
        return self._osr()

    def conversion_time(self) -> float:
        """Seconds one conversion takes (the inverse of Table 9's CONTINUOUS-mode ODR)."""
        return 1.0 / CONTINUOUS_ODR_HZ[self.effective_osr()[1]]

    # -- time --------------------------------------------------------------------------------
    def _completions(self, t: float) -> tuple[int, float]:
        """How many conversions of the current mode have completed by ``t``, and when the last did."""
        mode, first = self.power_mode(), self._mode_since + self.conversion_time()
        if mode == FORCED and self._forced_end is not None:
            return (1, self._forced_end) if t >= self._forced_end else (0, 0.0)
        if mode in (NORMAL, CONTINUOUS) and t >= first:
            period = 1.0 / self._odr() if mode == NORMAL else self.conversion_time()
            count = int((t - first) // period) + 1
            return count, first + (count - 1) * period
        return 0, 0.0

    def _advance(self, t: float) -> None:
        count, at = self._completions(t)
        if count > self._conversions:
            self._conversions = count
            self._convert(at)
            if self.power_mode() == FORCED:  # one conversion, then back to STANDBY (4.3.3)
                self.registers[REG_ODR_CONFIG] &= ~0x03
                self._forced_end = None

    def _convert(self, t: float) -> None:
        noise = self.sensing.noise
        temperature = noise.add(self.temperature.value(t), SIGMA_T)
        self._temp_raw = min(max(round(temperature * 65536.0), -(1 << 23)), (1 << 23) - 1) & 0xFFFFFF
        self.sensing.record("temperature", t, temperature)
        if self.registers[REG_OSR_CONFIG] & 0x40:  # press_en
            pressure = noise.add(self.pressure.value(t), PRESSURE_RMS_NOISE[self.effective_osr()[1]])
            self._press_raw = min(max(round(pressure * 64.0), 0), 0xFFFFFF)
            self.sensing.record("pressure", t, pressure)
        if self.registers[REG_INT_SOURCE] & 0x01:  # drdy_data_reg_en
            self._int_status |= INT_DRDY

    def _restart(self, t: float) -> None:
        """A mode or measurement setting changed: measurements start over from ``t``."""
        self._mode_since, self._conversions = t, 0
        self._forced_end = t + self.conversion_time() if self.power_mode() == FORCED else None

    # -- registers ---------------------------------------------------------------------------
    def read_register(self, register: int, t: float) -> int:
        """The chip's register file at lab time ``t``."""
        self._advance(t)
        if register == REG_CHIP_ID:
            return CHIP_ID
        if register == REG_REV_ID:
            return REV_ID
        if REG_TEMP_DATA <= register < REG_TEMP_DATA + 3:
            return (self._temp_raw >> (8 * (register - REG_TEMP_DATA))) & 0xFF
        if REG_PRESS_DATA <= register < REG_PRESS_DATA + 3:
            return (self._press_raw >> (8 * (register - REG_PRESS_DATA))) & 0xFF
        if register == REG_INT_STATUS:
            status, self._int_status = self._int_status, 0  # clear on read
            return status
        if register == REG_STATUS:
            return STATUS_NVM_RDY
        if register == REG_FIFO_DATA:
            return FIFO_EMPTY
        if register == REG_OSR_EFF:
            osr_t, osr_p = self.effective_osr()
            valid = self.power_mode() != NORMAL or self._odr_valid()
            return osr_t | (osr_p << 3) | (0x80 if valid else 0)
        if register in (REG_OSR_CONFIG, REG_ODR_CONFIG) or register in WRITABLE:
            return self.registers[register]
        return 0x00

    def write_register(self, register: int, value: int, t: float) -> None:
        """Configuration takes effect at once; measurements restart when it concerns them (4.4.3)."""
        self._advance(t)
        if register == REG_CMD:
            if value == SOFT_RESET:
                self._reset()
        elif register == REG_ODR_CONFIG:
            changed = value != self.registers[REG_ODR_CONFIG]
            self.registers[register] = value
            if changed or value & 0x03 == FORCED:
                self._restart(t)
        elif register == REG_OSR_CONFIG:
            self.registers[register] = value & 0x7F
            self._restart(t)
        elif register in WRITABLE:
            self.registers[register] = value

    def write(self, data: bytes, t: float) -> int:
        """Register writes with auto-increment; the chip resets on 0xB6 to CMD without acknowledging it (7.36)."""
        if not data:
            return 0
        self.pointer = data[0]
        for index, value in enumerate(data[1:], start=1):
            self.write_register(self.pointer, value, t)
            if self.pointer == REG_CMD and value == SOFT_RESET:
                return index
            self.pointer = (self.pointer + 1) % self.pointer_wraps_at
        return len(data)

    def read(self, n: int, t: float) -> bytes:
        """A burst read from the pointer on; one instant, so the data are shadowed (4.5.1)."""
        self._advance(t)
        return super().read(n, t)

