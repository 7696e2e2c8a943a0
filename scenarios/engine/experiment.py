"""Experiment: a scenario run once, step by step, over a lab (``labtwin run NAME``).

An experiment is an async function taking a lab and a report callback; ``@experiment`` makes one::

    @experiment(summary="Switch the LED and read the BME280", needs_ot2=False)
    async def led_and_bme280(lab, report):
        client = lab.client(lab.device_ids[0])
        report(str(await client.execute_task("read_bme280")))

Its name is the function's, with ``_`` as ``-`` (``led-and-bme280``), unless ``name`` is given;
``@experiment`` without parentheses works too.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

from labtwin.errors import ConfigError
from labtwin.scenarios.labs.lab import Lab

__all__ = ["Experiment", "ExperimentRun", "Report", "experiment"]

Report = Callable[[str], None]
"""Where an experiment's lines go (the terminal, a log)."""
ExperimentRun = Callable[[Lab, Report], Awaitable[None]]
"""What an experiment does: an async function of the lab and a report callback."""


@dataclass(frozen=True)
class Experiment:
    """A runnable experiment over a lab (a twin or a bench: it looks into the hardware only where the
    lab offers it)."""

    name: str
    summary: str
    run: ExperimentRun
    needs_ot2: bool = False
    """Whether the lab must include the OT-2 (its task app)."""
    needs_ot2_robot_api: bool = False
    """Whether the lab must include the OT-2 robot API twin."""
    lab_options: Mapping[str, object] = field(default_factory=dict)
    """What the experiment asks of labtwin's default twin lab beyond the OT-2s (TwinLab keywords).
    A lab built from a lab file is what the file says, and ignores them."""
    lab_file: Path | None = None
    """The lab file it runs on when none is given (an example lab's own): its twin, unless ``--lab``."""

    @property
    def takes_duration(self) -> bool:
        """Whether its function takes ``duration`` (lab seconds; ``labtwin run NAME --duration 1h``)."""
        return "duration" in inspect.signature(self.run).parameters

    async def start(self, lab: Lab, report: Report, duration: float | None = None) -> None:
        """Run it on ``lab``; ``duration`` (lab seconds) goes to an experiment that takes one.

        Raises:
            ConfigError: a duration for an experiment that takes none.
        """
        if duration is None:
            await self.run(lab, report)
            return
        if not self.takes_duration:
            raise ConfigError(f"experiment {self.name!r} runs until it is done; --duration is for experiments "
                              "that take a duration (like `logger`)")
        await self.run(lab, report, duration=duration)  # type: ignore[call-arg]


@overload
def experiment(name: ExperimentRun, /) -> Experiment: ...


@overload
def experiment(name: str | None = None, *, summary: str | None = None, needs_ot2: bool = False,
               needs_ot2_robot_api: bool = False) -> Callable[[ExperimentRun], Experiment]: ...


def experiment(name: str | ExperimentRun | None = None, *, summary: str | None = None, needs_ot2: bool = False,
               needs_ot2_robot_api: bool = False) -> Experiment | Callable[[ExperimentRun], Experiment]:
    """Make an async function ``(lab, report)`` an :class:`Experiment`: ``@experiment``, ``@experiment()``,
    ``@experiment("name")`` or with keywords. Its docstring's first line is the summary unless ``summary``
    is given.

    Raises:
        ConfigError: the function is not ``async def f(lab, report)``.
    """

    def make(run: ExperimentRun, given: str | None) -> Experiment:
        title = getattr(run, "__name__", "experiment")
        if not inspect.iscoroutinefunction(run):
            raise ConfigError(f"@experiment {title}: write it as `async def {title}(lab, report)`; it is not async")
        try:
            inspect.signature(run).bind(None, None)
        except TypeError:
            raise ConfigError(f"@experiment {title}: it must take (lab, report), it takes "
                              f"{inspect.signature(run)}") from None
        doc = (getattr(run, "__doc__", None) or "").strip().split("\n")[0]
        return Experiment(given or title.replace("_", "-"), summary or doc, run,
                          needs_ot2=needs_ot2, needs_ot2_robot_api=needs_ot2_robot_api)

    if callable(name):  # a bare @experiment
        return make(name, None)
    return lambda run: make(run, name)
