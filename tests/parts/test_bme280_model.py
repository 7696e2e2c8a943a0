"""BME280 model: driven as MicroPython BME280 drivers drive it, checked with the datasheet's own maths.

The reference here is the datasheet's floating-point compensation (BST-BME280-DS002 section 8.1),
written out independently of the model, which inverts the integer version (4.2.3).
"""

from __future__ import annotations

import struct

import pytest
from i2c_chip_testkit import DriverI2C

from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.bme280 import Bme280, measurement_time
from labtwin.twin.parts.quantity import RandomWalk, TimeFunction

ADDRESS = 0x76


def read_trimming(i2c: DriverI2C) -> dict[str, int]:
    """The trimming words, read and unpacked as drivers do (datasheet Table 16)."""
    a = i2c.readfrom_mem(ADDRESS, 0x88, 26)
    e = i2c.readfrom_mem(ADDRESS, 0xE1, 7)
    names = ["T1", "T2", "T3", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9"]
    trim = dict(zip(names, struct.unpack("<HhhHhhhhhhhh", a[:24]), strict=True))
    trim["H1"] = a[25]
    trim["H2"], trim["H3"] = struct.unpack("<hB", e[:3])
    trim["H4"] = struct.unpack("b", e[3:4])[0] * 16 | (e[4] & 0x0F)
    trim["H5"] = struct.unpack("b", e[5:6])[0] * 16 | (e[4] >> 4)
    trim["H6"] = struct.unpack("b", e[6:7])[0]
    return trim


def compensate(adc_t: int, adc_p: int, adc_h: int, k: dict[str, int]) -> tuple[float, float, float]:
    """Datasheet section 8.1, double precision: (°C, Pa, %RH)."""
    var1 = (adc_t / 16384.0 - k["T1"] / 1024.0) * k["T2"]
    var2 = (adc_t / 131072.0 - k["T1"] / 8192.0) ** 2 * k["T3"]
    temperature = (var1 + var2) / 5120.0
    t_fine = int(var1 + var2)  # the datasheet casts t_fine to BME280_S32_t
    var1 = t_fine / 2.0 - 64000.0
    var2 = var1 * var1 * k["P6"] / 32768.0
    var2 = var2 + var1 * k["P5"] * 2.0
    var2 = var2 / 4.0 + k["P4"] * 65536.0
    var1 = (k["P3"] * var1 * var1 / 524288.0 + k["P2"] * var1) / 524288.0
    var1 = (1.0 + var1 / 32768.0) * k["P1"]
    p = 1048576.0 - adc_p
    p = (p - var2 / 4096.0) * 6250.0 / var1
    var1 = k["P9"] * p * p / 2147483648.0
    var2 = p * k["P8"] / 32768.0
    pressure = p + (var1 + var2 + k["P7"]) / 16.0
    h = t_fine - 76800.0
    h = (adc_h - (k["H4"] * 64.0 + k["H5"] / 16384.0 * h)) * (
        k["H2"] / 65536.0 * (1.0 + k["H6"] / 67108864.0 * h * (1.0 + k["H3"] / 67108864.0 * h)))
    humidity = min(max(h * (1.0 - k["H1"] * h / 524288.0), 0.0), 100.0)
    return temperature, pressure, humidity


def compensate_integer(adc_t: int, adc_p: int, adc_h: int, k: dict[str, int]) -> tuple[float, float, float]:
    """Datasheet section 4.2.3, 32-bit temperature and humidity, 64-bit pressure: (°C, Pa, %RH)."""
    var1 = (((adc_t >> 3) - (k["T1"] << 1)) * k["T2"]) >> 11
    var2 = (((((adc_t >> 4) - k["T1"]) * ((adc_t >> 4) - k["T1"])) >> 12) * k["T3"]) >> 14
    t_fine = var1 + var2
    temperature = ((t_fine * 5 + 128) >> 8) / 100.0
    var1 = t_fine - 128000
    var2 = var1 * var1 * k["P6"] + ((var1 * k["P5"]) << 17) + (k["P4"] << 35)
    var1 = ((var1 * var1 * k["P3"]) >> 8) + ((var1 * k["P2"]) << 12)
    var1 = (((1 << 47) + var1) * k["P1"]) >> 33
    p = 1048576 - adc_p
    p = (((p << 31) - var2) * 3125) // var1  # both operands positive here: C's division
    var1 = (k["P9"] * (p >> 13) * (p >> 13)) >> 25
    var2 = (k["P8"] * p) >> 19
    pressure = (((p + var1 + var2) >> 8) + (k["P7"] << 4)) / 256.0
    v = t_fine - 76800
    v = ((((adc_h << 14) - (k["H4"] << 20) - (k["H5"] * v)) + 16384) >> 15) * (
        ((((((v * k["H6"]) >> 10) * (((v * k["H3"]) >> 11) + 32768)) >> 10) + 2097152) * k["H2"] + 8192) >> 14)
    v = min(max(v - (((((v >> 15) * (v >> 15)) >> 7) * k["H1"]) >> 4), 0), 419430400)
    return temperature, pressure, (v >> 12) / 1024.0


def raw_data(i2c: DriverI2C) -> tuple[int, int, int]:
    """The 8-byte burst from 0xF7, split as the datasheet's Table 18 lays it out: (T, P, H)."""
    d = i2c.readfrom_mem(ADDRESS, 0xF7, 8)
    return (d[3] << 12) | (d[4] << 4) | (d[5] >> 4), (d[0] << 12) | (d[1] << 4) | (d[2] >> 4), (d[6] << 8) | d[7]


def forced_measurement(i2c: DriverI2C, osrs_t: int = 5, osrs_p: int = 5, osrs_h: int = 5) -> tuple[int, int, int]:
    """What bme280 drivers do: ctrl_hum, then ctrl_meas in forced mode, wait, poll ``measuring``, burst-read."""
    i2c.writeto_mem(ADDRESS, 0xF2, bytes([osrs_h]))
    i2c.writeto_mem(ADDRESS, 0xF4, bytes([(osrs_t << 5) | (osrs_p << 2) | 0b01]))
    i2c.sleep_ms(measurement_time(osrs_t, osrs_p, osrs_h) * 1000)
    while i2c.readfrom_mem(ADDRESS, 0xF3, 1)[0] & 0x08:
        i2c.sleep_ms(1)
    return raw_data(i2c)


def resolution(adc: tuple[int, int, int], step: tuple[int, int, int], k: dict[str, int]) -> tuple[float, ...]:
    """What one quantisation step of each raw value is worth, in °C, Pa and %RH."""
    here = compensate(*adc, k)
    t_step = compensate(adc[0] + step[0], adc[1], adc[2], k)[0] - here[0]
    p_step = compensate(adc[0], adc[1] + step[1], adc[2], k)[1] - here[1]
    h_step = compensate(adc[0], adc[1], adc[2] + step[2], k)[2] - here[2]
    return abs(t_step), abs(p_step), abs(h_step)


def test_chip_id_and_trimming_read_back():
    chip = Bme280(ADDRESS, noise=0)
    i2c = DriverI2C(chip)
    assert i2c.readfrom_mem(ADDRESS, 0xD0, 1) == b"\x60"
    trim = read_trimming(i2c)
    t = chip.trimming
    assert [trim[n] for n in ("T1", "T2", "T3", "P1", "P9", "H1", "H2", "H3", "H4", "H5", "H6")] == [
        t.dig_T1, t.dig_T2, t.dig_T3, t.dig_P1, t.dig_P9, t.dig_H1, t.dig_H2, t.dig_H3, t.dig_H4, t.dig_H5, t.dig_H6]


@pytest.mark.parametrize(("temperature", "pressure", "humidity"),
                         [(22.0, 101_325.0, 45.0), (-20.5, 70_000.0, 5.0), (60.25, 110_000.0, 95.5)])
@pytest.mark.parametrize("osrs", [1, 2, 5])
def test_forced_reading_compensates_back_within_resolution(temperature, pressure, humidity, osrs):
    chip = Bme280(ADDRESS, temperature=temperature, pressure=pressure, humidity=humidity, noise=0)
    i2c = DriverI2C(chip)
    trim = read_trimming(i2c)
    adc = forced_measurement(i2c, osrs, osrs, osrs)
    step = 1 << (5 - osrs)  # 16 + (osrs - 1) bits of 20, datasheet 3.4.3
    assert adc[0] % step == 0 and adc[1] % step == 0
    res = resolution(adc, (step, step, 1), trim)
    # The integer code (the one the model inverts) prints 0.01 °C and 1/256 Pa: within one step.
    got = compensate_integer(*adc, trim)
    assert got[0] == pytest.approx(temperature, abs=max(res[0], 0.01))
    assert got[1] == pytest.approx(pressure, abs=res[1])
    assert got[2] == pytest.approx(humidity, abs=res[2])
    # The float code differs from the integer one by itself: its t_fine keeps the low bits of the raw
    # temperature that the integer code shifts out, worth up to 0.4 Pa at 60 °C.
    got = compensate(*adc, trim)
    assert got[0] == pytest.approx(temperature, abs=max(res[0], 0.01))
    assert got[1] == pytest.approx(pressure, abs=res[1] + 0.5)
    assert got[2] == pytest.approx(humidity, abs=res[2] + 0.01)


def test_data_registers_change_only_when_the_conversion_completes():
    chip = Bme280(ADDRESS, temperature=25.0, noise=0)
    i2c = DriverI2C(chip)
    assert raw_data(i2c) == (0x80000, 0x80000, 0x8000)  # reset values until a conversion completes
    i2c.writeto_mem(ADDRESS, 0xF2, b"\x05")
    i2c.writeto_mem(ADDRESS, 0xF4, bytes([0b101_101_01]))
    duration = measurement_time(5, 5, 5)
    assert duration == pytest.approx(0.098)  # 1 + 2*16 + (2*16 + 0.5) + (2*16 + 0.5) ms, datasheet 9.1
    i2c.sleep_ms(duration * 1000 - 0.5)
    assert i2c.readfrom_mem(ADDRESS, 0xF3, 1)[0] & 0x08  # still measuring
    assert i2c.readfrom_mem(ADDRESS, 0xF4, 1)[0] & 0x03 == 0b01
    assert raw_data(i2c) == (0x80000, 0x80000, 0x8000)
    i2c.sleep_ms(0.501)
    assert i2c.readfrom_mem(ADDRESS, 0xF3, 1)[0] & 0x08 == 0
    assert i2c.readfrom_mem(ADDRESS, 0xF4, 1)[0] & 0x03 == 0b00  # back to sleep mode
    assert compensate(*raw_data(i2c), read_trimming(i2c))[0] == pytest.approx(25.0, abs=0.01)


def test_skipped_measurements_read_the_skip_values():
    i2c = DriverI2C(Bme280(ADDRESS, noise=0))
    adc_t, adc_p, adc_h = forced_measurement(i2c, osrs_t=1, osrs_p=0, osrs_h=0)
    assert (adc_p, adc_h) == (0x80000, 0x8000)
    assert adc_t != 0x80000


def test_ctrl_hum_takes_effect_only_with_the_next_ctrl_meas_write():
    i2c = DriverI2C(Bme280(ADDRESS, noise=0))
    i2c.writeto_mem(ADDRESS, 0xF4, bytes([0b001_001_01]))  # forced, humidity still skipped (ctrl_hum = 0)
    i2c.writeto_mem(ADDRESS, 0xF2, b"\x01")
    i2c.sleep_ms(20)
    assert raw_data(i2c)[2] == 0x8000
    assert i2c.readfrom_mem(ADDRESS, 0xF2, 1) == b"\x01"
    assert forced_measurement(i2c, 1, 1, 1)[2] != 0x8000


def test_one_write_carries_several_register_value_pairs():
    i2c = DriverI2C(Bme280(ADDRESS, noise=0))
    i2c.writeto(ADDRESS, bytes([0xF2, 0x03, 0xF5, 0xA0]))  # no auto-increment on writes: pairs (6.2.1)
    assert i2c.readfrom_mem(ADDRESS, 0xF2, 4) == bytes([0x03, 0x00, 0x00, 0xA0])


def test_soft_reset_restores_the_power_on_state():
    i2c = DriverI2C(Bme280(ADDRESS, noise=0))
    forced_measurement(i2c, 1, 1, 1)
    i2c.writeto_mem(ADDRESS, 0xF5, b"\x10")
    i2c.writeto_mem(ADDRESS, 0xE0, b"\xb6")
    assert i2c.readfrom_mem(ADDRESS, 0xF3, 1)[0] & 0x01  # im_update while the NVM is copied
    assert [i2c.readfrom_mem(ADDRESS, reg, 1)[0] for reg in (0xF2, 0xF4, 0xF5)] == [0, 0, 0]
    assert raw_data(i2c) == (0x80000, 0x80000, 0x8000)
    i2c.sleep_ms(2)
    assert i2c.readfrom_mem(ADDRESS, 0xF3, 1)[0] == 0
    assert i2c.readfrom_mem(ADDRESS, 0xD0, 1) == b"\x60"


def test_normal_mode_follows_a_temperature_that_changes_with_lab_time():
    chip = Bme280(ADDRESS, temperature=TimeFunction(lambda t: 20.0 + t), noise=0)  # +1 °C per second
    i2c = DriverI2C(chip, t=0.0)
    trim = read_trimming(i2c)
    i2c.writeto_mem(ADDRESS, 0xF5, bytes([0b101 << 5]))  # t_sb = 1000 ms, filter off
    i2c.writeto_mem(ADDRESS, 0xF2, b"\x01")
    i2c.writeto_mem(ADDRESS, 0xF4, bytes([0b101_001_11]))  # normal mode
    conversion = chip.conversion_time()
    i2c.sleep_ms(conversion * 1000)
    first = compensate(*raw_data(i2c), trim)[0]
    assert first == pytest.approx(20.0 + conversion, abs=0.01)
    i2c.sleep_ms(500)  # between two conversions: the registers hold the last result
    assert compensate(*raw_data(i2c), trim)[0] == first
    i2c.sleep_ms(500 + conversion * 1000)
    assert compensate(*raw_data(i2c), trim)[0] == pytest.approx(21.0 + 2 * conversion, abs=0.01)
    assert i2c.readfrom_mem(ADDRESS, 0xF4, 1)[0] & 0x03 == 0b11  # normal mode stays


def test_iir_filter_smooths_a_step():
    level = {"value": 20.0}
    chip = Bme280(ADDRESS, temperature=lambda t: level["value"], noise=0)
    i2c = DriverI2C(chip)
    trim = read_trimming(i2c)
    i2c.writeto_mem(ADDRESS, 0xF5, bytes([0b000_010_00]))  # filter coefficient 4, t_sb 0.5 ms
    i2c.writeto_mem(ADDRESS, 0xF4, bytes([0b001_001_11]))
    i2c.sleep_ms(50)
    assert compensate(*raw_data(i2c), trim)[0] == pytest.approx(20.0, abs=0.005)
    level["value"] = 24.0
    i2c.sleep_ms(chip.conversion_time() * 1000 + 0.5)  # one more conversion: a quarter of the way
    assert compensate(*raw_data(i2c), trim)[0] == pytest.approx(21.0, abs=0.01)
    i2c.sleep_ms(200)
    assert compensate(*raw_data(i2c), trim)[0] == pytest.approx(24.0, abs=0.005)


def test_noise_is_deterministic_by_seed_and_recorded_in_the_trace():
    def readings(seed: int, trace: Trace | None = None) -> list[tuple[int, int, int]]:
        chip = Bme280(ADDRESS, temperature=RandomWalk(21.0, sigma=0.05, seed=3), seed=seed, trace=trace)
        i2c = DriverI2C(chip)
        return [forced_measurement(i2c, 2, 2, 2) for _ in range(5)]

    trace = Trace()
    assert readings(7, trace) == readings(7) != readings(8)
    assert {"bme280.0x76.temperature", "bme280.0x76.pressure", "bme280.0x76.humidity"} <= set(trace.signals())
    assert len(trace.samples("bme280.0x76.temperature")) == 5
