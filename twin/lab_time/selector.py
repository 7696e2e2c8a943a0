"""The lab loop's selector: asyncio's waits turned into lab waits.

asyncio's loop asks its selector to wait ``timeout`` seconds of loop time, which on a
:class:`~labtwin.twin.lab_time.event_loop.LabEventLoop` is lab time. At ``--speed N`` this selector
waits ``timeout / N`` real seconds. At ``--speed max`` it waits in real time while anything in the
lab runs and, once the whole lab is quiet (:meth:`VmClocks.quiet`: every board waits and has read
what the host sent it, nothing else in flight) and the host has nothing ready, jumps the clock to the
earliest deadline, the host's or a board's, and wakes whoever it was.

Two settings (:mod:`~labtwin.twin.lab_time.max_tuning`) keep the boards' turns cheap. While a board
takes its turn (a supervisor's poll, a task: a few hundred microseconds) the host has nothing to do
but wait for its report; sleeping through the turn adds a wake-up of the host's halted CPU to every
turn, which on a virtual machine costs about as much as the turn, so the host polls for the report
for a moment first. And when the clock jumps, it may jump a little past the earliest deadline, within
the slack each board's wait allows, to wake the boards due soon after it at the same time
(:meth:`VmClocks.wake_time`).
"""

from __future__ import annotations

import math
import selectors
import time
from collections.abc import Mapping
from typing import Any

from labtwin.twin.lab_time.clock import LabClock
from labtwin.twin.lab_time.max_tuning import WAKE_SLACK_MAX_S, MaxTuning
from labtwin.twin.lab_time.vm_clocks import CLOCK_KEY, VmClocks

__all__ = ["LabSelector"]

_Events = list[tuple[selectors.SelectorKey, int]]

class LabSelector(selectors.BaseSelector):
    """Wraps the loop's real selector; ``select`` takes lab seconds."""

    def __init__(self, clock: LabClock) -> None:
        self._inner = selectors.DefaultSelector()
        self._clock = clock
        self.vms = VmClocks(self._inner, clock.t0_us, clock.now) if clock.speed.jumps else None
        tuning = MaxTuning.from_environment() if clock.speed.jumps else MaxTuning(spin_s=0.0, slack=0.0)
        self._spin, self._slack = tuning.spin_s, tuning.slack

    # ------------------------------------------------------------------ what asyncio registers
    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        if self.vms is not None:
            self.vms.close()
        self._inner.close()

    # ------------------------------------------------------------------ waits
    def select(self, timeout: float | None = None) -> _Events:
        if self.vms is None:
            real = None if timeout is None else max(0.0, timeout) / self._clock.speed.factor
            return self._inner.select(real)
        if timeout is not None and timeout <= 0:
            return self._select(0)
        return self._select_max(timeout)

    def _select(self, real: float | None) -> _Events:
        # The real selector's events, the clock sockets' handled here and left out.
        assert self.vms is not None
        events = self._inner.select(real)
        if not any(key.data is CLOCK_KEY for key, _ in events):
            return events
        out = []
        for key, mask in events:
            if key.data is CLOCK_KEY:
                self.vms.readable(key.fileobj)  # type: ignore[arg-type]
            else:
                out.append((key, mask))
        return out

    def _select_max(self, timeout: float | None) -> _Events:
        vms = self.vms
        assert vms is not None
        clock = self._clock
        ready = self._select(0)
        if ready:
            return ready
        until = math.inf if timeout is None else clock.now() + timeout
        vms.sync()  # whatever the host wrote to a board before now, the board has read when it answers
        while True:
            now = clock.now()
            vms.wake_due(now)
            target = min(until, vms.earliest_deadline())
            if vms.quiet() and target < math.inf:
                clock.jump_to(vms.wake_time(until, self._slack, WAKE_SLACK_MAX_S))
                now = clock.now()
                vms.wake_due(now)
                if now >= until:
                    return []
                continue
            wait = None if target == math.inf else max(0.0, target - now)  # real seconds: rate 1 between jumps
            ready = self._hand_over(wait) if self._spin and vms.taking_turns() else self._select(wait)
            if ready or clock.now() >= until:
                return ready

    def _hand_over(self, wait: float | None) -> _Events:
        # Boards take their turns: poll for their reports (or any event) for a moment before sleeping.
        assert self.vms is not None
        spin = self._spin if wait is None else min(self._spin, wait)
        end = time.perf_counter() + spin
        while True:
            ready = self._select(0)
            if ready or self.vms.quiet():
                return ready
            left = end - time.perf_counter()
            if left <= 0:
                return self._select(None if wait is None else max(0.0, wait - spin))
