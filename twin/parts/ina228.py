"""Texas Instruments INA228 85 V, 20-bit power monitor on I2C (0x40..0x4F).

Register-accurate after the datasheet (SBOS938, section 7.6 "Register Maps"): one pointer byte,
then whole registers big-endian, 16, 24 or 40 bits wide, with no auto-increment (7.5.1.1).
CONFIG 0x00 (RST, RSTACC, CONVDLY, TEMPCOMP, ADCRANGE), ADC_CONFIG 0x01 (mode, conversion times,
averaging), SHUNT_CAL 0x02, SHUNT_TEMPCO 0x03, VSHUNT 0x04, VBUS 0x05, DIETEMP 0x06, CURRENT 0x07,
POWER 0x08, ENERGY 0x09, CHARGE 0x0A, DIAG_ALRT 0x0B, the limits 0x0C..0x11, MANUFACTURER_ID 0x3E
("TI") and DEVICE_ID 0x3F (0x228, revision 1).

Conversions follow ADC_CONFIG: every enabled channel takes its conversion time times the
averaging count; continuous modes repeat from the last ADC_CONFIG write (after CONVDLY), triggered
modes convert once. Results update only when a conversion completes. The LSBs are section 8.1.1's:
VSHUNT 312.5 nV (78.125 nV with ADCRANGE = 1), VBUS 195.3125 µV, DIETEMP 7.8125 m°C; CURRENT,
POWER, ENERGY and CHARGE are in the units SHUNT_CAL implies (section 8.1.2: SHUNT_CAL =
13107.2e6 * CURRENT_LSB * R_SHUNT, times 4 with ADCRANGE = 1; POWER_LSB = 3.2 * CURRENT_LSB;
ENERGY_LSB = 16 * POWER_LSB; CHARGE_LSB = CURRENT_LSB). CNVRF is set by each completed conversion
and cleared when DIAG_ALRT is read; the alert pin is not modelled.
"""

from __future__ import annotations

import math

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.i2c import I2CTarget
from labtwin.twin.parts.quantity import as_quantity
from labtwin.twin.parts.sensing import QuantitySource, Sensing

__all__ = ["Ina228", "VBUS_LSB", "VSHUNT_LSB"]

CONFIG, ADC_CONFIG, SHUNT_CAL, SHUNT_TEMPCO, VSHUNT, VBUS, DIETEMP = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
CURRENT, POWER, ENERGY, CHARGE, DIAG_ALRT = 0x07, 0x08, 0x09, 0x0A, 0x0B
SOVL, SUVL, BOVL, BUVL, TEMP_LIMIT, PWR_LIMIT = 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11
MANUFACTURER_ID, DEVICE_ID = 0x3E, 0x3F
WIDTH = {VSHUNT: 3, VBUS: 3, CURRENT: 3, POWER: 3, ENERGY: 5, CHARGE: 5}  # bytes; all others 2
RESET_VALUES = {CONFIG: 0x0000, ADC_CONFIG: 0xFB68, SHUNT_CAL: 0x1000, SHUNT_TEMPCO: 0x0000, DIAG_ALRT: 0x0001,
                SOVL: 0x7FFF, SUVL: 0x8000, BOVL: 0x7FFF, BUVL: 0x0000, TEMP_LIMIT: 0x7FFF, PWR_LIMIT: 0xFFFF}
WRITE_MASK = {CONFIG: 0x3FF0, ADC_CONFIG: 0xFFFF, SHUNT_CAL: 0x7FFF, SHUNT_TEMPCO: 0x3FFF, DIAG_ALRT: 0xF000,
              SOVL: 0xFFFF, SUVL: 0xFFFF, BOVL: 0x7FFF, BUVL: 0x7FFF, TEMP_LIMIT: 0xFFFF, PWR_LIMIT: 0xFFFF}
