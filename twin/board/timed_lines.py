"""Pins the board bit-bangs with timed pulses (``machine.bitstream``, ``_onewire``): when each is busy until.

A bit-banged operation holds the CPU on the board for as long as its pulses last (the rp2 port
disables interrupts for a bitstream, ``_onewire`` waits out every slot), so the firmware only
continues once the line is done. :class:`TimedLines` gives every operation its start time (now, or
when the line's previous operation ended, so times on a line never overlap or go back) and the
reply that the hardware bus awaits until the operation's end, in lab time.

A wait shorter than :data:`MIN_WAIT_S` is not taken: the host's event loop times sleeps in whole
milliseconds, so a 65 us slot would hold the firmware 15 times longer than on the board, while the
round trip alone takes about as long as the slot. The line's own times stay exact either way.
"""

from __future__ import annotations

from typing import Any

from labtwin.twin.clock import Clock

__all__ = ["MIN_WAIT_S", "TimedLines"]

MIN_WAIT_S = 1e-3
"""Shortest remaining line time the reply waits for (the event loop's timer resolution)."""


class TimedLines:
    """When each bit-banged pin of a board is free again.

    Args:
        clock: the board's lab clock.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._free_at: dict[int, float] = {}

    def start(self, gpio: int) -> float:
        """Lab time an operation on ``gpio`` starts: now, or when the line's last operation ends."""
        return max(self._clock.now(), self._free_at.get(gpio, 0.0))

    def finish(self, gpio: int, end: float, value: Any) -> Any:
        """The operation on ``gpio`` ends at ``end``: ``value`` now, or an awaitable giving it then."""
        self._free_at[gpio] = end
        return value if end - self._clock.now() < MIN_WAIT_S else self._until(end, value)

    async def _until(self, end: float, value: Any) -> Any:
        await self._clock.sleep(end - self._clock.now())
        return value
