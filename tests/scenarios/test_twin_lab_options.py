"""TwinLabOptions: one checked object behind TwinLab's keywords and the scenario factory's merging."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from labtwin.errors import ConfigError
from labtwin.scenarios.labs.broker_url import BrokerAddress
from labtwin.scenarios.labs.lab import Capability
from labtwin.scenarios.labs.twin_lab import TwinLab, twin_lab_factory
from labtwin.scenarios.labs.twin_lab_options import TwinLabKeywords, TwinLabOptions, twin_lab_keywords
from labtwin.twin.board.profiles import ESP32, PICO_W

BAD_OPTIONS = [
    ({"devices": []}, "a twin lab needs at least one device"),
    ({"devices": ["a/b"]}, "device id 'a/b' must not contain '/': it is part of MQTT topics"),
    ({"devices": ["a", "a"]}, r"device ids must be unique, got \['a', 'a'\]"),
    ({"devices": ["orchestrator"]}, "'orchestrator' is the orchestrator's broker user; name the device otherwise"),
    ({"board": "arduino_uno"}, "unknown board 'arduino_uno'; known boards: esp32, pico_w"),
    ({"broker": "rabbitmq"}, "broker must be 'amqtt', 'mosquitto' or an external address, got 'rabbitmq'"),
    ({"broker_persistence": True}, "broker_persistence is a Mosquitto option .* the broker here is 'amqtt'"),
    ({"firmware_dir": Path("/nonexistent")}, r"no firmware at /nonexistent: not a directory"),
    ({"boot_concurrency": 0}, "boot_concurrency must be at least 1, got 0"),
    ({"ot2_robot_api_delay_speedup": 0.0}, "ot2_robot_api_delay_speedup must be > 0, got 0.0"),
    ({"heap_bytes": 1000}, "heap_bytes=1000 is too small for any MicroPython firmware"),
    ({"speed": "0.5"}, "speed 0.5 is out of range: a twin lab runs 1 to 1000 times real time, or `max`"),
    ({"speed": "fast"}, "speed 'fast' is neither a number \\(1 to 1000\\) nor `max`"),
    # Processes off the lab clock: a jump would leave their timers behind (docs/time.md).
    ({"speed": "max", "broker": "mosquitto"}, "--speed max jumps the clock when the whole lab waits, which it cannot "
     "see in processes off the lab clock: this lab has a Mosquitto broker \\(use the embedded amqtt broker\\) "
     "\\(docs/time.md\\)"),
    ({"speed": "max", "ot2": True, "ot2_robot_api": True}, "--speed max .* this lab has the OT-2 twin \\(use "
     "--speed N\\); the OT-2 robot API twin \\(use --speed N\\) \\(docs/time.md\\)"),
]


@pytest.mark.parametrize("kwargs, message", BAD_OPTIONS)
def test_a_bad_option_is_the_same_config_error_from_options_from_keywords_and_from_replace(kwargs, message):
    with pytest.raises(ConfigError, match=f"^{message}$"):
        TwinLabOptions(**kwargs)
    with pytest.raises(ConfigError, match=f"^{message}$"):
        TwinLab(**kwargs)
    with pytest.raises(ConfigError, match=f"^{message}$"):
        TwinLab(TwinLabOptions(), **kwargs)
    with pytest.raises(ConfigError, match=f"^{message}$"):
        TwinLabOptions().replace(**kwargs)


def test_keywords_override_the_options_they_are_given_with():
    base = TwinLabOptions(devices=["pico-a", "pico-b"], board="esp32", seed=3)
    lab = TwinLab(base, seed=9, network_twin=True)
    assert lab.options == dataclasses.replace(base, seed=9, network_twin=True)
    assert (lab.device_ids, lab.seed, lab.profile) == (["pico-a", "pico-b"], 9, ESP32)
    assert base.seed == 3 and not base.network_twin  # frozen: the caller's options are untouched


def test_devices_are_copied_so_a_callers_list_cannot_change_the_lab():
    devices = ["pico-a"]
    options = TwinLabOptions(devices=devices)
    devices.append("pico-b")
    assert options.devices == ("pico-a",)


def test_heap_bytes_shrinks_the_profile_and_nothing_else():
    profile = TwinLabOptions(heap_bytes=100_000).profile
    assert profile.heap_bytes == 100_000 and profile.name == PICO_W.name
    assert TwinLabOptions().profile is PICO_W


def test_the_keywords_type_lists_exactly_the_options():
    fields = {field.name: field.type for field in dataclasses.fields(TwinLabOptions)}
    assert set(TwinLabKeywords.__annotations__) == set(fields)
    # Same declared types, as text (the annotations are postponed).
    assert {name: getattr(hint, "__forward_arg__", hint) for name, hint in TwinLabKeywords.__annotations__.items()} == (
        fields)


def test_scenario_lab_options_are_checked_by_name():
    assert twin_lab_keywords({"devices": ["pico-a"], "ot2": True}) == {"devices": ["pico-a"], "ot2": True}
    with pytest.raises(TypeError, match="unknown TwinLab option.* 'network_twins'; the options are: .*network_twin"):
        twin_lab_keywords({"network_twins": True})


def test_the_factory_checks_its_options_up_front_and_the_scenarios_before_anything_starts():
    with pytest.raises(ConfigError, match="unknown board"):
        twin_lab_factory(board="arduino_uno")
    factory = twin_lab_factory(TwinLabOptions(broker=BrokerAddress("127.0.0.1", 9)), seed=4)
    assert factory.capabilities == {Capability.FAULTS, Capability.HARDWARE}
    assert twin_lab_factory(ot2_robot_api=True).capabilities == {
        Capability.FAULTS, Capability.HARDWARE, Capability.OT2_ROBOT_API}
    # A scenario's bad or unknown option fails in TwinLab's constructor: no process, no connection.
    with pytest.raises(TypeError, match="'bogus'"):
        asyncio.run(factory.open({"bogus": 1}))
    with pytest.raises(ConfigError, match="at least one device"):
        asyncio.run(factory.open({"devices": []}))
