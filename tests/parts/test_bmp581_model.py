"""BMP581 model: the register accesses of micropython-bmp581, checked with the datasheet's data format."""

from __future__ import annotations

import pytest
from i2c_chip_testkit import DriverI2C

from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.bmp581 import Bmp581
from labtwin.twin.parts.quantity import TimeFunction

ADDRESS = 0x47
T_RESOLUTION, P_RESOLUTION = 1 / 2**16, 1 / 2**6  # °C, Pa (datasheet 4.5)


def set_bits(i2c: DriverI2C, register: int, bits: int, shift: int, value: int) -> None:
    """The driver's read-modify-write of a register field (its CBits descriptor)."""
    old = i2c.readfrom_mem(ADDRESS, register, 1)[0]
    mask = ((1 << bits) - 1) << shift
    i2c.writeto_mem(ADDRESS, register, bytes([(old & ~mask) | (value << shift)]))


def data24(i2c: DriverI2C, register: int) -> int:
    """Three bytes, least significant first, as the driver assembles them."""
    raw = i2c.readfrom_mem(ADDRESS, register, 3)
    return raw[2] << 16 | raw[1] << 8 | raw[0]


def temperature(i2c: DriverI2C) -> float:
    raw = data24(i2c, 0x1D)
    return (raw - (1 << 24) if raw & 0x800000 else raw) / 2**16


def pressure(i2c: DriverI2C) -> float:
    return data24(i2c, 0x20) / 2**6  # Pa (the driver divides by 1000 more for kPa)


def start(i2c: DriverI2C) -> None:
    """The driver's constructor: chip id check, NORMAL mode, pressure enabled."""
    assert i2c.readfrom_mem(ADDRESS, 0x01, 1)[0] == 0x50
    set_bits(i2c, 0x37, 2, 0, 1)
    set_bits(i2c, 0x36, 1, 6, 1)


@pytest.mark.parametrize(("celsius", "pascal"), [(22.0, 101_325.0), (-38.7, 30_000.0), (84.9, 125_000.0)])
def test_driver_reads_the_model_within_resolution(celsius, pascal):
    chip = Bmp581(temperature=celsius, pressure=pascal, noise=0)
    i2c = DriverI2C(chip)
    start(i2c)
    i2c.sleep_ms(chip.conversion_time() * 1000 + 0.01)
    assert temperature(i2c) == pytest.approx(celsius, abs=T_RESOLUTION)
    assert pressure(i2c) == pytest.approx(pascal, abs=P_RESOLUTION)


def test_data_registers_read_0x7f_until_the_first_conversion():
    chip = Bmp581(noise=0)
    i2c = DriverI2C(chip)
    start(i2c)
    assert data24(i2c, 0x1D) == data24(i2c, 0x20) == 0x7F7F7F
    i2c.sleep_ms(chip.conversion_time() * 1000 + 0.01)
    assert data24(i2c, 0x1D) != 0x7F7F7F


def test_normal_mode_updates_once_per_odr_period():
    chip = Bmp581(pressure=TimeFunction(lambda t: 100_000.0 + 10.0 * t), noise=0)  # +10 Pa per second
    i2c = DriverI2C(chip, t=0.0)
    start(i2c)  # ODR stays at its reset value, 1 Hz
    i2c.sleep_ms(100)
    first = pressure(i2c)
    assert first == pytest.approx(100_000.0 + 10.0 * chip.conversion_time(), abs=P_RESOLUTION)
    i2c.sleep_ms(800)
    assert pressure(i2c) == first
    i2c.sleep_ms(200)
    assert pressure(i2c) == pytest.approx(first + 10.0, abs=P_RESOLUTION)


