"""PCA9685 model: the register sequence micropython-pca9685 sends, and the chip's rules."""

from __future__ import annotations

import struct

import pytest
from testkit import ManualClock

from labtwin.twin.models.pwm import ServoModel
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.i2c import I2CBus
from labtwin.twin.parts.pca9685 import Pca9685

ADDRESS = 0x40


def readfrom_mem(bus: I2CBus, register: int, n: int, t: float) -> bytes:
    """What ``I2C.readfrom_mem`` does on the wire: pointer write, repeated START, read."""
    bus.write(ADDRESS, bytes([register]), t, stop=False)
    return bus.read(ADDRESS, n, t)


def writeto_mem(bus: I2CBus, register: int, data: bytes, t: float) -> None:
    bus.write(ADDRESS, bytes([register]) + data, t)


def driver_init_50hz(bus: I2CBus, t: float) -> float:
    """micropython-pca9685's sequence: reset() writes MODE1 = 0, then ``frequency = 50``:
    read MODE1, sleep, PRE_SCALE = round(25e6 / 4096 / 50) = 122, restore MODE1, 5 ms, MODE1 | 0xA0."""
    writeto_mem(bus, 0x00, b"\x00", t)
    old = readfrom_mem(bus, 0x00, 1, t)[0]
    writeto_mem(bus, 0x00, bytes([(old & 0x7F) | 0x10]), t)
    writeto_mem(bus, 0xFE, bytes([int(25_000_000 / 4096 / 50 + 0.5)]), t)
    writeto_mem(bus, 0x00, bytes([old]), t)
    t += 0.005
    writeto_mem(bus, 0x00, bytes([old | 0xA0]), t)
    return t


def set_channel(bus: I2CBus, channel: int, on: int, off: int, t: float) -> None:
    writeto_mem(bus, 0x06 + 4 * channel, struct.pack("<HH", on, off), t)


@pytest.fixture
def chip() -> Pca9685:
    return Pca9685(ADDRESS)


@pytest.fixture
def bus(chip: Pca9685) -> I2CBus:
    return I2CBus([chip])


def test_power_on_registers_are_the_datasheet_defaults(bus: I2CBus):
    assert readfrom_mem(bus, 0x00, 1, 0.0) == b"\x11"  # SLEEP | ALLCALL, AI off
    assert readfrom_mem(bus, 0x01, 1, 0.0) == b"\x04"  # OUTDRV
    assert readfrom_mem(bus, 0xFE, 1, 0.0) == b"\x1e"  # 200 Hz
    assert readfrom_mem(bus, 0x09, 1, 0.0) == b"\x10"  # LED0 full off


def test_driver_sequence_gives_the_prescaled_frequency(chip: Pca9685, bus: I2CBus):
    driver_init_50hz(bus, 0.0)
    assert chip.registers[0xFE] == 122
    assert chip.frequency_hz() == pytest.approx(25e6 / (4096 * 123))  # 49.62 Hz, not the 50 asked for
    assert chip.registers[0x00] == 0x20  # AI set; RESTART stays clear (nothing was running)


def test_prescale_is_blocked_while_awake_and_has_a_floor_of_3(chip: Pca9685, bus: I2CBus):
    writeto_mem(bus, 0x00, b"\x00", 0.0)  # wake
    writeto_mem(bus, 0xFE, b"\x10", 0.0)
    assert chip.registers[0xFE] == 0x1E
    writeto_mem(bus, 0x00, b"\x10", 0.0)  # sleep
    writeto_mem(bus, 0xFE, b"\x01", 0.0)
    assert chip.registers[0xFE] == 3


def test_without_auto_increment_a_channel_write_lands_in_one_register(chip: Pca9685, bus: I2CBus):
    writeto_mem(bus, 0x00, b"\x00", 0.0)  # awake, AI off: what reset() alone leaves
    set_channel(bus, 0, 0, 0x0123, 0.0)
    assert bytes(chip.registers[0x06:0x0A]) == b"\x01\x00\x00\x10"  # the last byte won, in ON_L


def test_pulse_width_on_a_channel_at_lab_time(chip: Pca9685, bus: I2CBus):
    t = driver_init_50hz(bus, 0.0)
    set_channel(bus, 3, 0, 307, t)
    period_us = 1e6 / chip.frequency_hz()
    assert chip.pulse_us(3, t) == pytest.approx(307 / 4096 * period_us)
    assert chip.pulse_us(2, t) == 0.0  # still full off
    assert readfrom_mem(bus, 0x06 + 12, 4, t) == struct.pack("<HH", 0, 307)


def test_oscillator_needs_500_us_after_wake(chip: Pca9685, bus: I2CBus):
    t = driver_init_50hz(bus, 0.0)
    set_channel(bus, 0, 0, 2048, t)
    writeto_mem(bus, 0x00, b"\x30", t + 0.1)  # sleep (AI kept)
    writeto_mem(bus, 0x00, b"\x20", t + 0.2)  # wake
    assert chip.pulse_us(0, t + 0.2 + 100e-6) == 0.0