IDS = {MANUFACTURER_ID: 0x5449, DEVICE_ID: 0x2281}
CONFIG_RST, CONFIG_RSTACC, CONFIG_TEMPCOMP, CONFIG_ADCRANGE = 0x8000, 0x4000, 0x0020, 0x0010
DIAG_CNVRF, DIAG_MATHOF, DIAG_MEMSTAT = 0x0002, 0x0200, 0x0001
DIAG_TMPOL, DIAG_SHNTOL, DIAG_SHNTUL, DIAG_BUSOL, DIAG_BUSUL, DIAG_POL = 0x80, 0x40, 0x20, 0x10, 0x08, 0x04
VSHUNT_LSB = (312.5e-9, 78.125e-9)  # V, by ADCRANGE
VBUS_LSB = 195.3125e-6  # V
DIETEMP_LSB = 7.8125e-3  # °C
CONVERSION_US = (50, 84, 150, 280, 540, 1052, 2074, 4120)  # VBUSCT/VSHCT/VTCT codes (ADC_CONFIG, 7.6.1.2)
AVERAGES = (1, 4, 16, 64, 128, 256, 512, 1024)
CATCH_UP = 512  # conversions sampled at most to accumulate ENERGY and CHARGE over a long gap
# Noise per conversion at 1052 µs and no averaging, falling as 1/sqrt(samples): assumed orders of
# magnitude, not datasheet figures.
SIGMA_VSHUNT, SIGMA_VBUS, SIGMA_TEMP = 0.5e-6, 0.5e-3, 0.05


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _clamp(value: int, low: int, high: int) -> tuple[int, bool]:
    clamped = min(max(value, low), high)
    return clamped, clamped != value


