"""An asyncio event loop on lab time, and how to run code on one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any, TypeVar, TypeVarTuple, Unpack

from labtwin.twin.lab_time.clock import LabClock
from labtwin.twin.lab_time.selector import LabSelector
from labtwin.twin.lab_time.speed import Speed
from labtwin.twin.lab_time.vm_clocks import VmClocks

__all__ = ["LabEventLoop", "lab_clock_of", "lab_loop_factory", "run_on_lab_time"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class LabEventLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is a :class:`LabClock`.

    Every ``call_later``, ``asyncio.sleep``, ``wait_for`` and ``asyncio.timeout`` on it counts lab
    seconds, so code written for asyncio (a broker, an MQTT client, the network twin) runs on lab
    time unchanged. ``vm_clocks`` is set at ``--speed max``: the boards' clock sockets.
    """

    def __init__(self, speed: Speed) -> None:
        self.clock = LabClock(speed)
        selector = LabSelector(self.clock)
        self.vm_clocks: VmClocks | None = selector.vms
        super().__init__(selector)

    def time(self) -> float:
        return self.clock.now()

    def run_in_executor(self, executor: Executor | None, func: Callable[[Unpack[Ts]], T],
                        *args: *Ts) -> asyncio.Future[T]:
        """As asyncio's; at ``--speed max`` the clock holds while the thread works (DNS, a blocking connect)."""
        future = super().run_in_executor(executor, func, *args)
        if self.vm_clocks is not None:
            self.vm_clocks.busy += 1
            future.add_done_callback(self._executor_done)
        return future

    def _executor_done(self, _future: asyncio.Future[Any]) -> None:
        assert self.vm_clocks is not None
        self.vm_clocks.busy -= 1

    def vm_starting(self, name: str) -> dict[str, str]:
        """The environment of board ``name``'s VM, about to start: its shims read this clock.

        At ``--speed max`` the board holds the clock from now until its VM waits (and reports).
        """
        env = self.clock.vm_environment()
        if self.vm_clocks is not None:
            self.vm_clocks.started(name)
            env.update(self.vm_clocks.vm_environment(name))
        return env

    def vm_exited(self, name: str) -> None:
        """Board ``name``'s VM has exited: it no longer holds the clock."""
        if self.vm_clocks is not None:
            self.vm_clocks.stopped(name)

    def close(self) -> None:
        super().close()
        self.clock.close()


def lab_loop_factory(speed: Speed) -> Callable[[], asyncio.AbstractEventLoop]:
    """A loop factory (for ``asyncio.Runner``, a LoopThread): a lab loop, or a plain one at real time."""
    if speed.real:
        return asyncio.new_event_loop
    return lambda: LabEventLoop(speed)


def run_on_lab_time(coro: Coroutine[Any, Any, T], speed: Speed) -> T:
    """``asyncio.run(coro)`` on a loop of this speed."""
    with asyncio.Runner(loop_factory=lab_loop_factory(speed)) as runner:
        return runner.run(coro)


def lab_clock_of(loop: asyncio.AbstractEventLoop) -> LabClock | None:
    """The lab clock ``loop`` runs on, or None for a plain (real-time) loop."""
    return loop.clock if isinstance(loop, LabEventLoop) else None
