"""AHT20 model: the byte sequences and waits of micropython-ahtx0's AHT20 class, checked with the datasheet."""

from __future__ import annotations

import pytest
from i2c_chip_testkit import DriverI2C, sensirion_crc

from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.aht20 import Aht20
from labtwin.twin.parts.quantity import TimeFunction

ADDRESS = 0x38
RH_RESOLUTION, T_RESOLUTION = 100.0 / 2**20, 200.0 / 2**20


def status(i2c: DriverI2C) -> int:
    """The driver reads the status as the first of six bytes."""
    buf = bytearray(6)
    i2c.readfrom_into(ADDRESS, buf)
    return buf[0]


def wait_for_idle(i2c: DriverI2C) -> int:
    """The driver polls every 5 ms until the busy bit clears; returns how many polls saw it busy."""
    polls = 0
    while status(i2c) & 0x80:
        polls += 1
        i2c.sleep_ms(5)
    return polls


def start(i2c: DriverI2C) -> None:
    """The driver's constructor: wake-up wait, soft reset, initialisation, calibrated check."""
    i2c.sleep_ms(20)
    i2c.writeto(ADDRESS, b"\xba")
    i2c.sleep_ms(20)
    i2c.writeto(ADDRESS, b"\xbe\x08\x00")
    wait_for_idle(i2c)
    assert status(i2c) & 0x08, "the driver raises 'Could not initialize'"


def measure(i2c: DriverI2C) -> tuple[float, float]:
    """Trigger, wait for idle, read six bytes, decode as the driver does: (%RH, °C)."""
    i2c.writeto(ADDRESS, b"\xac\x33\x00")
    wait_for_idle(i2c)
    buf = bytearray(6)
    i2c.readfrom_into(ADDRESS, buf)
    humidity = ((buf[1] << 12) | (buf[2] << 4) | (buf[3] >> 4)) * 100 / 0x100000
    temperature = (((buf[3] & 0xF) << 16) | (buf[4] << 8) | buf[5]) * 200.0 / 0x100000 - 50
    return humidity, temperature


@pytest.mark.parametrize(("temperature", "humidity"), [(22.0, 45.0), (-35.5, 3.0), (80.25, 97.0)])
def test_measurement_decodes_within_resolution(temperature, humidity):
    i2c = DriverI2C(Aht20(temperature=temperature, humidity=humidity, noise=0))
    start(i2c)
    rh, t = measure(i2c)
    assert rh == pytest.approx(humidity, abs=RH_RESOLUTION)
    assert t == pytest.approx(temperature, abs=T_RESOLUTION)


def test_busy_for_80_ms_after_the_trigger():
    i2c = DriverI2C(Aht20(noise=0))
    start(i2c)
    i2c.writeto(ADDRESS, b"\xac\x33\x00")
    assert status(i2c) & 0x80
    i2c.sleep_ms(79.9)
    assert status(i2c) & 0x80
    i2c.sleep_ms(0.2)  # datasheet 5.4 step 3: the measurement takes 80 ms
    assert status(i2c) == 0x08


def test_seventh_byte_is_the_crc_of_the_first_six():
    i2c = DriverI2C(Aht20(noise=0))
    start(i2c)
    measure(i2c)
    frame = i2c.readfrom(ADDRESS, 7)
    assert frame[6] == sensirion_crc(frame[:6])


def test_reads_while_busy_give_the_previous_result():
    level = {"rh": 30.0}
    i2c = DriverI2C(Aht20(humidity=lambda t: level["rh"], noise=0))
    start(i2c)
    measure(i2c)
    old = i2c.readfrom(ADDRESS, 6)[1:]
    level["rh"] = 70.0
    i2c.writeto(ADDRESS, b"\xac\x33\x00")
    i2c.sleep_ms(40)
    during = i2c.readfrom(ADDRESS, 6)
    assert during[0] & 0x80 and during[1:] == old
    i2c.sleep_ms(40)
    assert i2c.readfrom(ADDRESS, 6)[1] == round(0.7 * 2**20) >> 12


def test_an_uncalibrated_part_needs_the_initialisation_command():
    i2c = DriverI2C(Aht20(calibrated=False, noise=0))
    assert status(i2c) & 0x08 == 0
    start(i2c)  # 0xBE 0x08 0x00 loads the calibration
    assert status(i2c) == 0x08


def test_busy_after_power_on_and_soft_reset():
    i2c = DriverI2C(Aht20(powered_at=0.0), t=0.0)
    assert status(i2c) & 0x80  # 40 ms after power-on (datasheet 5.4 step 1)
    i2c.sleep_ms(40)
    assert status(i2c) == 0x08
    i2c.writeto(ADDRESS, b"\xba")
    assert status(i2c) & 0x80
    i2c.sleep_ms(20)
    assert status(i2c) == 0x08


def test_temperature_that_changes_with_lab_time_is_seen_changing():
    trace = Trace()
    chip = Aht20(temperature=TimeFunction(lambda t: 10.0 + t), noise=0, trace=trace)  # +1 °C per second
    i2c = DriverI2C(chip, t=1.0)
    start(i2c)
    _, first = measure(i2c)
    i2c.sleep_ms(3000)
    _, later = measure(i2c)
    (t1, _), (t2, _) = trace.samples("aht20.0x38.temperature")
    assert t2 - t1 > 3.0
    assert first == pytest.approx(10.0 + t1, abs=T_RESOLUTION)  # sampled when the measurement ends
    assert later == pytest.approx(10.0 + t2, abs=T_RESOLUTION)


def test_noise_is_deterministic_by_seed():
    def readings(seed: int, trace: Trace | None = None) -> list[tuple[float, float]]:
        i2c = DriverI2C(Aht20(seed=seed, trace=trace))
        start(i2c)
        return [measure(i2c) for _ in range(10)]

    trace = Trace()
    first = readings(4, trace)
    assert first == readings(4) != readings(5)
    assert all(abs(rh - 45.0) <= 0.1 + RH_RESOLUTION and abs(t - 22.0) <= 0.1 + T_RESOLUTION for rh, t in first)
    assert len(trace.samples("aht20.0x38.humidity")) == 10