class Ina228(I2CTarget):
    """An INA228 measuring ``bus_voltage`` (V) and ``current`` (A) through a shunt of ``shunt_resistance`` (Ω).

    Args:
        address: 0x40..0x4F (A0/A1 strapping).
        bus_voltage, current, shunt_resistance, die_temperature: what the chip senses (numbers,
            functions of lab time, Quantities); the shunt voltage is ``current * shunt_resistance``.
        seed, noise: seeded ADC noise, ``noise`` times the assumed figures (0: none).
        trace: records each conversion as ``<name>.vshunt``, ``.vbus`` and ``.dietemp``.
        name: label in trace signals, ``ina228.<name>.<quantity>`` (default: the address, ``ina228.0x40``).
        powered_at: lab time of power-on (conversions start then, in the default continuous mode).
    """

    def __init__(self, address: int = 0x40, *, bus_voltage: QuantitySource = 12.0, current: QuantitySource = 0.0,
                 shunt_resistance: QuantitySource = 0.015, die_temperature: QuantitySource = 25.0, seed: int = 0,
                 noise: float = 1.0, trace: Trace | None = None, name: str | None = None,
                 powered_at: float = 0.0) -> None:
        if not 0x40 <= address <= 0x4F:
            raise ConfigError(f"an INA228 answers at 0x40..0x4F, not 0x{address:02x}")
        super().__init__(address)
        self.bus_voltage = as_quantity(bus_voltage)
        self.current = as_quantity(current)
        self.shunt_resistance = as_quantity(shunt_resistance)
        self.die_temperature = as_quantity(die_temperature)
        self.sensing = Sensing(f"ina228.{name or f'0x{address:02x}'}", seed=seed, noise=noise, trace=trace)
        self.pointer = CONFIG
        self._reset(powered_at)

    def _reset(self, t: float) -> None:
        self._regs = dict(RESET_VALUES)
        self._results = (0, 0, 0)  # VSHUNT, VBUS (20-bit codes), DIETEMP (16-bit code)
        self._energy = self._charge = 0.0  # accumulated, in ENERGY and CHARGE LSBs
        self._overflow = 0  # MATHOF, CHARGEOF, ENERGYOF as DIAG_ALRT bits
        self._cnvrf = False
        self._restart(t)

    def _restart(self, t: float) -> None:
        self._since, self._done = t, 0

    # -- conversions -------------------------------------------------------------------------
    def _mode(self) -> int:
        return self._regs[ADC_CONFIG] >> 12

    def cycle_time(self) -> float:
        """Seconds one conversion of every enabled channel takes, averaging included."""
        adc, mode = self._regs[ADC_CONFIG], self._mode()
        times = [CONVERSION_US[(adc >> shift) & 0x07] for bit, shift in ((1, 9), (2, 6), (4, 3)) if mode & bit]
        return sum(times) * AVERAGES[adc & 0x07] * 1e-6

    def _completions(self, t: float) -> int:
        mode, cycle = self._mode(), self.cycle_time()
        first = self._since + ((self._regs[CONFIG] >> 6) & 0xFF) * 0.002 + cycle  # CONVDLY, 2 ms steps
        if mode & 0x07 == 0 or t < first:
            return 0
        return int((t - first) // cycle) + 1 if mode & 0x08 else 1

    def _measure(self, t: float, *, noisy: bool) -> tuple[int, int, int]:
        """The three ADC codes for the channels' values at ``t``."""
        adc = self._regs[ADC_CONFIG]
        samples = AVERAGES[adc & 0x07]
        scale = [math.sqrt(1052.0 / (CONVERSION_US[(adc >> s) & 0x07] * samples)) for s in (6, 9, 3)]
        vshunt = self.current.value(t) * self.shunt_resistance.value(t)
        vbus, temp = self.bus_voltage.value(t), self.die_temperature.value(t)
        if noisy:
            noise = self.sensing.noise
            vshunt = noise.add(vshunt, SIGMA_VSHUNT * scale[0])
            vbus = noise.add(vbus, SIGMA_VBUS * scale[1])
            temp = noise.add(temp, SIGMA_TEMP * scale[2])
            for signal, value in (("vshunt", vshunt), ("vbus", vbus), ("dietemp", temp)):
                self.sensing.record(signal, t, value)
        vshunt_code = _clamp(round(vshunt / VSHUNT_LSB[self._adcrange()]), -(1 << 19), (1 << 19) - 1)[0]
        vbus_code = _clamp(round(vbus / VBUS_LSB), 0, (1 << 19) - 1)[0]
        temp_code = _clamp(round(temp / DIETEMP_LSB), -(1 << 15), (1 << 15) - 1)[0]
        return vshunt_code, vbus_code, temp_code

    def _adcrange(self) -> int:
        return 1 if self._regs[CONFIG] & CONFIG_ADCRANGE else 0

    def _derived(self, results: tuple[int, int, int]) -> tuple[int, int, bool]:
        """CURRENT and POWER codes from the ADC codes and SHUNT_CAL, and whether the math overflowed."""
        vshunt, vbus, temp = results
        cal = float(self._regs[SHUNT_CAL])
        if self._regs[CONFIG] & CONFIG_TEMPCOMP:  # section 7.3.5: the shunt's resistance at DIETEMP
            cal *= 1.0 + (temp * DIETEMP_LSB - 25.0) * self._regs[SHUNT_TEMPCO] / 1e6
        # CURRENT * CURRENT_LSB = VSHUNT / R_SHUNT under equation 2 in both ADC ranges; 0 without SHUNT_CAL.
        current = int(vshunt * 4096 / cal) if cal else 0
        current, current_over = _clamp(current, -(1 << 19), (1 << 19) - 1)
        power, power_over = _clamp(abs(current) * vbus // 16384, 0, (1 << 24) - 1)
        return current, power, current_over or power_over

    def _advance(self, t: float) -> None:
        count = self._completions(t)
        new = count - self._done
        if new <= 0:
            return
        cycle = self.cycle_time()
        first = self._since + ((self._regs[CONFIG] >> 6) & 0xFF) * 0.002 + cycle
        if self._mode() & 0x08:  # ENERGY and CHARGE accumulate in continuous modes
            step = max(1, new // CATCH_UP)  # a long gap is sampled, not replayed
            sampled = [self._derived(self._measure(first + k * cycle, noisy=False))
                       for k in range(self._done, count, step)]
            seconds = new * cycle
            if self._mode() & 0x02:
                self._charge += sum(c for c, _, _ in sampled) / len(sampled) * seconds
                if self._mode() & 0x01:
                    self._energy += sum(p for _, p, _ in sampled) / len(sampled) * seconds / 16.0
        measured = self._measure(first + (count - 1) * cycle, noisy=True)
        enabled = (self._mode() & 0x02, self._mode() & 0x01, self._mode() & 0x04)  # VSHUNT, VBUS, DIETEMP
        vshunt, vbus, temp = (fresh if on else old
                              for fresh, old, on in zip(measured, self._results, enabled, strict=True))
        self._results = (vshunt, vbus, temp)
        self._done, self._cnvrf = count, True

    # -- registers ---------------------------------------------------------------------------
    def register_value(self, register: int, t: float) -> int:
        """The value of ``register`` at lab time ``t``, as the chip would send it."""
        self._advance(t)
        vshunt, vbus, temp = self._results
        if register in IDS:
            return IDS[register]
        if register == VSHUNT:
            return (vshunt & 0xFFFFF) << 4
        if register == VBUS:
            return vbus << 4
        if register == DIETEMP:
            return temp & 0xFFFF
        current, power, overflow = self._derived(self._results)
        if register == CURRENT:
            return (current & 0xFFFFF) << 4
        if register == POWER:
            return power
        if register == ENERGY:
            energy, over = _clamp(int(self._energy), 0, (1 << 40) - 1)
            self._overflow |= 0x0800 if over else 0
            return energy
        if register == CHARGE:
            charge, over = _clamp(int(self._charge), -(1 << 39), (1 << 39) - 1)
            self._overflow |= 0x0400 if over else 0
            return charge & ((1 << 40) - 1)
        if register == DIAG_ALRT:
            return self._diag(current, power, overflow)
        return self._regs.get(register, 0)

    def _diag(self, current: int, power: int, overflow: bool) -> int:
        vshunt, vbus, temp = self._results
        limit_lsb = 16  # SOVL/SUVL LSB (5 µV, or 1.25 µV with ADCRANGE = 1) is 16 VSHUNT LSBs
        flags = DIAG_MEMSTAT | self._overflow | (DIAG_MATHOF if overflow else 0) | (DIAG_CNVRF if self._cnvrf else 0)
        flags |= DIAG_SHNTOL if vshunt > _signed(self._regs[SOVL], 16) * limit_lsb else 0
        flags |= DIAG_SHNTUL if vshunt < _signed(self._regs[SUVL], 16) * limit_lsb else 0
        flags |= DIAG_BUSOL if vbus > self._regs[BOVL] * 16 else 0  # BOVL LSB 3.125 mV = 16 VBUS LSBs
        flags |= DIAG_BUSUL if vbus < self._regs[BUVL] * 16 else 0
        flags |= DIAG_TMPOL if _signed(temp, 16) > _signed(self._regs[TEMP_LIMIT], 16) else 0
        flags |= DIAG_POL if power >> 8 > self._regs[PWR_LIMIT] else 0  # PWR_LIMIT LSB = 256 POWER LSBs
        self._cnvrf = False  # read clears the conversion-ready flag
        return (self._regs[DIAG_ALRT] & 0xF000) | flags

    def write(self, data: bytes, t: float) -> int:
        """Pointer byte, then (optionally) a 16-bit value MSB first for that register."""
        if not data:
            return 0
        self.pointer = data[0]
        if len(data) >= 3 and self.pointer in WRITE_MASK:
            self._write_register(self.pointer, (data[1] << 8) | data[2], t)
        return len(data)

    def _write_register(self, register: int, value: int, t: float) -> None:
        self._advance(t)
        if register == CONFIG and value & CONFIG_RST:
            self._reset(t)
            return
        if register == CONFIG and value & CONFIG_RSTACC:
            self._energy = self._charge = 0.0
            self._overflow = 0
        old, self._regs[register] = self._regs[register], value & WRITE_MASK[register]
        # A write to ADC_CONFIG starts a triggered conversion or restarts continuous ones; so does a new CONVDLY.
        if register == ADC_CONFIG or (register == CONFIG and (old ^ value) & 0x3FC0):
            self._restart(t)

    def read(self, n: int, t: float) -> bytes:
        """The register at the pointer, big-endian; bytes past its width read 0xFF (unspecified)."""
        width = WIDTH.get(self.pointer, 2)
        data = self.register_value(self.pointer, t).to_bytes(width, "big")
        return data[:n] + b"\xff" * max(0, n - width)
