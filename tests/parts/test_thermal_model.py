"""A thermal mass relaxes to its ambient; a cooler on a pin pulls it down while it runs."""

from __future__ import annotations

import math

import pytest

from labtwin.errors import ConfigError
from labtwin.twin.parts.thermal import Cooler, ThermalMass


def test_a_warm_mass_relaxes_towards_ambient_by_newtons_law():
    mass = ThermalMass(22.0, initial=30.0, time_constant_s=100.0)
    assert mass.value(0.0) == 30.0
    assert mass.value(100.0) == pytest.approx(22.0 + 8.0 * math.exp(-1))
    assert mass.value(1e6) == pytest.approx(22.0)


def test_a_running_cooler_pulls_the_temperature_down_and_it_recovers_when_stopped():
    mass = ThermalMass(27.0, time_constant_s=100.0)
    cooler = Cooler(17, mass, cooling_c_per_s=0.05)
    cooler.on_level(17, 1, 10.0)
    assert mass.value(10.0) == pytest.approx(27.0)
    # Asymptote while running: 27 - 0.05 * 100 = 22 °C.
    assert mass.value(110.0) == pytest.approx(22.0 + 5.0 * math.exp(-1))
    cold = mass.value(300.0)
    assert cold < 22.5
    cooler.on_level(17, 0, 300.0)
    assert mass.value(300.0) == pytest.approx(cold)
    assert mass.value(400.0) == pytest.approx(27.0 - (27.0 - cold) * math.exp(-1))
    # Readings of the past stay what they were.
    assert mass.value(110.0) == pytest.approx(22.0 + 5.0 * math.exp(-1))


def test_two_sources_add_and_time_may_not_go_back():
    mass = ThermalMass(25.0, time_constant_s=10.0)
    mass.set_drive("heater", 0.2, 1.0)
    mass.set_drive("cooler", -0.5, 2.0)
    assert mass.value(1e3) == pytest.approx(25.0 + (0.2 - 0.5) * 10.0)
    with pytest.raises(ConfigError, match="time went back"):
        mass.set_drive("heater", 0.0, 1.5)


def test_an_active_low_cooler_runs_on_a_low_pin():
    mass = ThermalMass(25.0)
    cooler = Cooler(5, mass, cooling_c_per_s=0.1, active_level=0)
    cooler.on_level(5, 0, 1.0)
    assert cooler.running
    with pytest.raises(ConfigError, match="does not watch pin 6"):
        cooler.on_level(6, 1, 2.0)
