"""The colour-mixing demo as an OT-2 task app: dyes from a reservoir into a 96-well plate.

Deck: a 300 µL tip rack (slot 1), a 12-well reservoir with red, yellow, blue dye and water in
A1-A4 (slot 2), a 96-well plate (slot 3), a P300 single-channel GEN2 on the right mount.

The app keeps state across calls: the tips it used and the liquid in every reservoir and plate
well (see deck_ledger.py), and refuses impossible work with a task error code before the robot
moves. It is given a ``ProtocolContext`` and never asks whether it is the robot's or the
simulator's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typing_extensions import TypedDict

from labtwin.orchestrator.http_tasks import TaskRegistry
from labtwin.ot2_app.deck_ledger import LIQUIDS, DeckLedger, MixPlan
from labtwin.ot2_app.run_log import RunLog, RunLogEntry

if TYPE_CHECKING:
    from opentrons.protocol_api import Labware, ProtocolContext, Well

__all__ = ["ColorMixingRobot", "DeckState", "MixResult", "WellState", "build_task_registry"]

TIP_RACK = ("opentrons_96_tiprack_300ul", "1")
RESERVOIR = ("nest_12_reservoir_15ml", "2")
PLATE = ("corning_96_wellplate_360ul_flat", "3")
PIPETTE = ("p300_single_gen2", "right")
RESERVOIR_WELLS = dict(zip(LIQUIDS, ("A1", "A2", "A3", "A4"), strict=True))
STARTING_FILL_UL = {liquid: 12_000.0 for liquid in LIQUIDS}
"""What the app assumes a person poured into each reservoir well before starting it."""
MIX_REPETITIONS = 3


class WellState(TypedDict):
    """One plate well: total volume and µL of each liquid in it."""

    volume_ul: float
    contents_ul: dict[str, float]


class MixResult(TypedDict):
    """What one mix_color did."""

    well: str
    added_ul: dict[str, float]
    well_volume_ul: float
    tips_used: int
    estimated_robot_s: float


class DeckState(TypedDict):
    """Everything the app knows about the deck."""

    tips_used: int
    tips_left: int
    reservoir_ul: dict[str, float]
    wells: dict[str, WellState]
    well_capacity_ul: float
    pipette_range_ul: list[float]


class ColorMixingRobot:
    """The OT-2 running the colour-mixing demo; its public methods are the device's tasks."""

    def __init__(self, context: ProtocolContext, run_log: RunLog) -> None:
        self._context = context
        self._run_log = run_log
        self._tips: Labware = context.load_labware(*TIP_RACK)
        self._reservoir: Labware = context.load_labware(*RESERVOIR)
        self._plate: Labware = context.load_labware(*PLATE)
        self._pipette = context.load_instrument(*PIPETTE, tip_racks=[self._tips])
        plate_wells = self._plate.wells()
        self.ledger = DeckLedger(
            plate_wells=[w.well_name for w in plate_wells],
            well_capacity_ul=plate_wells[0].max_volume,
            tip_count=len(self._tips.wells()),
            reservoir_capacity_ul=self._reservoir.wells()[0].max_volume,
            pipette_range_ul=(self._pipette.min_volume, self._pipette.max_volume),
        )
        self.ledger.reset(reservoir_ul=STARTING_FILL_UL)

    def mix_color(self, red_ul: float, yellow_ul: float, blue_ul: float, well: str,
                  water_ul: float = 0.0) -> MixResult:
        """Mix dyes into a plate well: a fresh tip per liquid, then mix the well with the last tip.

        Volumes are µL per liquid: 0 skips it, otherwise it must be within the pipette's range
        (20-300 µL for the P300 GEN2). Refused before the robot moves, with code
        volume_out_of_range, unknown_well, out_of_tips, reservoir_empty or well_overflow.
        """
        volumes = {"red": red_ul, "yellow": yellow_ul, "blue": blue_ul, "water": water_ul}
        parameters: dict[str, Any] = {f"{liquid}_ul": v for liquid, v in volumes.items()}
        parameters["well"] = well
        tips_before = self.ledger.tips_used
        with self._run_log.task("mix_color", parameters) as entry:
            plan = self.ledger.plan_mix(volumes, well)
            self._run_mix(plan)
        return MixResult(well=well, added_ul={t.liquid: t.volume_ul for t in plan.transfers},
                         well_volume_ul=self.ledger.well_volume_ul(well),
                         tips_used=self.ledger.tips_used - tips_before,
                         estimated_robot_s=entry["estimated_robot_s"])

    def home(self) -> None:
        """Home every axis of the robot."""
        with self._run_log.task("home", {}):
            self._context.home()

    def deck_state(self) -> DeckState:
        """Tips used and left, reservoir volumes, and the volume and contents of every used well."""
        ledger = self.ledger
        wells = {name: WellState(volume_ul=ledger.well_volume_ul(name), contents_ul=dict(contents))
                 for name, contents in ledger.wells.items()}
        return DeckState(tips_used=ledger.tips_used, tips_left=ledger.tips_left,
                         reservoir_ul=dict(ledger.reservoir_ul), wells=wells,
                         well_capacity_ul=ledger.well_capacity_ul, pipette_range_ul=list(ledger.pipette_range_ul))

    def reset_deck(self, plate: bool = False, tips: bool = False,
                   reservoir_ul: dict[str, float] | None = None) -> DeckState:
        """Record what a person did at the deck: a fresh plate, a fresh tip rack, refilled reservoir wells.

        ``reservoir_ul`` maps liquids (red, yellow, blue, water) to the µL now in their wells.
        """
        parameters = {"plate": plate, "tips": tips, "reservoir_ul": reservoir_ul}
        with self._run_log.task("reset_deck", parameters):
            self.ledger.reset(plate=plate, tips=tips, reservoir_ul=reservoir_ul)
            if tips:
                self._pipette.reset_tipracks()
        return self.deck_state()

    def run_log(self, since: int = 0) -> list[RunLogEntry]:
        """Task calls after sequence number ``since``: parameters, outcome, every robot command, timings."""
        return self._run_log.entries(since)

    # --- the robot's moves ----------------------------------------------------------------

    def _run_mix(self, plan: MixPlan) -> None:
        target = self._plate[plan.well]
        last = len(plan.transfers) - 1
        try:
            for index, transfer in enumerate(plan.transfers):
                self._pipette.pick_up_tip(self._tips.wells()[self.ledger.next_tip_index()])
                self.ledger.commit_tip_used()
                self._pipette.aspirate(transfer.volume_ul, self._reservoir[RESERVOIR_WELLS[transfer.liquid]])
                self.ledger.commit_aspirated(transfer)
                self._pipette.dispense(transfer.volume_ul, target)
                self.ledger.commit_dispensed(transfer, plan.well)
                if index == last:
                    self._mix_well(target, self.ledger.well_volume_ul(plan.well))
                self._pipette.drop_tip()
        finally:
            # After a failed move, never leave a used tip on for the next task to carry around.
            if self._pipette.has_tip:
                self._pipette.drop_tip()

    def _mix_well(self, well: Well, volume_ul: float) -> None:
        low, high = self.ledger.pipette_range_ul
        # Half the well's volume keeps the tip's intake under the surface.
        mix_volume = min(high, volume_ul / 2)
        if mix_volume >= low:
            self._pipette.mix(MIX_REPETITIONS, mix_volume, well)


def build_task_registry(robot: ColorMixingRobot) -> TaskRegistry:
    """The device's task catalogue: the robot's public methods."""
    registry = TaskRegistry()
    for task in (robot.mix_color, robot.home, robot.deck_state, robot.reset_deck, robot.run_log):
        registry.task(task)
    return registry