def test_sleep_while_running_sets_restart_and_restart_resumes(chip: Pca9685, bus: I2CBus):
    t = driver_init_50hz(bus, 0.0)
    set_channel(bus, 0, 0, 2048, t)
    writeto_mem(bus, 0x00, b"\x30", t + 0.1)
    assert readfrom_mem(bus, 0x00, 1, t + 0.1)[0] & 0x80  # RESTART reads 1
    writeto_mem(bus, 0x00, b"\x20", t + 0.2)
    assert chip.pulse_us(0, t + 0.21) == 0.0  # awake but halted until RESTART
    writeto_mem(bus, 0x00, b"\xa0", t + 0.21)
    assert not readfrom_mem(bus, 0x00, 1, t + 0.21)[0] & 0x80
    assert chip.pulse_us(0, t + 0.22) == pytest.approx(0.5e6 / chip.frequency_hz())


def test_full_on_full_off_invert_and_all_led(chip: Pca9685, bus: I2CBus):
    t = driver_init_50hz(bus, 0.0)
    set_channel(bus, 1, 0x1000, 0, t)  # full on
    assert chip.duty(1, t) == 1.0
    set_channel(bus, 1, 0x1000, 0x1000, t)  # full off wins
    assert chip.duty(1, t) == 0.0
    set_channel(bus, 2, 1000, 1000 + 1024, t)
    writeto_mem(bus, 0x01, b"\x14", t)  # INVRT
    assert chip.duty(2, t) == pytest.approx(0.75)
    writeto_mem(bus, 0x01, b"\x04", t)
    writeto_mem(bus, 0xFA, struct.pack("<HH", 0, 1024), t)
    assert all(chip.duty(ch, t) == pytest.approx(0.25) for ch in range(16))
    assert readfrom_mem(bus, 0xFA, 4, t) == b"\x00\x00\x00\x00"  # write-only


def test_auto_increment_rolls_over_from_led15_to_mode1(chip: Pca9685, bus: I2CBus):
    t = driver_init_50hz(bus, 0.0)
    assert readfrom_mem(bus, 0x44, 3, t) == b"\x00\x10\x20"  # LED15_OFF_L, LED15_OFF_H, MODE1


def test_servo_on_channel_3_reaches_the_angle_of_its_pulse():
    clock = ManualClock()
    chip = Pca9685(ADDRESS)
    bus = I2CBus([chip])
    servo = chip.attach_servo(3, ServoModel(clock, name="ch3", initial_deg=90.0))
    t = driver_init_50hz(bus, 0.0)
    # micropython-pca9685's Servo(min 500 us, max 2500 us).angle = 0: duty from its 50 Hz idea of the period.
    duty_u16 = int(500 * (25e6 / 4096 / 122) / 1e6 * 0xFFFF)
    set_channel(bus, 3, 0, duty_u16 >> 4, t)
    pulse = chip.pulse_us(3, t)
    assert pulse == pytest.approx(500 * 123 / 122, rel=0.01)  # the driver's off-by-one prescale: ~0.8 % long
    assert chip.angle(3, t) == pytest.approx(90.0)  # a servo slews
    settled = servo.settle_time()
    assert chip.angle(3, settled) == pytest.approx(servo.pulse_to_angle(pulse * 1e-6))
    assert chip.angle(3, settled) < 1.0


def test_output_changes_on_stop_unless_och(chip: Pca9685, bus: I2CBus):
    t = driver_init_50hz(bus, 0.0)
    bus.write(ADDRESS, b"\x06" + struct.pack("<HH", 0, 2048), t, stop=False)
    assert chip.duty(0, t) == 0.0  # no STOP yet
    chip.stop(t)
    assert chip.duty(0, t) == pytest.approx(0.5)
    writeto_mem(bus, 0x01, b"\x0c", t)  # OCH: change on ACK
    bus.write(ADDRESS, b"\x0a" + struct.pack("<HH", 0, 1024), t, stop=False)
    assert chip.duty(1, t) == pytest.approx(0.25)


def test_reserved_register_pointer_is_not_acknowledged(bus: I2CBus):
    assert bus.write(ADDRESS, b"\x50\x01", 0.0) == 0


def test_pulse_changes_are_traced():
    trace = Trace()
    chip = Pca9685(ADDRESS, name="arm", trace=trace)
    bus = I2CBus([chip])
    t = driver_init_50hz(bus, 0.0)
    set_channel(bus, 5, 0, 410, t)
    assert trace.last("pca9685.arm.ch5.pulse_us") == (t, pytest.approx(chip.pulse_us(5, t)))
