"""Physical models: ADC noise and quantisation, GPIO, PWM arithmetic, servo slew, traces."""

from __future__ import annotations

import time

import numpy as np
import pytest
from testkit import ManualClock

from labtwin.twin.clock import Clock, WallClock
from labtwin.twin.models.adc import AdcModel, scale_12_to_16, temperature_to_volts, u16_to_volts
from labtwin.twin.models.gpio import MODE_OPEN_DRAIN, MODE_OUT, PULL_UP, GpioModel
from labtwin.twin.models.mp import MicroPythonError
from labtwin.twin.models.pwm import PwmModel, ServoModel
from labtwin.twin.models.trace import Trace


def test_clocks_follow_the_protocol() -> None:
    before = time.monotonic()
    wall = WallClock()
    assert isinstance(wall, Clock) and isinstance(ManualClock(), Clock)
    a, b = wall.now(), wall.now()
    assert 0.0 <= a <= b <= time.monotonic() - before  # seconds since the clock was made


# ----------------------------------------------------------------------------- ADC
def test_scale_12_to_16_matches_rp2() -> None:
    assert scale_12_to_16(0) == 0
    assert scale_12_to_16(4095) == 65535
    assert scale_12_to_16(2048) == 32776  # 2048 << 4 | 2048 >> 8
    assert scale_12_to_16(1) == 16


def test_noise_free_reading_is_quantised_like_a_12_bit_adc(clock: ManualClock) -> None:
    adc = AdcModel(clock, seed=1, default_sigma=0.0)
    for volts in (0.0, 0.5, 1.65, 3.0, 3.2999):
        adc.set_voltage(0, volts)
        raw = int(np.floor(volts / 3.3 * 4096))
        assert adc.read_u16(0) == scale_12_to_16(raw)
    adc.set_voltage(0, 5.0)
    assert adc.read_u16(0) == 65535  # clipped at the rail
    adc.set_voltage(0, -1.0)
    assert adc.read_u16(0) == 0


def test_noise_is_seeded_reproducible_and_bounded(clock: ManualClock) -> None:
    def readings(seed: int) -> list[int]:
        adc = AdcModel(clock, seed=seed, default_sigma=0.02)
        adc.set_voltage(1, 1.0)
        return [adc.read_u16(1) for _ in range(500)]

    first, again, other = readings(5), readings(5), readings(6)
    assert first == again
    assert first != other
    adc = AdcModel(clock, seed=5, default_sigma=0.02)
    bound = adc.noise_bound(1)
    assert bound == pytest.approx(4 * 0.02 + 3.3 / 4096)
    volts = np.array([u16_to_volts(u) for u in first])
    assert np.all(np.abs(volts - 1.0) <= bound)
    assert 0.01 < volts.std() < 0.03  # it is actually noisy


def test_channels_have_independent_noise_streams(clock: ManualClock) -> None:
    a = AdcModel(clock, seed=3)
    b = AdcModel(clock, seed=3)
    seq_a = [a.read_u16(0) for _ in range(20)]
    seq_b = []
    for _ in range(20):
        b.read_u16(2)  # reading another channel must not shift channel 0
        seq_b.append(b.read_u16(0))
    assert seq_a == seq_b


def test_temperature_channel_uses_the_datasheet_formula(clock: ManualClock) -> None:
    adc = AdcModel(clock, seed=1, default_sigma=0.0)
    assert temperature_to_volts(27.0) == pytest.approx(0.706)
    adc.set_temperature(40.0)
    assert adc.signal(4) == pytest.approx(0.706 - 13 * 0.001721)
    volts = u16_to_volts(adc.read_u16(4))
    assert 27 - (volts - 0.706) / 0.001721 == pytest.approx(40.0, abs=0.5)
    with pytest.raises(ValueError):
        adc.set_voltage(4, 1.0)


def test_time_varying_signal_and_trace(clock: ManualClock) -> None:
    trace = Trace()
    adc = AdcModel(clock, seed=1, default_sigma=0.0, trace=trace)
    adc.set_voltage(0, lambda t: 0.1 * t)
    clock.advance(10.0)
    assert adc.signal(0) == pytest.approx(1.0)
    adc.read_u16(0)
    t, v = trace.arrays("adc.0")
    assert t.tolist() == [10.0] and v[0] == pytest.approx(1.0, abs=3.3 / 4096)


def test_signal_setting_returns_what_was_set(clock: ManualClock) -> None:
    adc = AdcModel(clock, seed=1)
    ramp = lambda t: 0.1 * t  # noqa: E731
    adc.set_voltage(0, ramp)
    adc.set_voltage(1, 2.5)
    assert adc.signal_setting(0) is ramp and adc.signal_setting(1) == 2.5
    assert adc.signal_setting(4) == 27.0  # the temperature channel holds °C
    with pytest.raises(ValueError):
        adc.signal_setting(9)


