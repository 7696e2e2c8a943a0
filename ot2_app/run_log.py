"""The run log: every robot command each task issued, with opentrons' estimate of its duration.

The log listens to the protocol context's command broker (the same feed as
``ProtocolContext.commands()``), so it records what the robot was told to do on the real OT-2
and in the simulator alike. Durations come from opentrons' own ``DurationEstimator``; commands
it cannot cost (dropping a tip into the trash bin, homing) count as 0 s, so per-task
estimates are lower bounds. Entries are kept in memory (the newest ``keep``) and, when a path
is given, appended to a JSON-lines file.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import TypedDict

from labtwin.errors import TaskRefused

if TYPE_CHECKING:
    from opentrons.protocol_api import ProtocolContext
    from opentrons.protocols.duration import DurationEstimator

__all__ = ["RobotCommand", "RunLog", "RunLogEntry"]

log = logging.getLogger(__name__)


class RobotCommand(TypedDict):
    """One command the robot was given, e.g. ``command.ASPIRATE``."""

    command: str
    text: str
    estimated_s: float | None


class RunLogEntry(TypedDict):
    """One task call: what it asked, what the robot did, how long it took and would take."""

    seq: int
    task: str
    parameters: dict[str, Any]
    started_at: float
    wall_s: float
    estimated_robot_s: float
    outcome: str
    error: str | None
    commands: list[RobotCommand]


class RunLog:
    """Records the robot commands of each task; see the module docstring."""

    def __init__(self, path: Path | None = None, *, keep: int = 1000) -> None:
        self.path = path
        self._entries: deque[RunLogEntry] = deque(maxlen=keep)
        self._next_seq = 1
        self._current: RunLogEntry | None = None
        self._open_commands: list[RobotCommand] = []
        self._estimator: DurationEstimator | None = None

    def attach(self, context: ProtocolContext) -> None:
        """Start listening to the context's commands."""
        from opentrons.legacy_commands.types import COMMAND
        from opentrons.protocols.duration import DurationEstimator

        # The estimator warns once per command it cannot cost, i.e. on every mix; the module
        # docstring states the rule once instead.
        logging.getLogger("opentrons.protocols.duration.estimator").setLevel(logging.ERROR)
        self._estimator = DurationEstimator()
        context.broker.subscribe(COMMAND, self._on_command)  # type: ignore[arg-type]

    def entries(self, since: int = 0) -> list[RunLogEntry]:
        """Entries with ``seq`` greater than ``since``, oldest first."""
        return [entry for entry in self._entries if entry["seq"] > since]

    @contextmanager
    def task(self, name: str, parameters: dict[str, Any]) -> Iterator[RunLogEntry]:
        """Record the commands issued inside the block as one entry; yields it (filled in on exit)."""
        entry = RunLogEntry(seq=self._next_seq, task=name, parameters=dict(parameters), started_at=time.time(),
                            wall_s=0.0, estimated_robot_s=0.0, outcome="running", error=None, commands=[])
        self._next_seq += 1
        self._current = entry
        self._open_commands.clear()
        started = time.perf_counter()
        estimate_before = self._estimated_total()
        try:
            yield entry
            entry["outcome"] = "success"
        except TaskRefused as e:
            entry["outcome"], entry["error"] = e.code, e.message
            raise
        except Exception as e:
            entry["outcome"], entry["error"] = "task_failed", f"{type(e).__name__}: {e}"
            raise
        finally:
            self._current = None
            entry["wall_s"] = round(time.perf_counter() - started, 6)
            entry["estimated_robot_s"] = round(self._estimated_total() - estimate_before, 3)
            self._entries.append(entry)
            self._append_to_file(entry)

    def _estimated_total(self) -> float:
        return self._estimator.get_total_duration() if self._estimator is not None else 0.0

    def _on_command(self, message: dict[str, Any]) -> None:
        # Called by opentrons inside the robot call: an exception here would fail the robot
        # command itself, so estimation problems are logged, never raised.
        entry = self._current
        if entry is None:
            return
        if message.get("$") == "before":
            record = RobotCommand(command=str(message.get("name", "")),
                                  text=str(message.get("payload", {}).get("text", "")), estimated_s=None)
            entry["commands"].append(record)
            self._open_commands.append(record)
            return
        finished = self._open_commands.pop() if self._open_commands else None
        if self._estimator is None:
            return
        before = self._estimated_total()
        try:
            self._estimator.on_message(message)  # type: ignore[arg-type]
        except Exception:
            log.warning("no duration estimate for %s", message.get("name"), exc_info=True)
            return
        if finished is not None:
            finished["estimated_s"] = round(self._estimated_total() - before, 3)

    def _append_to_file(self, entry: RunLogEntry) -> None:
        if self.path is None:
            return
        try:
            with open(self.path, "a", encoding="utf-8") as file:
                file.write(json.dumps(entry) + "\n")
        except OSError:
            log.exception("cannot append to the run log file %s", self.path)