def test_forced_conversion_returns_to_standby_and_flags_data_ready():
    chip = Bmp581(noise=0)
    i2c = DriverI2C(chip)
    assert i2c.readfrom_mem(ADDRESS, 0x27, 1)[0] & 0x10  # POR complete, cleared on read
    assert i2c.readfrom_mem(ADDRESS, 0x27, 1)[0] == 0
    assert i2c.readfrom_mem(ADDRESS, 0x28, 1)[0] == 0x02  # NVM ready, no error
    i2c.writeto_mem(ADDRESS, 0x15, b"\x01")  # INT_SOURCE: data ready
    set_bits(i2c, 0x36, 1, 6, 1)
    set_bits(i2c, 0x37, 2, 0, 2)  # FORCED
    assert i2c.readfrom_mem(ADDRESS, 0x27, 1)[0] == 0
    i2c.sleep_ms(chip.conversion_time() * 1000 + 0.01)
    assert i2c.readfrom_mem(ADDRESS, 0x37, 1)[0] & 0x03 == 0  # back to STANDBY
    assert i2c.readfrom_mem(ADDRESS, 0x27, 1)[0] == 0x01
    assert i2c.readfrom_mem(ADDRESS, 0x27, 1)[0] == 0
    assert pressure(i2c) == pytest.approx(101_325.0, abs=P_RESOLUTION)


def test_soft_reset_is_not_acknowledged_and_restores_defaults():
    i2c = DriverI2C(Bmp581(noise=0))
    start(i2c)
    i2c.readfrom_mem(ADDRESS, 0x27, 1)
    assert i2c.writeto(ADDRESS, b"\x7e\xb6") == 1  # datasheet 7.36: no ACK for the reset command
    assert i2c.readfrom_mem(ADDRESS, 0x36, 2) == b"\x00\x70"
    assert i2c.readfrom_mem(ADDRESS, 0x27, 1)[0] & 0x10


def test_an_odr_too_fast_for_the_oversampling_is_flagged_invalid():
    i2c = DriverI2C(Bmp581(noise=0))
    i2c.writeto_mem(ADDRESS, 0x36, bytes([0x40 | (0x07 << 3) | 0x03]))  # press_en, osr_p x128, osr_t x8
    i2c.writeto_mem(ADDRESS, 0x37, bytes([0x80 | (0x00 << 2) | 0x01]))  # 240 Hz, NORMAL
    assert i2c.readfrom_mem(ADDRESS, 0x38, 1)[0] == 0x00  # odr_is_valid 0, x1/x1 (ODR >= 160 Hz, 4.3.4)
    i2c.writeto_mem(ADDRESS, 0x37, bytes([0x80 | (0x1C << 2) | 0x01]))  # 1 Hz
    assert i2c.readfrom_mem(ADDRESS, 0x38, 1)[0] == 0x80 | (0x07 << 3) | 0x03


def test_continuous_mode_converts_back_to_back():
    chip = Bmp581(temperature=TimeFunction(lambda t: 20.0 + 100.0 * t), noise=0)
    i2c = DriverI2C(chip, t=0.0)
    i2c.writeto_mem(ADDRESS, 0x37, b"\x73")  # CONTINUOUS, osr x1: 498 Hz (Table 9)
    assert chip.conversion_time() == pytest.approx(1 / 498)
    i2c.sleep_ms(1000 / 498 * 10.5)  # ten conversions done, the eleventh under way
    assert temperature(i2c) == pytest.approx(20.0 + 100.0 * 10 / 498, abs=T_RESOLUTION)


def test_noise_is_deterministic_by_seed():
    def readings(seed: int, trace: Trace | None = None) -> list[tuple[float, float]]:
        chip = Bmp581(seed=seed, trace=trace)
        i2c = DriverI2C(chip)
        start(i2c)
        out = []
        for _ in range(5):
            i2c.sleep_ms(1000)
            out.append((temperature(i2c), pressure(i2c)))
        return out

    trace = Trace()
    first = readings(1, trace)
    assert first == readings(1) != readings(2)
    assert all(abs(p - 101_325.0) <= 3 * 0.78 + P_RESOLUTION for _, p in first)  # Table 9 noise at x1
    assert len(trace.samples("bmp581.0x47.pressure")) == 5
