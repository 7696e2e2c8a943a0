"""Pump model: on while its pin is active, flow into a vessel, PWM duty and the stall fault."""

from __future__ import annotations

import pytest

from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.pump import Pump, Vessel
from labtwin.twin.parts.quantity import SharedQuantity

PIN = 16


def test_vessel_gains_flow_times_time_and_density():
    vessel = Vessel("beaker", 50.0)
    pump = Pump(PIN, vessel, flow_ml_s=2.0, density_g_ml=1.2)
    pump.on_level(PIN, 1, 1.0)
    assert vessel.value(1.5) == pytest.approx(50.0 + 2.0 * 0.5 * 1.2)  # part-way through the run
    pump.on_level(PIN, 0, 4.0)
    assert vessel.value(10.0) == pytest.approx(50.0 + 2.0 * 3.0 * 1.2)
    assert pump.dispensed_ml(10.0) == pytest.approx(6.0)


def test_relay_module_runs_on_a_low_level():
    vessel = Vessel("beaker")
    pump = Pump(PIN, vessel, flow_ml_s=1.0, active_level=0)
    pump.on_level(PIN, 1, 0.5)  # idle high
    pump.on_level(PIN, 0, 1.0)
    pump.on_level(PIN, 1, 3.0)
    assert vessel.value(5.0) == pytest.approx(2.0)


def test_pwm_duty_scales_the_flow_and_stalls_below_min_duty():
    vessel = Vessel("beaker")
    pump = Pump(PIN, vessel, flow_ml_s=4.0, min_duty=0.2)
    pump.on_duty(PIN, 0.5, 0.0)
    pump.on_duty(PIN, 0.1, 1.0)
    pump.on_duty(PIN, 0.0, 2.0)
    assert vessel.value(3.0) == pytest.approx(2.0)
    assert pump.flow(0.5) == 2.0 and pump.flow(1.5) == 0.0


def test_stall_fault_stops_the_flow_while_switched_on():
    trace = Trace()
    vessel = Vessel("beaker")
    pump = Pump(PIN, vessel, flow_ml_s=1.0, name="p1", trace=trace)
    pump.on_level(PIN, 1, 0.0)
    pump.stall(1.0)
    assert pump.stalled
    pump.clear_stall(3.0)
    pump.on_level(PIN, 0, 4.0)
    assert vessel.value(5.0) == pytest.approx(2.0)
    assert trace.samples("pump.p1.flow_ml_s") == [(0.0, 1.0), (1.0, 0.0), (3.0, 1.0), (4.0, 0.0)]


def test_a_plain_shared_quantity_receives_each_dose_when_the_flow_changes():
    vessel = SharedQuantity("beaker", 10.0)
    pump = Pump(PIN, vessel, flow_ml_s=1.0)
    pump.on_level(PIN, 1, 1.0)
    assert vessel.value(2.0) == 10.0  # a plain quantity only learns at the next change
    pump.on_level(PIN, 0, 3.0)
    assert vessel.value(3.0) == pytest.approx(12.0)


def test_two_pumps_fill_one_vessel():
    vessel = Vessel("mix")
    a = Pump(PIN, vessel, flow_ml_s=1.0)
    b = Pump(PIN + 1, vessel, flow_ml_s=0.5, density_g_ml=2.0)
    a.on_level(PIN, 1, 0.0)
    b.on_level(PIN + 1, 1, 0.0)
    assert vessel.value(2.0) == pytest.approx(2.0 + 2.0)
