"""At ``--speed max`` boards that poll on a period drift into phase and then wake together (docs/time.md).

Three boards whose firmware sleeps a second in a loop, started a fraction of a second apart, so their
rounds fall at three phases of the second. With the default wake slack (0.5 % of a wait, at most
5 ms) each board's sleep may end a few milliseconds late, so the boards close in on each other
round by round until they wake at the same jump; every sleep, as the board measures it with its own
clock, still lasts its second within that slack. With no slack the phases stay where they started.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from lab_time_testkit import host_clock, one_file_board, run_lab

from labtwin.twin.lab_time import Speed
from labtwin.twin.lab_time.max_tuning import SLACK_VARIABLE, WAKE_SLACK, WAKE_SLACK_MAX_S

ROUNDS = 300  # the boards need at most a circle of the second at 5 ms a round (200) to close in
POLLER = f"""\
import time

for i in range({ROUNDS}):
    time.sleep(1)
    print("round", i, time.ticks_us())
print("done")
while True:
    time.sleep(1)
"""
STARTS = {"a": 0.0, "b": 0.21, "c": 0.53}  # lab seconds between the boards' starts
SCHEDULING_S = 0.02
"""A round's own work (a print through the pipe) and the OS's scheduling of three VMs on a busy CI core:
lab time passes at real rate while a VM works (measured here: 0.1-2.5 ms)."""


def rounds_of(tmp_path: Path) -> dict[str, list[int]]:
    """Each board's round stamps (``ticks_us`` after each one-second sleep), in lab microseconds."""

    async def main(_speed: Speed) -> dict[str, list[int]]:
        clock = host_clock()
        async with AsyncExitStack() as stack:
            boards = []
            for name, pause in STARTS.items():
                await asyncio.sleep(pause)
                (tmp_path / name).mkdir()
                board = one_file_board(tmp_path / name, POLLER, clock, device_id=name)
                boards.append(await stack.enter_async_context(board))
            for board in boards:
                await board.wait_for_output("^done$", timeout=2 * ROUNDS)
            return {board.device_id: [int(line.split()[2]) for line in board.log_lines if line.startswith("round ")]
                    for board in boards}

    return run_lab("max", main)


def distance_to_nearest(stamp: int, others: list[int]) -> float:
    """Lab seconds from ``stamp`` to the nearest of ``others``."""
    return min(abs(stamp - other) for other in others) / 1e6


def test_boards_polling_each_second_close_in_and_wake_together(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SLACK_VARIABLE, raising=False)
    rounds = rounds_of(tmp_path)
    for name, stamps in rounds.items():
        assert len(stamps) == ROUNDS, name
        late = [(stamps[i + 1] - stamps[i]) / 1e6 - 1.0 for i in range(ROUNDS - 1)]
        # never short of its second; late by the slack at most, plus the round's own work and scheduling
        assert min(late) >= 0.0, (name, min(late))
        assert max(late) <= min(WAKE_SLACK * 1.0, WAKE_SLACK_MAX_S) + SCHEDULING_S, (name, max(late))
    # by the last rounds the three boards wake at one jump (measured: 0.1-0.2 ms apart; with no slack 0.2 s)
    for stamp in rounds["a"][-10:]:
        assert distance_to_nearest(stamp, rounds["b"]) <= SCHEDULING_S, stamp
        assert distance_to_nearest(stamp, rounds["c"]) <= SCHEDULING_S, stamp


def test_with_no_slack_each_board_keeps_its_phase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SLACK_VARIABLE, "0")
    rounds = rounds_of(tmp_path)
    for name, stamps in rounds.items():
        late = [(stamps[i + 1] - stamps[i]) / 1e6 - 1.0 for i in range(ROUNDS - 1)]
        assert 0.0 <= min(late) and max(late) <= SCHEDULING_S, (name, min(late), max(late))
    # the phases they started at (a fifth of a second apart or more) stay apart
    for stamp in rounds["a"][-10:]:
        assert distance_to_nearest(stamp, rounds["b"]) >= 0.1, stamp
        assert distance_to_nearest(stamp, rounds["c"]) >= 0.1, stamp
