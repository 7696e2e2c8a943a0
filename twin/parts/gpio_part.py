"""GPIO as the parts see it: a part watches some pins and drives others.

The board model tells a part about every level the firmware puts on a pin the part watches
(:meth:`GpioPart.on_level`, with the lab time of the edge) and asks the part for the level it puts
on a pin it drives (:meth:`GpioPart.level`; ``None`` means "not driving", so the board's pull
resistor or another driver decides). A part whose output changes on its own (a button pressed by a
script, a converter whose data-ready line falls) also lists those changes for a time window
(:meth:`GpioPart.edges`), so the board model can fire pin IRQs at the right lab times.

Times are lab seconds and arrive in order: a part may assume ``on_level`` calls never go back in
time, while ``level`` may be asked about any moment at or after the last edge it was told about.
"""

from __future__ import annotations

from collections.abc import Iterable

from labtwin.errors import ConfigError

__all__ = ["GpioPart"]


class GpioPart:
    """Base of a part wired to board pins.

    Args:
        watches: pins the part reads (board outputs: a clock, a STEP line, a pump's gate).
        drives: pins the part drives (board inputs: a data line, a switch contact).
    """

    def __init__(self, *, watches: Iterable[int] = (), drives: Iterable[int] = ()) -> None:
        self.watched_pins: tuple[int, ...] = tuple(watches)
        self.driven_pins: tuple[int, ...] = tuple(drives)
        shared = set(self.watched_pins) & set(self.driven_pins)
        if shared:
            raise ConfigError(f"{type(self).__name__}: pin(s) {sorted(shared)} cannot be both watched and driven")

    @property
    def pins(self) -> tuple[int, ...]:
        """Every pin the part is wired to, watched first."""
        return self.watched_pins + self.driven_pins

    def on_level(self, pin: int, level: int, t: float) -> None:
        """The board put ``level`` (0 or 1) on watched ``pin`` at lab time ``t``."""

    def level(self, pin: int, t: float) -> int | None:
        """The level the part drives on ``pin`` at ``t``, or ``None`` if it does not drive it."""
        return None

    def edges(self, pin: int, start: float, end: float) -> list[tuple[float, int]]:
        """Changes the part makes on its own to driven ``pin`` in ``(start, end]``: ``(t, new level)``."""
        return []

    def _check_pin(self, pin: int, pins: tuple[int, ...], what: str) -> None:
        if pin not in pins:
            raise ConfigError(f"{type(self).__name__} does not {what} pin {pin} (it {what}s {list(pins)})")
