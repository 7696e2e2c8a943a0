"""The hybrid experiment as a property: random mixes on the OT-2 twin, a Pico W reading after each.

Mixes are drawn from valid and impossible volumes and wells; the OT-2 app must either do the
work or refuse it with one of its codes, leaving the deck untouched. Whatever happens, no well
holds more than its capacity, no reservoir goes negative, and tips are conserved.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from labtwin.scenarios.engine.state_machine import LabStateMachine, Outcome

__all__ = ["HybridProperty"]

PICO = "pico-w-lab-001"
OT2 = "ot2"
REFUSALS = {"out_of_tips", "well_overflow", "reservoir_empty", "unknown_well", "volume_out_of_range"}
VOLUMES_UL = [0, 10, 20, 60, 150, 300, 350]  # includes values outside the P300's 20-300 µL
WELLS = ["A1", "A2", "B7", "H12", "Z9"]  # Z9 is not on a 96-well plate


class HybridProperty(LabStateMachine):
    """The hybrid experiment as a property: random OT-2 mixes over HTTP, a Pico W reading over MQTT after each."""

    lab_options = {"devices": [PICO], "ot2": True}
    request_timeout = 30.0  # a mix is many robot commands

    def __init__(self) -> None:
        super().__init__()
        self.total_tips: int | None = None

    def _ot2(self, task: str, parameters: dict[str, Any]) -> Outcome:
        return self.call(OT2, task, parameters, client=self.lab.ot2_client())

    def _deck(self) -> dict[str, Any]:
        outcome = self._ot2("deck_state", {})
        assert outcome.kind == "ok", outcome
        deck: dict[str, Any] = outcome.value
        return deck

    @rule(red=st.sampled_from(VOLUMES_UL), yellow=st.sampled_from(VOLUMES_UL), blue=st.sampled_from(VOLUMES_UL),
          well=st.sampled_from(WELLS))
    def mix_then_read(self, red: int, yellow: int, blue: int, well: str) -> None:
        before = self._deck()
        outcome = self._ot2("mix_color", {"red_ul": red, "yellow_ul": yellow, "blue_ul": blue, "well": well})
        after = self._deck()
        liquids = [v for v in (red, yellow, blue) if v]
        if outcome.kind == "ok":
            assert all(20 <= v <= 300 for v in liquids), f"accepted out-of-range volumes {liquids}"
            assert after["tips_used"] - before["tips_used"] == len(liquids)
            previous = before["wells"].get(well, {"volume_ul": 0.0})["volume_ul"]
            assert abs(after["wells"][well]["volume_ul"] - previous - sum(liquids)) < 1e-6
        else:
            assert outcome.kind == "task_error" and (outcome.code in REFUSALS or outcome.code == "bad_parameters"), (
                outcome)
            assert after == before, f"refused mix ({outcome.code}) changed the deck"
        reading = self.call(self.device, "read_sensor", {"sensor_pin": 26})
        assert reading.kind == "ok" and 0 <= reading.value["voltage"] <= 3.3, reading

    @rule(plate=st.booleans(), tips=st.booleans())
    def operator_swaps_labware(self, plate: bool, tips: bool) -> None:
        outcome = self._ot2("reset_deck", {"plate": plate, "tips": tips})
        assert outcome.kind == "ok", outcome
        if plate:
            assert outcome.value["wells"] == {}
        if tips:
            assert outcome.value["tips_used"] == 0

    @invariant()
    def deck_is_physically_possible(self) -> None:
        deck = self._deck()
        capacity = deck["well_capacity_ul"]
        for name, state in deck["wells"].items():
            assert 0 <= state["volume_ul"] <= capacity + 1e-6, f"{name} holds {state['volume_ul']} of {capacity} µL"
        for liquid, volume in deck["reservoir_ul"].items():
            assert volume >= 0, f"reservoir {liquid} at {volume} µL"
        tips = deck["tips_used"] + deck["tips_left"]
        if self.total_tips is None:
            self.total_tips = tips
        assert tips == self.total_tips, f"tips used + left changed from {self.total_tips} to {tips}"
