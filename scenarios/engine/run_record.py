"""What a scenario run recorded: the data model that reports (JUnit XML, HTML) are written from.

Times are lab-clock seconds (the twin's clock, monotonic from lab start) unless named `*_at`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["ExampleRecord", "FaultWindow", "ScenarioRun", "StepRecord", "TraceSeries"]


@dataclass
class StepRecord:
    """One rule the state machine ran, and how it ended."""

    index: int
    rule: str
    arguments: dict[str, Any]
    started: float
    finished: float
    outcome: str  # "ok", "TaskError:<code>", "TaskTimeout", "DeviceOffline", "fault started", ...
    detail: str = ""


@dataclass
class FaultWindow:
    """A fault's active interval; end is None if it was still active when the example ended."""

    name: str
    target: str
    start: float
    end: float | None
    description: str = ""


@dataclass
class TraceSeries:
    """A recorded hardware signal of one device (e.g. "adc.0" volts, "servo.GPIO15" degrees, "pin.LED")."""

    device_id: str
    signal: str
    times: list[float]
    values: list[float]


@dataclass
class ExampleRecord:
    """One Hypothesis example: a fresh lab, a sequence of steps, the faults and the traces."""

    index: int
    steps: list[StepRecord] = field(default_factory=list)
    faults: list[FaultWindow] = field(default_factory=list)
    traces: list[TraceSeries] = field(default_factory=list)
    passed: bool = True
    error: str | None = None


@dataclass
class ScenarioRun:
    """A whole `labtwin run <scenario>`: budgets, outcome, and the examples worth showing."""

    scenario: str
    description: str
    seed: int
    started_at: datetime
    duration_s: float
    budgets: dict[str, Any]
    passed: bool
    examples_run: int
    steps_run: int
    failure: str | None = None
    minimal_example: list[str] = field(default_factory=list)  # Hypothesis' printed minimal program
    reproduce_blob: str | None = None  # the @reproduce_failure(...) line, when Hypothesis gave one
    replay_command: str | None = None
    skipped_rules: dict[str, str] = field(default_factory=dict)  # rule -> missing capability
    firmware_hash: str | None = None
    shown_examples: list[ExampleRecord] = field(default_factory=list)  # the minimal failing one, or the last ones
    lab_time_s: float = 0.0  # lab seconds the run took (its loop's clock; duration_s is wall time)
    speed: str = "1"  # the labs' speed: a factor or "max"

    @property
    def speedup(self) -> float:
        """Lab time per wall time."""
        return self.lab_time_s / self.duration_s if self.duration_s > 0 else 1.0

    def timing(self) -> str:
        """``lab time 120.0 s, wall time 4.1 s (29.3x, --speed max)``, for summaries and reports."""
        return (f"lab time {self.lab_time_s:.1f} s, wall time {self.duration_s:.1f} s "
                f"({self.speedup:.1f}x, --speed {self.speed})")
