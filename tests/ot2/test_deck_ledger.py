"""The OT-2 app's tip and liquid ledger, without opentrons: checks first, commits after each robot step."""

from __future__ import annotations

import math

import pytest

from labtwin.errors import TaskRefused
from labtwin.ot2_app.deck_ledger import DeckLedger, Transfer

WELLS = [f"{row}{column}" for column in range(1, 13) for row in "ABCDEFGH"]


def make_ledger(tips: int = 96) -> DeckLedger:
    ledger = DeckLedger(plate_wells=WELLS, well_capacity_ul=360.0, tip_count=tips, reservoir_capacity_ul=15_000.0,
                        pipette_range_ul=(20.0, 300.0))
    ledger.reset(reservoir_ul={"red": 1000, "yellow": 1000, "blue": 1000, "water": 1000})
    return ledger


def refusal_code(ledger: DeckLedger, volumes: dict[str, float], well: str = "A1") -> str:
    with pytest.raises(TaskRefused) as caught:
        ledger.plan_mix(volumes, well)
    return caught.value.code


def test_a_plan_lists_one_transfer_per_liquid_and_skips_zeros() -> None:
    plan = make_ledger().plan_mix({"red": 100, "yellow": 0, "blue": 50, "water": 0}, "B3")
    assert plan.transfers == (Transfer("red", 100.0), Transfer("blue", 50.0))
    assert plan.total_ul == 150.0


def test_planning_changes_nothing() -> None:
    ledger = make_ledger()
    ledger.plan_mix({"red": 100}, "A1")
    assert ledger.tips_used == 0 and ledger.reservoir_ul["red"] == 1000 and ledger.wells == {}


@pytest.mark.parametrize("volume", [10, 300.5, -20, math.nan, math.inf])
def test_volumes_outside_the_pipettes_range_are_refused(volume: float) -> None:
    assert refusal_code(make_ledger(), {"red": volume}) == "volume_out_of_range"


def test_a_mix_of_nothing_is_refused() -> None:
    assert refusal_code(make_ledger(), {"red": 0, "blue": 0}) == "volume_out_of_range"


def test_unknown_wells_are_refused() -> None:
    assert refusal_code(make_ledger(), {"red": 50}, "I1") == "unknown_well"


def test_too_few_tips_for_the_whole_mix_is_refused_before_any_move() -> None:
    ledger = make_ledger(tips=1)
    assert refusal_code(ledger, {"red": 50, "blue": 50}) == "out_of_tips"


def test_an_empty_reservoir_is_refused() -> None:
    ledger = make_ledger()
    ledger.reset(reservoir_ul={"blue": 40})
    assert refusal_code(ledger, {"red": 50, "blue": 50}) == "reservoir_empty"


def test_overflowing_a_well_is_refused() -> None:
    ledger = make_ledger()
    ledger.commit_dispensed(Transfer("red", 300.0), "A1")
    assert refusal_code(ledger, {"yellow": 61}) == "well_overflow"
    ledger.plan_mix({"yellow": 60}, "A1")  # exactly full is fine


def test_commits_track_tips_reservoirs_and_well_contents() -> None:
    ledger = make_ledger()
    for transfer in ledger.plan_mix({"red": 100, "blue": 50}, "C2").transfers:
        ledger.commit_tip_used()
        ledger.commit_aspirated(transfer)
        ledger.commit_dispensed(transfer, "C2")
    assert ledger.tips_used == 2 and ledger.tips_left == 94 and ledger.next_tip_index() == 2
    assert ledger.reservoir_ul == {"red": 900, "yellow": 1000, "blue": 950, "water": 1000}
    assert ledger.wells == {"C2": {"red": 100.0, "blue": 50.0}}
    assert ledger.well_volume_ul("C2") == 150.0


def test_reset_records_what_a_person_did() -> None:
    ledger = make_ledger()
    ledger.commit_tip_used()
    ledger.commit_dispensed(Transfer("red", 100.0), "A1")
    ledger.reset(plate=True, tips=True, reservoir_ul={"red": 15_000})
    assert ledger.tips_used == 0 and ledger.wells == {} and ledger.reservoir_ul["red"] == 15_000


@pytest.mark.parametrize("refill,code", [({"green": 100}, "unknown_liquid"), ({"red": 15_001}, "volume_out_of_range"),
                                         ({"red": -1}, "volume_out_of_range")])
def test_impossible_refills_are_refused_and_change_nothing(refill: dict[str, float], code: str) -> None:
    ledger = make_ledger()
    with pytest.raises(TaskRefused) as caught:
        ledger.reset(tips=True, reservoir_ul={"blue": 5, **refill})
    assert caught.value.code == code
    assert ledger.reservoir_ul["blue"] == 1000
