"""BME280 trimming parameters, the datasheet's integer compensation, and its inverse.

A real BME280 reports raw ADC counts; the host turns them into °C, Pa and %RH with the trimming
parameters read from the chip and the compensation code of the datasheet (BST-BME280-DS002,
section 4.2.3 "Compensation formulas", 32-bit temperature/humidity and 64-bit pressure versions).
The model goes the other way: for the temperature, pressure and humidity a lab sets, it finds the
raw counts that this very code maps back onto them, so any driver that follows the datasheet reads
the lab's values to within the chip's resolution.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Bme280Trimming", "compensate_humidity", "compensate_pressure", "compensate_temperature",
           "raw_for_humidity", "raw_for_pressure", "raw_for_temperature"]

ADC_20_BIT = 1 << 20
ADC_16_BIT = 1 << 16


@dataclass(frozen=True)
class Bme280Trimming:
    """The factory trimming words (datasheet section 4.2.2, Table 16).

    The defaults are the worked example of the BMP280 datasheet (temperature and pressure share
    the design) plus humidity words typical of production BME280 parts.
    """

    dig_T1: int = 27504
    dig_T2: int = 26435
    dig_T3: int = -1000
    dig_P1: int = 36477
    dig_P2: int = -10685
    dig_P3: int = 3024
    dig_P4: int = 2855
    dig_P5: int = 140
    dig_P6: int = -7
    dig_P7: int = 15500
    dig_P8: int = -14600
    dig_P9: int = 6000
    dig_H1: int = 75
    dig_H2: int = 362
    dig_H3: int = 0
    dig_H4: int = 313
    dig_H5: int = 50
    dig_H6: int = 30

    def calib_0x88(self) -> bytes:
        """Registers 0x88..0xA1: T1..P9 little-endian, a reserved byte, then H1."""
        words = struct.pack("<HhhHhhhhhhhh", self.dig_T1, self.dig_T2, self.dig_T3, self.dig_P1, self.dig_P2,
                            self.dig_P3, self.dig_P4, self.dig_P5, self.dig_P6, self.dig_P7, self.dig_P8,
                            self.dig_P9)
        return words + bytes([0x00, self.dig_H1 & 0xFF])

    def calib_0xe1(self) -> bytes:
        """Registers 0xE1..0xE7: H2, H3, then H4 and H5 as two 12-bit values sharing 0xE5, then H6."""
        h4, h5 = self.dig_H4 & 0xFFF, self.dig_H5 & 0xFFF
        return struct.pack("<hB", self.dig_H2, self.dig_H3) + bytes(
            [h4 >> 4, ((h5 & 0x0F) << 4) | (h4 & 0x0F), h5 >> 4, self.dig_H6 & 0xFF])


def _div(a: int, b: int) -> int:
    """C's integer division (truncates towards zero), which the datasheet code relies on."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def compensate_temperature(adc_t: int, trim: Bme280Trimming) -> tuple[int, int]:
    """``(temperature in 0.01 °C, t_fine)`` for a raw temperature (datasheet 4.2.3)."""
    var1 = (((adc_t >> 3) - (trim.dig_T1 << 1)) * trim.dig_T2) >> 11
    var2 = (((((adc_t >> 4) - trim.dig_T1) * ((adc_t >> 4) - trim.dig_T1)) >> 12) * trim.dig_T3) >> 14
    t_fine = var1 + var2
    return (t_fine * 5 + 128) >> 8, t_fine


def compensate_pressure(adc_p: int, t_fine: int, trim: Bme280Trimming) -> int:
    """Pressure in Pa as Q24.8 (Pa * 256) for a raw pressure, 64-bit version (datasheet 4.2.3)."""
    var1 = t_fine - 128000
    var2 = var1 * var1 * trim.dig_P6
    var2 = var2 + ((var1 * trim.dig_P5) << 17)
    var2 = var2 + (trim.dig_P4 << 35)
    var1 = ((var1 * var1 * trim.dig_P3) >> 8) + ((var1 * trim.dig_P2) << 12)
    var1 = (((1 << 47) + var1) * trim.dig_P1) >> 33
    if var1 == 0:
        return 0  # the datasheet's guard against dividing by zero
    p = 1048576 - adc_p
    p = _div(((p << 31) - var2) * 3125, var1)
    var1 = (trim.dig_P9 * (p >> 13) * (p >> 13)) >> 25
    var2 = (trim.dig_P8 * p) >> 19
    return ((p + var1 + var2) >> 8) + (trim.dig_P7 << 4)


def compensate_humidity(adc_h: int, t_fine: int, trim: Bme280Trimming) -> int:
    """Relative humidity in %RH as Q22.10 (%RH * 1024) for a raw humidity (datasheet 4.2.3)."""
    v = t_fine - 76800
    v = ((((adc_h << 14) - (trim.dig_H4 << 20) - (trim.dig_H5 * v)) + 16384) >> 15) * (
        ((((((v * trim.dig_H6) >> 10) * (((v * trim.dig_H3) >> 11) + 32768)) >> 10) + 2097152)
         * trim.dig_H2 + 8192) >> 14)
    v = v - (((((v >> 15) * (v >> 15)) >> 7) * trim.dig_H1) >> 4)
    v = min(max(v, 0), 419430400)
    return v >> 12


def _nearest_raw(f: Callable[[int], int], target: float, *, span: int, step: int, increasing: bool) -> int:
    """The raw value on the ``step`` grid in ``0..span`` whose compensated value is nearest ``target``.

    The compensation is monotonic over the ADC range, so a bisection finds the crossing.
    """
    sign = 1 if increasing else -1
    lo, hi = 0, span // step - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if sign * f(mid * step) < sign * target:
            lo = mid + 1
        else:
            hi = mid
    if lo > 0 and abs(f((lo - 1) * step) - target) <= abs(f(lo * step) - target):
        lo -= 1
    return lo * step


def raw_for_temperature(celsius: float, trim: Bme280Trimming, *, step: int = 1) -> int:
    """The 20-bit raw temperature (a multiple of ``step``) that compensates to ``celsius``.

    Matched on ``t_fine`` (1/5120 °C), finer than the 0.01 °C the integer formula prints.
    """
    return _nearest_raw(lambda adc: compensate_temperature(adc, trim)[1], celsius * 5120.0,
                        span=ADC_20_BIT, step=step, increasing=True)


def raw_for_pressure(pascal: float, t_fine: int, trim: Bme280Trimming, *, step: int = 1) -> int:
    """The 20-bit raw pressure (a multiple of ``step``) that compensates to ``pascal`` at ``t_fine``."""
    return _nearest_raw(lambda adc: compensate_pressure(adc, t_fine, trim), pascal * 256.0,
                        span=ADC_20_BIT, step=step, increasing=False)


def raw_for_humidity(percent: float, t_fine: int, trim: Bme280Trimming) -> int:
    """The 16-bit raw humidity that compensates to ``percent`` %RH at ``t_fine``."""
    return _nearest_raw(lambda adc: compensate_humidity(adc, t_fine, trim), percent * 1024.0,
                        span=ADC_16_BIT, step=1, increasing=True)
