"""Helpers for the lab-time tests: the speeds, a board running a one-file firmware, and reading its clock.

The test folders are not packages: the modules here import this as ``from lab_time_testkit import ...``
(pytest puts this folder on ``sys.path``).

How VM and host clocks are compared: both compute lab time in microseconds of CLOCK_MONOTONIC with the
same formula (twin/lab_time/clock.py), so a VM's ``time.ticks_us()`` read is the host's lab clock at
that instant, ``(ticks_us - clock.t0_us) / 1e6`` host lab seconds. At speed 1 the loop is a plain
asyncio loop and the VM reads the real CLOCK_MONOTONIC; a ``LabClock(REAL)`` (no speed-up, no jumps)
is then the same real clock on the host, so the same conversion holds.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.board.profiles import PICO_W
from labtwin.twin.lab_time import LabClock, Speed, lab_clock_of, run_on_lab_time
from labtwin.twin.lab_time.speed import REAL

T = TypeVar("T")

SPEEDS = [
    pytest.param("1", id="speed-1"),
    pytest.param("10", id="speed-10"),
    pytest.param("100", id="speed-100"),
    pytest.param("max", id="speed-max"),
]
"""The speeds every fidelity test runs at (issue #16: "Fidelity at every speed")."""


def real_slack(speed: Speed, real_seconds: float) -> float:
    """Lab seconds that ``real_seconds`` of host or VM scheduling delay become at ``speed``.

    Anything the lab does (a VM's CPU work, a pipe, a socket round trip) lasts N times as long in lab
    time at speed N; at max the clock runs at real rate while anything works, and jumps only while
    everything waits. Used for upper bounds only: lower bounds are exact.
    """
    return real_seconds * speed.factor


def run_lab(speed: str, main: Callable[[Speed], Awaitable[T]]) -> T:
    """Run ``main(speed)`` on a loop of ``speed``: the lab loop, or a plain one at speed 1."""
    parsed = Speed.parse(speed)

    async def wrapped() -> T:
        return await main(parsed)

    return run_on_lab_time(wrapped(), parsed)


def host_clock() -> LabClock:
    """The running loop's lab clock; at speed 1 a real-time LabClock (same formula, no speed-up)."""
    clock = lab_clock_of(asyncio.get_running_loop())
    return clock if clock is not None else LabClock(REAL)


def vm_seconds(clock: LabClock, ticks_us: int) -> float:
    """A VM's ``time.ticks_us()`` reading as host lab seconds (see the module docstring)."""
    return (ticks_us - clock.t0_us) / 1e6


def one_file_board(tmp_path: Path, main_py: str, clock: LabClock, *, device_id: str = "lab-time-board",
                   on_output: Callable[[str], None] | None = None) -> SimulatedBoard:
    """A Pico W twin whose firmware is ``main_py`` alone, its model on ``clock``."""
    firmware = tmp_path / "firmware"
    firmware.mkdir(exist_ok=True)
    (firmware / "main.py").write_text(main_py)
    return SimulatedBoard(device_id=device_id, profile=PICO_W, firmware_dir=firmware, device_config={},
                          work_dir=tmp_path / "work", seed=1, clock=clock, on_output=on_output)


def labelled(lines: list[str]) -> dict[str, list[int]]:
    """``label int int ...`` output lines as {label: ints} (last one wins)."""
    out: dict[str, list[int]] = {}
    for line in lines:
        m = re.fullmatch(r"(\w+)((?: -?\d+)+)", line)
        if m:
            out[m[1]] = [int(x) for x in m[2].split()]
    return out
