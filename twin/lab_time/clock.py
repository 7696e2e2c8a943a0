"""The lab clock: real time scaled by the lab's speed, plus the jumps of ``--speed max``.

In microseconds of CLOCK_MONOTONIC (``time.monotonic_ns``, which a board VM's ``ticks_us`` reads
too)::

    lab_us = real_us + (N - 1) * (real_us - T0) + offset

T0 is the clock's creation, N the speed factor, offset the sum of the jumps. The VMs compute the same
formula (twin/board/lab_time_shims/time.py) from T0 and N in their environment and the offset in
the offset file, so host and boards agree on lab time to the microsecond. Lab time never falls
behind real time (N >= 1, jumps only forward): MicroPython's C asyncio stamps woken tasks with the
real ticks and needs them not to lie in the lab's future.
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
import time
from pathlib import Path

from labtwin.twin.lab_time.speed import Speed

__all__ = ["LabClock"]

_OFFSET_WIDTH = 24  # the offset file holds one right-padded decimal number of microseconds


class LabClock:
    """One twin lab's clock (implements :class:`~labtwin.twin.clock.Clock`).

    ``now()`` is lab seconds since the clock was made; ``sleep`` waits lab seconds on the lab's
    event loop (:class:`~labtwin.twin.lab_time.event_loop.LabEventLoop`, whose time is this clock).
    With ``speed.jumps`` the clock keeps an offset file the VMs read after their waits.
    """

    def __init__(self, speed: Speed) -> None:
        self.speed = speed
        self._k = speed.factor - 1.0
        self.t0_us = time.monotonic_ns() // 1000
        self._offset_us = 0
        self._jumped_us = 0
        self._offset_path: Path | None = None
        self._offset_fd: int | None = None
        if speed.jumps:
            fd, name = tempfile.mkstemp(prefix="labtwin-clock-", suffix=".offset")
            self._offset_fd, self._offset_path = fd, Path(name)
            self._write_offset()

    def _lab_us(self) -> float:
        real = time.monotonic_ns() // 1000
        return real + self._k * (real - self.t0_us) + self._offset_us

    def now(self) -> float:
        """Lab seconds since the lab started."""
        return (self._lab_us() - self.t0_us) / 1e6

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of lab time (on the lab's event loop, whose clock this is)."""
        await asyncio.sleep(max(0.0, seconds))

    def real_seconds(self, lab_seconds: float) -> float:
        """How long ``lab_seconds`` last in real time while the lab runs (jumps aside)."""
        return lab_seconds / self.speed.factor

    @property
    def jumped(self) -> float:
        """Lab seconds skipped by jumps so far (``--speed max``)."""
        return self._jumped_us / 1e6

    def jump_to(self, lab_seconds: float) -> None:
        """Move the clock forward to ``lab_seconds`` (never back); the VMs read it after their waits."""
        ahead = math.ceil(lab_seconds * 1e6 + self.t0_us - self._lab_us())
        if ahead <= 0:
            return
        if self._offset_fd is None:
            raise RuntimeError(f"a lab clock at speed {self.speed} does not jump")
        self._offset_us += ahead
        self._jumped_us += ahead
        self._write_offset()

    def _write_offset(self) -> None:
        assert self._offset_fd is not None
        os.pwrite(self._offset_fd, str(self._offset_us).ljust(_OFFSET_WIDTH).encode(), 0)

    def vm_environment(self) -> dict[str, str]:
        """What a board VM needs to read this clock (its lab-time shims take it from the environment)."""
        env = {"LABTWIN_LAB_SPEED": f"{self.speed.factor:g}" if self.speed.factor % 1 else str(int(self.speed.factor)),
               "LABTWIN_LAB_T0_US": str(self.t0_us)}
        if self._offset_path is not None:
            env["LABTWIN_LAB_OFFSET_FILE"] = str(self._offset_path)
        return env

    def close(self) -> None:
        """Remove the offset file. The clock still reads after this."""
        if self._offset_fd is not None:
            os.close(self._offset_fd)
            self._offset_fd = None
        if self._offset_path is not None:
            self._offset_path.unlink(missing_ok=True)
            self._offset_path = None
