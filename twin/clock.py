"""Time sources for the twin.

Every time read in the board models goes through a :class:`Clock`, so a scaled
or virtual clock can replace :class:`WallClock` later without touching the
models. Times are seconds as ``float``, monotonic, counted from the start of
the lab (the clock's creation), never wall-clock dates.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "WallClock"]


@runtime_checkable
class Clock(Protocol):
    """A monotonic lab clock: ``now()`` in seconds since lab start, and ``sleep``."""

    def now(self) -> float:
        """Return seconds since lab start (monotonic, never goes backwards)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait for ``seconds`` of this clock's time to pass."""
        ...


class WallClock:
    """Real time: ``time.monotonic()`` offset so the lab starts at 0.0 s."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def now(self) -> float:
        """Return seconds elapsed since this clock was created."""
        return time.monotonic() - self._t0

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of real time (negative values sleep 0)."""
        await asyncio.sleep(max(0.0, seconds))
