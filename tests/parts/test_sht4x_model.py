"""SHT4x model: the byte sequences of micropython-sht4x (and Sensirion's own driver), checked with the datasheet."""

from __future__ import annotations

import errno
import struct

import pytest
from i2c_chip_testkit import DriverI2C, sensirion_crc

from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.quantity import TimeFunction
from labtwin.twin.parts.sensirion_crc import sensirion_crc8
from labtwin.twin.parts.sht4x import Sht4x

ADDRESS = 0x44
T_RESOLUTION, RH_RESOLUTION = 175.0 / 65535, 125.0 / 65535  # one tick, datasheet section 4.6


def decode(reply: bytes) -> tuple[float, float]:
    """As micropython-sht4x decodes: two big-endian words, each CRC-checked, then section 4.6's formulas."""
    t_ticks, t_crc, rh_ticks, rh_crc = struct.unpack(">HBHB", reply)
    assert t_crc == sensirion_crc(reply[0:2]) and rh_crc == sensirion_crc(reply[3:5])
    return -45.0 + 175.0 * t_ticks / 65535.0, -6.0 + 125.0 * rh_ticks / 65535.0


def measure(i2c: DriverI2C, command: int = 0xFD, wait_ms: float = 10.0) -> tuple[float, float]:
    """The command without STOP (as the driver sends it), a wait, then a six-byte read."""
    i2c.writeto(ADDRESS, bytes([command]), False)
    i2c.sleep_ms(wait_ms)
    reply = bytearray(6)
    i2c.readfrom_into(ADDRESS, reply)
    return decode(bytes(reply))


@pytest.mark.parametrize(("temperature", "humidity"), [(22.0, 45.0), (-30.0, 2.5), (95.5, 99.0)])
@pytest.mark.parametrize("command", [0xFD, 0xF6, 0xE0])
def test_measurement_converts_back_within_one_tick(temperature, humidity, command):
    i2c = DriverI2C(Sht4x(temperature=temperature, humidity=humidity, noise=0))
    t, rh = measure(i2c, command)
    assert t == pytest.approx(temperature, abs=T_RESOLUTION)
    assert rh == pytest.approx(humidity, abs=RH_RESOLUTION)


def test_reading_at_once_is_nacked_as_by_the_real_part():
    """micropython-sht4x 0.1.0 reads right after 0xFD with no wait: a real SHT40 NACKs that read header
    (jposada202020/MicroPython_SHT4X issue #1, OSError EIO on RP2040), and so does the model."""
    i2c = DriverI2C(Sht4x(noise=0))
    i2c.writeto(ADDRESS, b"\xfd", False)
    with pytest.raises(OSError) as raised:
        i2c.readfrom_into(ADDRESS, bytearray(6))
    assert raised.value.errno == errno.EIO


@pytest.mark.parametrize(("command", "duration_ms"), [(0xFD, 8.3), (0xF6, 4.5), (0xE0, 1.6)])
def test_busy_for_the_datasheet_maximum_duration(command, duration_ms):
    i2c = DriverI2C(Sht4x(noise=0))
    i2c.writeto(ADDRESS, bytes([command]))
    i2c.sleep_ms(duration_ms - 0.01)
    with pytest.raises(OSError):
        i2c.readfrom(ADDRESS, 6)
    with pytest.raises(OSError):  # while busy the chip does not take commands either
        i2c.writeto(ADDRESS, b"\xfd")
    i2c.sleep_ms(0.02)
    decode(i2c.readfrom(ADDRESS, 6))


def test_a_reply_is_read_once():
    i2c = DriverI2C(Sht4x(noise=0))
    measure(i2c)
    with pytest.raises(OSError):
        i2c.readfrom(ADDRESS, 6)


