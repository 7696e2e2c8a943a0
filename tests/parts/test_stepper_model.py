"""STEP/DIR stepper driver model: position from pulses, enable, microsteps, missed steps."""

from __future__ import annotations

import pytest

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.stepper import StepperDriver

STEP, DIR, EN = 2, 3, 4


def pulses(driver: StepperDriver, n: int, start: float, interval: float, width: float = 2e-6) -> float:
    t = start
    for _ in range(n):
        driver.on_level(STEP, 1, t)
        driver.on_level(STEP, 0, t + width)
        t += interval
    return t


def test_rising_edges_count_microsteps_in_the_dir_direction():
    driver = StepperDriver(STEP, DIR, microsteps=16)
    driver.on_level(DIR, 1, 0.0)
    t = pulses(driver, 320, 0.001, 0.001)
    assert driver.position_microsteps == 320 and driver.position_steps == 20.0
    assert driver.angle_deg == pytest.approx(36.0)
    driver.on_level(DIR, 0, t)
    pulses(driver, 32, t + 0.001, 0.001)
    assert driver.position_steps == 18.0


def test_enable_is_active_low():
    driver = StepperDriver(STEP, DIR, enable_pin=EN, microsteps=1)
    driver.on_level(EN, 1, 0.0)
    t = pulses(driver, 10, 0.01, 0.01)
    assert driver.position_microsteps == 0 and driver.missed_steps == 0
    driver.on_level(EN, 0, t)
    pulses(driver, 10, t + 0.01, 0.01)
    assert driver.position_microsteps == -10  # DIR low counts down


def test_pulses_faster_than_the_pull_out_rate_are_missed():
    driver = StepperDriver(STEP, DIR, microsteps=1, max_steps_s=500.0)
    driver.on_level(DIR, 1, 0.0)
    t = pulses(driver, 100, 0.0, 1 / 400)  # within the rate
    assert driver.position_steps == 100 and driver.missed_steps == 0
    t = pulses(driver, 100, t, 1 / 1000)  # twice too fast: after the first, the rotor loses sync
    assert driver.position_steps == 101 and driver.missed_steps == 99
    pulses(driver, 10, t + 0.01, 1 / 400)
    assert driver.position_steps == 111


def test_blocked_axis_misses_every_step():
    driver = StepperDriver(STEP, DIR, microsteps=1)
    driver.blocked = True
    pulses(driver, 5, 0.0, 0.01)
    assert (driver.position_microsteps, driver.missed_steps) == (0, 5)


def test_pwm_pulse_train_steps_like_edges():
    trace = Trace()
    driver = StepperDriver(STEP, DIR, microsteps=8, max_steps_s=None, name="z", trace=trace)
    driver.on_level(DIR, 1, 0.0)
    driver.pulses(1600.0, 1.0, 2.0)
    assert driver.position_steps == 200.0
    assert trace.last("stepper.z.position") == (pytest.approx(1.0 + 1599 / 1600), 200.0)


def test_microsteps_must_be_a_power_of_two():
    with pytest.raises(ConfigError):
        StepperDriver(STEP, DIR, microsteps=3)
