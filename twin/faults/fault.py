"""The fault base: a start, a clear, and the record of when a fault was active.

Concrete faults live in :mod:`labtwin.twin.faults.lab_faults` (network, broker, boards) and
:mod:`labtwin.twin.faults.sensor_faults` (ADC inputs).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import ClassVar

from labtwin.twin.clock import Clock

__all__ = ["Fault"]


class Fault(ABC):
    """Base of every fault: the start/clear bookkeeping and the record of active windows.

    Subclasses implement ``_apply`` (make the fault happen), ``_revert`` (undo
    it) and ``_effect`` (what it does, for :meth:`describe`). A ``one_shot``
    fault is an event, not a state: ``start()`` makes it happen and records the
    window ``(t, t)``; it is never active, so ``clear()`` does nothing.

    Args:
        target: the device id the fault acts on, or ``"broker"``.
        clock: the lab clock that timestamps the windows.
    """

    one_shot: ClassVar[bool] = False

    def __init__(self, target: str, clock: Clock) -> None:
        self.target = target
        self.clock = clock
        self._windows: list[tuple[float, float | None]] = []
        # start() and clear() both await; the lock keeps one from running inside the other.
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        """The kind of fault (its class name: ``"Partition"``, ``"SensorStuck"``...)."""
        return type(self).__name__

    @property
    def active(self) -> bool:
        """Whether the fault has been started and not cleared since."""
        return bool(self._windows) and self._windows[-1][1] is None

    @property
    def windows(self) -> list[tuple[float, float | None]]:
        """Every ``(start, clear)`` in lab clock seconds, oldest first; clear is None while active."""
        return list(self._windows)

    async def start(self) -> None:
        """Make the fault happen (no-op if it is already active)."""
        async with self._lock:
            if self.active:
                return
            started = self.clock.now()
            await self._apply()
            self._windows.append((started, started if self.one_shot else None))

    async def clear(self) -> None:
        """Undo the fault (no-op if it is not active); its window closes when the undo is done."""
        async with self._lock:
            if not self.active:
                return
            await self._revert()
            started, _ = self._windows[-1]
            self._windows[-1] = (started, self.clock.now())

    def describe(self) -> str:
        """One line: what this fault does to what, e.g. ``Partition on pico-1: ...``."""
        return f"{self.name} on {self.target}: {self._effect()}"

    def __repr__(self) -> str:
        return f"<{self.describe()} ({'active' if self.active else 'inactive'})>"

    @abstractmethod
    async def _apply(self) -> None: ...

    @abstractmethod
    async def _revert(self) -> None: ...

    @abstractmethod
    def _effect(self) -> str: ...
