"""Tip and liquid accounting for the colour-mixing deck: what the robot used, and what it holds.

Opentrons' simulator tracks tips but not liquid, so the app keeps its own ledger. A mix is
first *planned* (every check, no side effects: impossible work is refused before the robot
moves), then each step is *committed* only after the robot call for it succeeded, so the
ledger matches the deck even when a run stops half-way.

Pure Python, no opentrons import: capacities come from the loaded labware and pipette.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from labtwin.errors import TaskRefused

__all__ = ["LIQUIDS", "DeckLedger", "MixPlan", "Transfer"]

LIQUIDS = ("red", "yellow", "blue", "water")
"""Reservoir contents, in the order of the reservoir wells they sit in (A1..A4)."""


@dataclass(frozen=True)
class Transfer:
    """One liquid moved from its reservoir well into the target well with one fresh tip."""

    liquid: str
    volume_ul: float


@dataclass(frozen=True)
class MixPlan:
    """A mix that passed every check: the transfers to make, in order."""

    well: str
    transfers: tuple[Transfer, ...]

    @property
    def total_ul(self) -> float:
        """Liquid the mix adds to the well."""
        return sum(t.volume_ul for t in self.transfers)


class DeckLedger:
    """Tips used, reservoir volumes, and the volume and contents of every plate well.

    Args:
        plate_wells: well names of the plate, in the order tips and wells are used (A1, B1, ...).
        well_capacity_ul: what one plate well holds.
        tip_count: tips in the rack.
        reservoir_capacity_ul: what one reservoir well holds.
        pipette_range_ul: the smallest and largest volume the pipette moves in one go.
    """

    def __init__(self, *, plate_wells: Sequence[str], well_capacity_ul: float, tip_count: int,
                 reservoir_capacity_ul: float, pipette_range_ul: tuple[float, float]) -> None:
        self.plate_wells = list(plate_wells)
        self.well_capacity_ul = well_capacity_ul
        self.tip_count = tip_count
        self.reservoir_capacity_ul = reservoir_capacity_ul
        self.pipette_range_ul = pipette_range_ul
        self.tips_used = 0
        self.reservoir_ul: dict[str, float] = {liquid: 0.0 for liquid in LIQUIDS}
        self.wells: dict[str, dict[str, float]] = {}

    @property
    def tips_left(self) -> int:
        """Unused tips in the rack."""
        return self.tip_count - self.tips_used

    def well_volume_ul(self, well: str) -> float:
        """Liquid in a plate well now."""
        return sum(self.wells.get(well, {}).values())

    # --- planning: checks only ------------------------------------------------------------

    def plan_mix(self, volumes_ul: Mapping[str, float], well: str) -> MixPlan:
        """Check a mix against the pipette, the plate and the deck's state; raise TaskRefused if impossible."""
        low, high = self.pipette_range_ul
        for liquid, volume in volumes_ul.items():
            # Written so NaN fails too: it is never inside the range.
            if volume != 0 and not low <= volume <= high:
                raise TaskRefused("volume_out_of_range",
                                  f"{liquid} {volume:g} µL is outside the pipette's range: use 0 or "
                                  f"{low:g}-{high:g} µL per liquid")
        transfers = tuple(Transfer(liquid, float(v)) for liquid, v in volumes_ul.items() if v != 0)
        if not transfers:
            raise TaskRefused("volume_out_of_range", "every volume is 0: nothing to mix")
        if well not in self.plate_wells:
            raise TaskRefused("unknown_well", f"no well {well!r} on the plate; wells are A1-H12 "
                                              "(row letter, then column number)")
        plan = MixPlan(well, transfers)
        if len(transfers) > self.tips_left:
            raise TaskRefused("out_of_tips", f"the mix needs {len(transfers)} fresh tip(s) and "
                                             f"{self.tips_left} are left; load a new rack, then "
                                             "reset_deck(tips=True)")
        for transfer in transfers:
            available = self.reservoir_ul[transfer.liquid]
            if transfer.volume_ul > available:
                raise TaskRefused("reservoir_empty", f"the {transfer.liquid} reservoir holds {available:g} µL "
                                                     f"and the mix needs {transfer.volume_ul:g} µL; refill it, "
                                                     f"then reset_deck(reservoir_ul={{'{transfer.liquid}': ...}})")
        current = self.well_volume_ul(well)
        if current + plan.total_ul > self.well_capacity_ul:
            raise TaskRefused("well_overflow", f"well {well} holds {current:g} µL; adding {plan.total_ul:g} µL "
                                               f"would overflow its {self.well_capacity_ul:g} µL; pick another "
                                               "well or swap the plate and reset_deck(plate=True)")
        return plan

    def check_refill(self, reservoir_ul: Mapping[str, float]) -> None:
        """Raise TaskRefused unless every entry names a liquid and fits its reservoir well."""
        for liquid, volume in reservoir_ul.items():
            if liquid not in self.reservoir_ul:
                raise TaskRefused("unknown_liquid", f"no {liquid!r} reservoir; liquids: {', '.join(LIQUIDS)}")
            if not 0 <= volume <= self.reservoir_capacity_ul:
                raise TaskRefused("volume_out_of_range", f"{liquid} {volume:g} µL does not fit a reservoir well "
                                                         f"(0-{self.reservoir_capacity_ul:g} µL)")

    # --- committing: after the robot did it -----------------------------------------------

    def next_tip_index(self) -> int:
        """Index (in rack order) of the tip the next pick-up takes."""
        return self.tips_used

    def commit_tip_used(self) -> None:
        """A tip was picked up."""
        self.tips_used += 1

    def commit_aspirated(self, transfer: Transfer) -> None:
        """The transfer's liquid left its reservoir well (it is in the tip)."""
        self.reservoir_ul[transfer.liquid] -= transfer.volume_ul

    def commit_dispensed(self, transfer: Transfer, well: str) -> None:
        """The transfer's liquid went from the tip into ``well``."""
        contents = self.wells.setdefault(well, {})
        contents[transfer.liquid] = contents.get(transfer.liquid, 0.0) + transfer.volume_ul

    def reset(self, *, plate: bool = False, tips: bool = False,
              reservoir_ul: Mapping[str, float] | None = None) -> None:
        """Record what a person did: a fresh plate, a fresh tip rack, reservoir wells refilled."""
        if reservoir_ul:
            self.check_refill(reservoir_ul)
            self.reservoir_ul.update({liquid: float(v) for liquid, v in reservoir_ul.items()})
        if plate:
            self.wells.clear()
        if tips:
            self.tips_used = 0
