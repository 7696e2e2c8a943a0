"""Bosch BME280 humidity, pressure and temperature sensor on I2C (0x76, or 0x77 with SDO high).

Register-accurate after the datasheet (BST-BME280-DS002): chip id 0x60 at 0xD0, soft reset by
writing 0xB6 to 0xE0, ``ctrl_hum`` 0xF2 (effective only after a ``ctrl_meas`` write, 5.4.3),
``status`` 0xF3 (``measuring`` bit 3, ``im_update`` bit 0), ``ctrl_meas`` 0xF4 (oversampling and
sleep/forced/normal mode), ``config`` 0xF5 (standby time and IIR filter; ignored in normal mode,
5.4.6), data burst 0xF7..0xFE and the trimming words at 0x88..0xA1 and 0xE1..0xE7.

A conversion takes the datasheet's typical measurement time (section 9.1); the data registers
change only when one completes, so a driver that reads too early sees the previous result, and a
skipped measurement reads 0x80000 (0x8000 for humidity). Raw counts are the inverse of the
datasheet's own compensation (:mod:`~labtwin.twin.parts.bme280_compensation`), quantised to the
resolution the oversampling gives (16 + osrs - 1 bits, 20 bits with the IIR filter on, 3.4.2-3.4.3).
"""

from __future__ import annotations

import math

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.bme280_compensation import (
    Bme280Trimming,
    compensate_temperature,
    raw_for_humidity,
    raw_for_pressure,
    raw_for_temperature,
)
from labtwin.twin.parts.i2c import RegisterTarget
from labtwin.twin.parts.quantity import as_quantity
from labtwin.twin.parts.sensing import QuantitySource, Sensing

__all__ = ["Bme280", "measurement_time"]

CHIP_ID = 0x60
RESET_WORD = 0xB6
REG_CALIB_T_P = 0x88
REG_CALIB_H = 0xE1
REG_ID, REG_RESET, REG_CTRL_HUM, REG_STATUS, REG_CTRL_MEAS, REG_CONFIG = 0xD0, 0xE0, 0xF2, 0xF3, 0xF4, 0xF5
REG_DATA = 0xF7
SKIPPED_20_BIT, SKIPPED_16_BIT = 0x80000, 0x8000
STATUS_MEASURING, STATUS_IM_UPDATE = 0x08, 0x01
MODE_SLEEP, MODE_NORMAL = 0b00, 0b11
STARTUP_S = 0.002  # datasheet Table 1: start-up time 2 ms, while im_update copies the NVM
STANDBY_MS = (0.5, 62.5, 125.0, 250.0, 500.0, 1000.0, 10.0, 20.0)  # t_sb, Table 27
FILTER_COEFFICIENT = (1, 2, 4, 8, 16, 16, 16, 16)  # config.filter, Table 28 (1 = off)
CATCH_UP = 256  # normal-mode conversions replayed at most after a long unread gap
# Noise (sigma, scale 1.0): humidity 0.02 %RH and pressure 0.2 Pa at x16 are the datasheet's RMS
# noise (Tables 1 and 2); pressure noise is taken to grow as 1/sqrt(oversampling); 0.005 °C is assumed.
SIGMA_T, SIGMA_P_X16, SIGMA_H = 0.005, 0.2, 0.02


def _oversampling(code: int) -> int:
    """Samples averaged for an osrs code: 0 (skipped), 1, 2, 4, 8, 16 (5 and above)."""
    return 0 if code == 0 else 1 << (min(code, 5) - 1)


def measurement_time(osrs_t: int, osrs_p: int, osrs_h: int) -> float:
    """Typical measurement time in seconds for the osrs codes (datasheet 9.1, Appendix B)."""
    t, p, h = _oversampling(osrs_t), _oversampling(osrs_p), _oversampling(osrs_h)
    ms = 1.0 + 2.0 * t + (2.0 * p + 0.5 if p else 0.0) + (2.0 * h + 0.5 if h else 0.0)
    return ms / 1000.0


