"""Pin IRQs and pulse timing on the host side of the hardware bus.

``Pin.irq`` in the VM registers the pin's trigger here (``pin_irq``); from then on every edge
:class:`~labtwin.twin.board.gpio_wiring.GpioWiring` sees on that pin (a part's scripted edges at
their exact lab times, ``model.set_input``, the firmware's own writes) that the trigger selects is
queued for the VM as ``[pin, flag]``. The VM gets the queue three ways: riding on the next reply of
the hardware bus (``[1, value, events]``), through ``irq_events``, or, while it sleeps or polls,
by a byte on its **events doorbell** (a second bus connection, :meth:`BoardIrq.serve_events`)
that wakes it to ask. Handlers then run in the VM as soft IRQs (``_labtwin_sched``).

``time_pulse_us`` blocks the VM while the host times the pulse, in lab time, from the pin's level
timeline: the driving part's script where a part drives the pin, else the level changes as they
happen (``set_input``).

Trigger values are the port's: rp2 ``IRQ_FALLING`` 4 and ``IRQ_RISING`` 8, esp32 2 and 1.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from labtwin.twin.board.gpio_wiring import GpioWiring
from labtwin.twin.board.profiles import PinId
from labtwin.twin.clock import Clock
from labtwin.twin.models.mp import MicroPythonError, mp_get_int

__all__ = ["IRQ_FLAGS", "BoardIrq"]

log = logging.getLogger("labtwin.twin.board")

IRQ_FLAGS = {"rp2": (8, 4), "esp32": (1, 2)}
"""Per port: ``(IRQ_RISING, IRQ_FALLING)``."""

LOOKAHEAD_S = 0.02
"""How far ahead the watcher asks parts for their next edge; it looks again at least this often."""

MAX_PENDING = 4096
"""Edges kept for a VM that does not collect them (a busy loop without a bus call); older ones are dropped."""


class BoardIrq:
    """The pin IRQs of one board and the edges waiting for its VM.

    Args:
        wiring: the board's GPIO wiring, which reports level changes.
        clock: lab clock.
        port: ``"rp2"`` or ``"esp32"``: the trigger values and which pins may have an IRQ.
        resolve: turns a pin source from the VM into the board's pin id.
    """

    def __init__(self, wiring: GpioWiring, clock: Clock, port: str,
                 resolve: Callable[[object], PinId]) -> None:
        self._wiring = wiring
        self._clock = clock
        self._port = port
        self._rising, self._falling = IRQ_FLAGS.get(port, IRQ_FLAGS["rp2"])
        self._resolve = resolve
        self._triggers: dict[PinId, int] = {}
        self._pending: list[list[Any]] = []
        self.dropped = 0
        """Edges dropped because the VM left :data:`MAX_PENDING` uncollected."""
        self.delivered = 0
        """Edges handed to the VM so far."""
        self._ring: Callable[[], None] | None = None
        self._rung = False
        self._changed = asyncio.Event()
        wiring.add_listener(self._on_edge)

    def reset(self) -> None:
        """A reboot: no pin has an IRQ, nothing is pending."""
        for pin in self._triggers:
            self._wiring.untrack(pin)
        self._triggers.clear()
        self._pending.clear()
        self._rung = False
        self._changed.set()

    @property
    def pending(self) -> bool:
        """Whether edges wait for the VM."""
        return bool(self._pending)

    def take(self) -> list[list[Any]]:
        """Hand the waiting edges to the VM (``[[pin, flag], ...]``, oldest first)."""
        events, self._pending = self._pending, []
        self._rung = False
        self.delivered += len(events)
        return events

    # ----------------------------------------------------------------- operations
    def op_pin_irq(self, source: object, trigger: object) -> None:
        """``pin.irq(handler, trigger)``: report the trigger's edges on the pin (0: none)."""
        pin = self._resolve(source)
        if self._port == "rp2" and not isinstance(pin, int):
            raise MicroPythonError.value_error("expecting a regular GPIO Pin")
        flags = mp_get_int(trigger) & (self._rising | self._falling)
        had = pin in self._triggers
        if flags:
            self._triggers[pin] = flags
            if not had:
                self._wiring.track(pin)
        elif had:
            del self._triggers[pin]
            self._wiring.untrack(pin)
        self._changed.set()

    def op_irq_events(self) -> list[list[Any]]:
        """The edges waiting for the VM (the VM asks after its doorbell rang)."""
        return self.take()

    def op_time_pulse_us(self, source: object, level: object, timeout_us: object = 1_000_000) -> Any:
        """``machine.time_pulse_us(pin, level, timeout_us)``: blocks the VM while the pulse is timed."""
        pin = self._resolve(source)
        if self._port == "rp2" and not isinstance(pin, int):
            raise MicroPythonError.value_error("expecting a regular GPIO Pin")
        want = mp_get_int(level)
        timeout = (mp_get_int(timeout_us) & 0xFFFFFFFF) / 1e6  # the port's mp_uint_t
        return self._time_pulse(pin, want, timeout)

    async def _time_pulse(self, pin: PinId, want: int, timeout: float) -> int:
        self._wiring.sync()
        start = await self._reach(pin, lambda level: level == want, self._clock.now(), timeout)
        if start is None:
            return -2
        end = await self._reach(pin, lambda level: level != want, start, timeout)
        if end is None:
            return -1
        return max(0, round((end - start) * 1e6))

    async def _reach(self, pin: PinId, ok: Callable[[int], bool], since: float, timeout: float) -> float | None:
        # The lab time from `since` on at which the pin's level first satisfies ok(), or None if not
        # within `timeout`; returns once the clock has got there, as the board's busy loop would.
        deadline = since + timeout
        part = self._wiring.driver(pin)
        if part is not None and isinstance(pin, int):
            if ok(self._wiring.level_at(pin, since)):
                return since
            # The part's script, window by window: a test or a scenario may still be adding to it.
            start = since
            while start < deadline:
                end = min(deadline, max(start, self._clock.now()) + LOOKAHEAD_S)
                hit = next((t for t, level in part.edges(pin, start, end) if ok(level)), None)
                await self._clock.sleep((end if hit is None else hit) - self._clock.now())
                if hit is not None:
                    self._wiring.sync()
                    return hit
                start = end
            return None
        if ok(self._wiring.level_at(pin, self._clock.now())):
            return self._clock.now()
        reached: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        def watch(changed: PinId, level: int, t: float) -> None:
            if changed == pin and ok(level) and not reached.done():
                reached.set_result(t)

        self._wiring.add_listener(watch)
        self._wiring.track(pin)
        timer = asyncio.ensure_future(self._clock.sleep(deadline - self._clock.now()))
        waiters: list[asyncio.Future[Any]] = [reached, timer]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)
            self._wiring.untrack(pin)
            self._wiring.remove_listener(watch)
        return reached.result() if reached.done() else None

    # ----------------------------------------------------------------- edges to the VM
    def _on_edge(self, pin: PinId, level: int, t: float) -> None:
        flags = self._triggers.get(pin)
        if flags is None:
            return
        flag = self._rising if level else self._falling
        if not flags & flag:
            return
        if len(self._pending) >= MAX_PENDING:
            del self._pending[0]
            self.dropped += 1
        self._pending.append([pin, flag])
        if self._ring is not None and not self._rung:
            self._rung = True
            self._ring()

    async def serve_events(self, ring: Callable[[], None]) -> None:
        """Serve the VM's events doorbell: call ``ring`` whenever edges start waiting for the VM.

        Runs for as long as the doorbell connection is open. Between the VM's own hardware-bus
        calls it also wakes at each scripted edge of a part driving a pin with an IRQ (a button
        press, an HX711's data-ready), so the edge reaches the VM while it sleeps or awaits.
        """
        self._ring = ring
        self._rung = False
        if self._pending:
            self._rung = True
            ring()
        try:
            while True:
                self._wiring.sync()
                if not self._wiring.tracks_part_pins:
                    self._changed.clear()
                    await self._changed.wait()
                    continue
                now = self._clock.now()
                edge = self._wiring.next_edge(LOOKAHEAD_S)
                await self._clock.sleep(LOOKAHEAD_S if edge is None else max(0.0, edge - now))
                await asyncio.sleep(0)  # a clock that jumps instead of waiting must not starve the loop
        finally:
            if self._ring is ring:
                self._ring = None
