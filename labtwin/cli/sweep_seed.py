"""One seed of ``labtwin sweep``, as a Dask worker runs it: ``labtwin run SCENARIO --seed N`` in a worker process.

A :class:`SeedTask` is pickled to the workers by value (a few strings and numbers); on the worker it
finds the scenario and builds the twin lab exactly as ``labtwin run`` does (``labtwin.cli.run``), then
runs it with the engine's ``run_scenario``: a fresh twin lab per example, on ephemeral ports and in a
temporary work directory, and a state directory of the seed's own (``SWEEP_DIR/seed-N``: its log, a
failure's HTML and JUnit reports), so a seed's outcome is the one ``labtwin run --seed N`` gives. What
goes back is a small :class:`~labtwin.tools.sweep.SeedResult`.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from labtwin.cli.run import _find, _replay, _twin_options
from labtwin.cli.run_log import RunLog
from labtwin.errors import ConfigError
from labtwin.scenarios.engine.runner import Budget, PropertyScenario, run_scenario
from labtwin.scenarios.labs.lab_file import LabConfig, load_lab_config
from labtwin.tools.sweep import SeedResult
from labtwin.twin.lab_time.speed import Speed

__all__ = ["SeedTask", "find_property_scenario", "run_arguments", "scenario_budget"]

_log = logging.getLogger("labtwin.sweep")


def run_arguments(scenario: str, lab: Path | None, speed: str, broker: str | None, seed: int) -> argparse.Namespace:
    """The arguments ``labtwin run`` would have parsed for this seed (what its helpers read)."""
    return argparse.Namespace(scenario=scenario, lab=lab, twin=lab is not None, bench=False, broker=broker,
                              speed=Speed.parse(speed), seed=seed, work_dir=None, verbose=False)


def find_property_scenario(scenario: str, config: LabConfig | None) -> PropertyScenario:
    """The property scenario a name or ``path/to/file.py::NAME`` names, as ``labtwin run`` finds it.

    Raises:
        ConfigError: there is no such scenario, or it is an experiment (which has nothing to sweep).
    """
    found = _find(run_arguments(scenario, None, "max", None, 0), config)
    if not isinstance(found, PropertyScenario):
        raise ConfigError(f"scenario {found.name!r} is an experiment: it runs once, the same each time, so there "
                          "is nothing to sweep; sweep a property scenario (`labtwin list` shows them)")
    return found


def scenario_budget(spec: PropertyScenario, examples: int | None, steps: int | None,
                    max_time: float | None) -> Budget:
    """The scenario's default budget with what was given instead (as ``labtwin run`` does)."""
    default = spec.default_budget
    budget = Budget(examples=examples or default.examples, steps=steps or default.steps,
                    max_time=max_time if max_time is not None else default.max_time)
    if budget.max_time is not None and budget.max_time <= 0:
        raise ConfigError(f"--max-time must be positive, got {budget.max_time:g}")
    return budget


@dataclass(frozen=True)
class SeedTask:
    """How to run one seed of a sweep; calling it with a seed runs it and returns its result.

    Attributes:
        scenario: a scenario name, or an absolute ``path/to/file.py::NAME``.
        lab: an absolute lab file path (its twin), or None for labtwin's default twin lab.
        speed: the labs' speed (``max`` or a factor), as ``--speed`` takes it.
        broker: a twin lab's broker (``--broker``), or None for the default.
        examples, steps, max_time: the budget given (None: the scenario's default).
        sweep_dir: an absolute directory; each seed works in ``seed-N`` under it.
    """

    scenario: str
    lab: Path | None
    speed: str
    broker: str | None
    examples: int | None
    steps: int | None
    max_time: float | None
    sweep_dir: Path

    def __call__(self, seed: int) -> SeedResult:
        """Run the seed; a run that cannot finish (a lab that would not start) is a crashed seed, not an error."""
        started = time.perf_counter()
        seed_dir = self.sweep_dir / f"seed-{seed}"
        log_path = seed_dir / "run.log"
        worker = f"{socket.gethostname()}:{os.getpid()}"
        # The worker's terminal is not the user's: everything goes to the seed's log file only.
        try:
            with RunLog(log_path, terminal=io.StringIO()):
                return self._run(seed, seed_dir, started, worker, str(log_path))
        except Exception as exc:  # a lab that would not start, a bug of ours: the seed's outcome, logged
            with RunLog(seed_dir / "crash.log", terminal=io.StringIO()):
                _log.exception("seed %d did not finish", seed)
            return SeedResult(seed=seed, passed=False, crashed=True, wall_s=time.perf_counter() - started,
                              worker=worker, failure=f"{type(exc).__name__}: {exc}",
                              log=str(seed_dir / "crash.log"))

    def _run(self, seed: int, seed_dir: Path, started: float, worker: str, log: str) -> SeedResult:
        from labtwin.scenarios.engine.reports import write_reports
        from labtwin.scenarios.labs.twin_lab import twin_lab_factory

        args = run_arguments(self.scenario, self.lab, self.speed, self.broker, seed)
        config = load_lab_config(self.lab) if self.lab is not None else None
        spec = find_property_scenario(self.scenario, config)
        budget = scenario_budget(spec, self.examples, self.steps, self.max_time)
        factory = twin_lab_factory(_twin_options(spec, args, config), file_decides_boards=config is not None)
        run = run_scenario(spec, lab_factory=factory, seed_value=seed, budget=budget,
                           progress=_log.info, replay=_replay(args))
        report = None if run.passed else str(write_reports(run, seed_dir)["html"])
        return SeedResult(seed=seed, passed=run.passed, examples=run.examples_run, steps=run.steps_run,
                          lab_time_s=run.lab_time_s, wall_s=time.perf_counter() - started, worker=worker,
                          failure=run.failure, minimal_example=tuple(run.minimal_example),
                          reproduce_blob=run.reproduce_blob, replay_command=run.replay_command, log=log,
                          report=report)
