"""The declared Lab interface: both labs implement it, and twin-only accessors sit behind a capability."""

from __future__ import annotations

import pytest

from labtwin.errors import ConfigError
from labtwin.scenarios.engine.state_machine import needs
from labtwin.scenarios.labs.bench_lab import BENCH_CAPABILITIES, BenchLab
from labtwin.scenarios.labs.lab import Capability, Lab, TwinHardware, twin_hardware
from labtwin.scenarios.labs.lab_file import parse_lab_config
from labtwin.scenarios.labs.twin_lab import OT2_ROBOT_API_CAPABILITY, TWIN_CAPABILITIES, TwinLab

BENCH_FILE = """
[broker]
url = "mqtt://192.168.1.10:1883"

[[boards]]
id = "pico-w-lab-001"
"""


def bench() -> BenchLab:
    """A bench lab that is never entered: nothing is connected."""
    return BenchLab(parse_lab_config(BENCH_FILE, source="bench.toml", environ={}))


def statically_both_labs_implement_the_interface(twin: TwinLab, bench_lab: BenchLab) -> list[Lab]:
    """Never called: mypy checks these assignments (a missing or mistyped member is a type error)."""
    hardware: TwinHardware = twin
    labs: list[Lab] = [hardware, bench_lab]
    return labs


def test_both_labs_implement_lab_and_only_the_twin_implements_twin_hardware():
    twin = TwinLab()  # built, not entered: no process starts
    assert isinstance(twin, Lab) and isinstance(twin, TwinHardware)
    assert isinstance(bench(), Lab) and not isinstance(bench(), TwinHardware)


def test_capabilities_are_typed_and_keep_their_string_values():
    assert [c.value for c in Capability] == ["faults", "hardware", "ot2_robot_api"]
    assert TwinLab().capabilities == TWIN_CAPABILITIES == {Capability.FAULTS, Capability.HARDWARE}
    assert TwinLab(ot2_robot_api=True).capabilities == TWIN_CAPABILITIES | {OT2_ROBOT_API_CAPABILITY}
    assert bench().capabilities == BENCH_CAPABILITIES == frozenset()
    # Old-style string checks still work: a Capability is its string.
    assert "hardware" in TwinLab().capabilities and "faults" not in bench().capabilities


def test_twin_hardware_gives_a_twin_lab_its_accessors():
    twin = TwinLab()
    assert twin_hardware(twin) is twin
    assert twin_hardware(twin, Capability.FAULTS) is twin


def test_a_capability_gated_accessor_is_refused_on_a_bench_with_a_clear_error():
    with pytest.raises(ConfigError) as info:
        twin_hardware(bench())
    assert str(info.value) == ("bench lab bench.toml has no 'hardware' capability (it offers: none); "
                               "this needs a twin lab")
    with pytest.raises(ConfigError, match="bench lab bench.toml has no 'faults' capability"):
        twin_hardware(bench(), Capability.FAULTS)


def test_the_robot_api_twin_is_refused_on_a_twin_lab_built_without_it():
    with pytest.raises(ConfigError) as info:
        twin_hardware(TwinLab(), Capability.OT2_ROBOT_API)
    assert str(info.value) == ("twin lab has no 'ot2_robot_api' capability (it offers: faults, hardware); "
                               "this needs a twin lab built with TwinLab(ot2_robot_api=True)")
    lab = TwinLab(ot2_robot_api=True)
    assert twin_hardware(lab, Capability.OT2_ROBOT_API) is lab


def test_a_lab_claiming_a_capability_without_twin_accessors_is_refused():
    class ClaimsHardware(BenchLab):
        @property
        def capabilities(self) -> frozenset[Capability]:
            return frozenset({Capability.HARDWARE})

    lab = ClaimsHardware(parse_lab_config(BENCH_FILE, source="bench.toml", environ={}))
    with pytest.raises(ConfigError, match="claims the 'hardware' capability but has no twin accessors"):
        twin_hardware(lab)


def test_needs_takes_a_capability_or_its_value_and_refuses_unknown_names():
    needs(Capability.FAULTS)
    needs("hardware")
    with pytest.raises(ConfigError, match=r"needs\('fualts'\): no such capability; the capabilities are "
                                          r"faults, hardware, ot2_robot_api"):
        needs("fualts")