class Bme280(RegisterTarget):
    """A BME280 sensing ``temperature`` (°C), ``pressure`` (Pa) and ``humidity`` (%RH).

    Args:
        address: 0x76 (SDO low) or 0x77 (SDO high).
        temperature, pressure, humidity: what the chip senses: numbers, functions of lab time, or
            :class:`~labtwin.twin.parts.quantity.Quantity` objects.
        seed, noise: seeded measurement noise, ``noise`` times the typical figures (0: none).
        trimming: the part's factory trimming words.
        trace: records each completed conversion as ``<name>.temperature`` etc.
        name: label in trace signals, ``bme280.<name>.<quantity>`` (default: the address, ``bme280.0x76``).
        powered_at: lab time of power-on (``im_update`` is set for the start-up time after it).
    """

    def __init__(self, address: int = 0x76, *, temperature: QuantitySource = 22.0,
                 pressure: QuantitySource = 101_325.0, humidity: QuantitySource = 45.0, seed: int = 0,
                 noise: float = 1.0, trimming: Bme280Trimming | None = None, trace: Trace | None = None,
                 name: str | None = None, powered_at: float = 0.0) -> None:
        if address not in (0x76, 0x77):
            raise ConfigError(f"a BME280 answers at 0x76 or 0x77, not 0x{address:02x}")
        super().__init__(address)
        self.temperature = as_quantity(temperature)
        self.pressure = as_quantity(pressure)
        self.humidity = as_quantity(humidity)
        self.trimming = trimming or Bme280Trimming()
        self.sensing = Sensing(f"bme280.{name or f'0x{address:02x}'}", seed=seed, noise=noise, trace=trace)
        self._calib_t_p = self.trimming.calib_0x88()
        self._calib_h = self.trimming.calib_0xe1()
        self._power_on_reset(powered_at)

    def _power_on_reset(self, t: float) -> None:
        self._reset_at = t
        self._ctrl_hum = self._ctrl_meas = self._config = 0
        self._osrs_h = 0  # ctrl_hum as latched by the last ctrl_meas write
        self._forced_end: float | None = None
        self._normal_since: float | None = None
        self._normal_done = 0
        self._adc = (SKIPPED_20_BIT, SKIPPED_20_BIT, SKIPPED_16_BIT)  # pressure, temperature, humidity
        self._filtered: tuple[float, float] | None = None  # IIR state: temperature, pressure

    # -- timing ------------------------------------------------------------------------------
    def conversion_time(self) -> float:
        """Seconds one conversion takes with the current oversampling settings."""
        return measurement_time(self._ctrl_meas >> 5, (self._ctrl_meas >> 2) & 0x07, self._osrs_h)

    def _period(self) -> float:
        return self.conversion_time() + STANDBY_MS[self._config >> 5] / 1000.0

    def _advance(self, t: float) -> None:
        """Complete every conversion that has finished by ``t``."""
        if self._forced_end is not None and t >= self._forced_end:
            self._convert([self._forced_end])
            self._forced_end = None
            self._ctrl_meas &= ~0x03  # back to sleep mode after a forced conversion (3.3.2)
        if self._normal_since is not None:
            first, period = self._normal_since + self.conversion_time(), self._period()
            if t >= first:
                done = int((t - first) // period) + 1
                new = range(max(self._normal_done, done - CATCH_UP), done)
                if new:
                    self._convert([first + k * period for k in new])
                self._normal_done = done

    def _measuring(self, t: float) -> bool:
        if self._forced_end is not None and t < self._forced_end:
            return True
        if self._normal_since is not None and t >= self._normal_since:
            return (t - self._normal_since) % self._period() < self.conversion_time()
        return False

    # -- conversion -------------------------------------------------------------------------
    def _convert(self, times: list[float]) -> None:
        """Run conversions completing at ``times`` (oldest first) and latch the last one."""
        coefficient = FILTER_COEFFICIENT[(self._config >> 2) & 0x07]
        osrs_t, osrs_p = self._ctrl_meas >> 5, (self._ctrl_meas >> 2) & 0x07
        noise = self.sensing.noise
        sigma_p = SIGMA_P_X16 * math.sqrt(16 / max(_oversampling(osrs_p), 1))
        temperature = pressure = humidity = 0.0
        for t in times:
            temperature = noise.add(self.temperature.value(t), SIGMA_T)
            pressure = noise.add(self.pressure.value(t), sigma_p)
            humidity = noise.add(self.humidity.value(t), SIGMA_H)
            if coefficient > 1:  # the IIR filter (3.4.4), applied to what the ADC converted
                if self._filtered is None:
                    self._filtered = (temperature, pressure)
                old_t, old_p = self._filtered
                self._filtered = (old_t + (temperature - old_t) / coefficient,
                                  old_p + (pressure - old_p) / coefficient)
                temperature, pressure = self._filtered
        t_end = times[-1]
        adc_t = raw_for_temperature(temperature, self.trimming, step=self._step(osrs_t, coefficient))
        # The pressure and humidity ADCs see the real die temperature, measured or not.
        t_fine = compensate_temperature(adc_t, self.trimming)[1]
        adc_p = raw_for_pressure(pressure, t_fine, self.trimming, step=self._step(osrs_p, coefficient))
        adc_h = raw_for_humidity(humidity, t_fine, self.trimming)
        self._adc = (adc_p if osrs_p else SKIPPED_20_BIT, adc_t if osrs_t else SKIPPED_20_BIT,
                     adc_h if self._osrs_h else SKIPPED_16_BIT)
        for signal, value, measured in (("temperature", temperature, osrs_t), ("pressure", pressure, osrs_p),
                                        ("humidity", humidity, self._osrs_h)):
            if measured:
                self.sensing.record(signal, t_end, value)

    @staticmethod
    def _step(osrs: int, coefficient: int) -> int:
        """Raw-count step of a 20-bit result: 16 bits at x1, one more per doubling; 20 when filtered."""
        if coefficient > 1 or osrs == 0:
            return 1
        return 1 << (5 - min(osrs, 5))

    # -- registers ---------------------------------------------------------------------------
    def read_register(self, register: int, t: float) -> int:
        """The chip's register file at lab time ``t``."""
        self._advance(t)
        if REG_CALIB_T_P <= register < REG_CALIB_T_P + len(self._calib_t_p):
            return self._calib_t_p[register - REG_CALIB_T_P]
        if REG_CALIB_H <= register < REG_CALIB_H + len(self._calib_h):
            return self._calib_h[register - REG_CALIB_H]
        if register == REG_ID:
            return CHIP_ID
        if register == REG_CTRL_HUM:
            return self._ctrl_hum
        if register == REG_STATUS:
            status = STATUS_MEASURING if self._measuring(t) else 0
            return status | (STATUS_IM_UPDATE if t < self._reset_at + STARTUP_S else 0)
        if register == REG_CTRL_MEAS:
            return self._ctrl_meas
        if register == REG_CONFIG:
            return self._config
        if REG_DATA <= register <= REG_DATA + 7:
            adc_p, adc_t, adc_h = self._adc
            data = bytes([adc_p >> 12, (adc_p >> 4) & 0xFF, (adc_p & 0x0F) << 4,
                          adc_t >> 12, (adc_t >> 4) & 0xFF, (adc_t & 0x0F) << 4, adc_h >> 8, adc_h & 0xFF])
            return data[register - REG_DATA]
        return 0x00

    def write_register(self, register: int, value: int, t: float) -> None:
        """Control registers take effect as the datasheet says; everything else is read-only."""
        self._advance(t)
        if register == REG_RESET:
            if value == RESET_WORD:
                self._power_on_reset(t)
        elif register == REG_CTRL_HUM:
            self._ctrl_hum = value & 0x07
        elif register == REG_CONFIG:
            if self._normal_since is None:  # "writes to the config register in normal mode may be ignored"
                self._config = value & 0xFD  # bit 1 is reserved
        elif register == REG_CTRL_MEAS:
            self._osrs_h = self._ctrl_hum
            self._ctrl_meas = value
            mode = value & 0x03
            self._normal_since, self._normal_done = (t, 0) if mode == MODE_NORMAL else (None, 0)
            if mode not in (MODE_SLEEP, MODE_NORMAL):
                self._forced_end = t + self.conversion_time()

    def write(self, data: bytes, t: float) -> int:
        """An I2C write: register address, data, then more (address, data) pairs (datasheet 6.2.1).

        The BME280 does not auto-increment on writes; a read after this starts at the last address.
        """
        if not data:
            return 0
        self.pointer = data[0]
        for index, byte in enumerate(data[1:]):
            if index % 2 == 0:
                self.write_register(self.pointer, byte, t)
            else:
                self.pointer = byte
        return len(data)

    def read(self, n: int, t: float) -> bytes:
        """A burst read from the pointer on; one instant, so a data burst is never torn (4.1)."""
        self._advance(t)
        return super().read(n, t)