def test_heater_command_with_the_drivers_wait_reads_the_heated_sensor():
    # micropython-sht4x waits 0.2 s after the 0.1 s heater commands and 1.2 s after the 1 s ones.
    chip = Sht4x(temperature=25.0, humidity=60.0, noise=0, heater_rise=lambda mw, seconds: 0.1 * mw * seconds)
    i2c = DriverI2C(chip)
    t, rh = measure(i2c, 0x15, wait_ms=200)  # 20 mW for 0.1 s: +0.2 K
    assert t == pytest.approx(25.2, abs=T_RESOLUTION)
    assert rh < 60.0  # the same air is relatively drier at the warmer sensor
    i2c.writeto(ADDRESS, b"\x39", False)  # 200 mW for 1 s (+20 K): busy for up to 1.1 s
    i2c.sleep_ms(1099)
    with pytest.raises(OSError):
        i2c.readfrom(ADDRESS, 6)
    i2c.sleep_ms(101)
    t, rh = decode(i2c.readfrom(ADDRESS, 6))
    assert t == pytest.approx(45.0, abs=T_RESOLUTION)
    assert rh == pytest.approx(60.0 * 31.68 / 95.86, abs=0.5)  # saturation vapour pressures at 25 and 45 °C


def test_serial_number_words_carry_crcs():
    i2c = DriverI2C(Sht4x(serial_number=0x12345678))
    i2c.writeto(ADDRESS, b"\x89")
    i2c.sleep_ms(10)  # Sensirion's driver waits 10 ms
    reply = i2c.readfrom(ADDRESS, 6)
    assert reply[2] == sensirion_crc(reply[0:2]) and reply[5] == sensirion_crc(reply[3:5])
    assert (reply[0] << 24 | reply[1] << 16 | reply[3] << 8 | reply[4]) == 0x12345678


def test_soft_reset_takes_a_millisecond_and_drops_a_pending_reply():
    i2c = DriverI2C(Sht4x(noise=0))
    i2c.writeto(ADDRESS, b"\xfd")
    i2c.sleep_ms(10)
    i2c.writeto(ADDRESS, b"\x94", False)  # the driver's reset(), then time.sleep(0.1)
    with pytest.raises(OSError):
        i2c.readfrom(ADDRESS, 6)
    i2c.sleep_ms(100)
    with pytest.raises(OSError):  # nothing to read after a reset
        i2c.readfrom(ADDRESS, 6)
    measure(i2c)


def test_unknown_command_is_not_acknowledged():
    i2c = DriverI2C(Sht4x())
    assert i2c.writeto(ADDRESS, b"\x42") == 0


def test_humidity_that_changes_with_lab_time_is_seen_changing():
    chip = Sht4x(temperature=21.0, humidity=TimeFunction(lambda t: 40.0 + 2.0 * t), noise=0)
    i2c = DriverI2C(chip, t=0.0)
    _, first = measure(i2c)
    i2c.sleep_ms(5000)
    _, later = measure(i2c)
    assert first == pytest.approx(40.0 + 2 * 0.0083, abs=RH_RESOLUTION)  # sampled when the measurement ends
    assert later == pytest.approx(first + 2 * 5.01, abs=2 * RH_RESOLUTION)


def test_noise_is_deterministic_by_seed_and_within_the_repeatability():
    def readings(seed: int, trace: Trace | None = None) -> list[tuple[float, float]]:
        i2c = DriverI2C(Sht4x(temperature=22.0, humidity=50.0, seed=seed, trace=trace))
        return [measure(i2c) for _ in range(20)]

    trace = Trace()
    first = readings(1, trace)
    assert first == readings(1) != readings(2)
    assert all(abs(t - 22.0) <= 0.04 + T_RESOLUTION and abs(rh - 50.0) <= 0.08 + RH_RESOLUTION for t, rh in first)
    assert len(trace.samples("sht4x.0x44.temperature")) == 20


def test_crc_is_sensirions_example():
    assert sensirion_crc8(b"\xbe\xef") == sensirion_crc(b"\xbe\xef") == 0x92