# ----------------------------------------------------------------------------- GPIO
def test_gpio_levels_pulls_and_open_drain(clock: ManualClock) -> None:
    gpio = GpioModel(clock, cpu_pins=30, ext_pins=("EXT_GPIO0",))
    assert gpio.read(5) == 0 and gpio.state(5).mode == "ALT"  # reset: no function, pull-down
    gpio.configure(5, 0, PULL_UP, None)
    assert gpio.read(5) == 1
    gpio.set_external(5, 0)
    assert gpio.read(5) == 0
    gpio.configure(6, MODE_OPEN_DRAIN, None, 0)
    assert gpio.level(6) == 0
    gpio.write(6, 1)
    assert gpio.level(6) == 1  # released
    gpio.toggle(6)
    assert gpio.level(6) == 0
    gpio.configure(7, MODE_OUT, None, None)
    gpio.toggle(7)
    assert gpio.level(7) == 1
    with pytest.raises(MicroPythonError, match="invalid pin af: 8"):
        gpio.configure(7, 3, None, None, alt=8)  # no clock function on GPIO7


# ----------------------------------------------------------------------------- PWM
def test_pwm_register_arithmetic(clock: ManualClock) -> None:
    pwm = PwmModel(clock)
    pwm.attach(15)
    assert pwm.get_freq(15) == 0 and pwm.get_duty_u16(15) == 0
    pwm.set_freq(15, 50)
    sl = pwm.slices[7]
    assert (sl.div16, sl.top) == (611, 65465)
    assert pwm.get_freq(15) == 50
    pwm.set_duty_u16(15, 32768)
    assert abs(pwm.get_duty_u16(15) - 32768) <= 1
    out = pwm.output(15)
    assert out.enabled and out.freq_hz == pytest.approx(50.0, rel=1e-4)
    assert out.pulse_s == pytest.approx(0.010, rel=1e-3)
    pwm.set_freq(15, 8)
    with pytest.raises(MicroPythonError, match="freq too small"):
        pwm.set_freq(15, 7)
    pwm.set_freq(15, 1000)
    pwm.set_duty_u16(15, 70000)  # clamped to 65535: fully on
    assert pwm.output(15).duty == 1.0
    pwm.set_duty_ns(15, 250_000)
    assert pwm.get_duty_ns(15) == 250_000
    pwm.deinit(14)  # same slice
    assert not pwm.output(15).enabled


# ----------------------------------------------------------------------------- servo
def test_servo_pulse_to_angle_is_clamped(clock: ManualClock) -> None:
    servo = ServoModel(clock)
    assert servo.pulse_to_angle(0.5e-3) == 0.0
    assert servo.pulse_to_angle(1.5e-3) == pytest.approx(90.0)
    assert servo.pulse_to_angle(2.5e-3) == pytest.approx(180.0)
    assert servo.pulse_to_angle(3.0e-3) == 180.0
    assert servo.pulse_to_angle(0.1e-3) == 0.0


def test_servo_follows_with_finite_slew_and_settles(clock: ManualClock) -> None:
    trace = Trace()
    servo = ServoModel(clock, initial_deg=90.0, seconds_per_60deg=0.1, trace=trace)
    servo.command_pulse(0.5e-3)  # to 0° at 600°/s: 0.15 s
    assert servo.angle_at() == 90.0
    clock.advance(0.05)
    assert servo.angle_at() == pytest.approx(60.0)
    assert not servo.is_settled()
    clock.advance(0.05)
    servo.command_angle(180.0)  # retarget mid-move, from 30°
    clock.advance(0.1)
    assert servo.angle_at() == pytest.approx(90.0)
    assert servo.settle_time() == pytest.approx(0.1 + 150 / 600)
    clock.advance(1.0)
    assert servo.angle_at() == 180.0 and servo.is_settled()
    assert servo.angle_at(0.05) == pytest.approx(60.0)  # history
    assert trace.to_numpy("servo.servo.target")[:, 1].tolist() == [0.0, 180.0]


# ----------------------------------------------------------------------------- trace
def test_trace_is_bounded_and_exports_numpy() -> None:
    trace = Trace(maxlen=3)
    for i in range(5):
        trace.record("x", float(i), float(i * 10))
    assert trace.samples("x") == [(2.0, 20.0), (3.0, 30.0), (4.0, 40.0)]
    t, v = trace.arrays("x")
    assert t.dtype == np.float64 and t.tolist() == [2.0, 3.0, 4.0] and v.tolist() == [20.0, 30.0, 40.0]
    assert trace.to_numpy("x").shape == (3, 2)
    assert trace.to_numpy("nothing").shape == (0, 2)
    assert trace.last("x") == (4.0, 40.0) and trace.last("nothing") is None
    assert trace.signals() == ["x"] and "x" in trace
    trace.clear("x")
    assert "x" not in trace
    with pytest.raises(ValueError):
        Trace(maxlen=0)
