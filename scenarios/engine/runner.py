"""Run a scenario (a LabStateMachine state machine) under budgets, with replay and a run record.

    run = run_scenario(EXPERIMENTS["sensor-property"], seed=7, budget=Budget(examples=5, steps=15))

A failing run records Hypothesis' minimal example and its reproduction blob; the same seed
replays it (`labtwin run <scenario> --seed N`). Every run is seeded, so it keeps no Hypothesis example
database: Hypothesis uses none under ``@seed``, and the seed already repeats the run's examples.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter
from hypothesis.stateful import get_state_machine_test

from labtwin.board_firmware import firmware_hash
from labtwin.orchestrator.loop_thread import LoopThread
from labtwin.scenarios.engine.progress import ProgressLine
from labtwin.scenarios.engine.run_record import ExampleRecord, ScenarioRun, TraceSeries
from labtwin.scenarios.engine.state_machine import LabStateMachine, RunContext, run_context
from labtwin.scenarios.labs.lab import Capability, Lab, twin_hardware
from labtwin.twin.lab_time import Speed, lab_clock_of, lab_loop_factory
from labtwin.twin.lab_time.speed import REAL

__all__ = ["Budget", "LabFactory", "PropertyScenario", "run_scenario"]

DEFAULT_STATE_DIR = Path(".labtwin")
# With a time budget, examples run in Hypothesis runs of this many (seeds seed, seed+1, ...), and the
# budget is checked between runs: Hypothesis itself has no wall-clock stop that keeps replays exact.
CHUNK_EXAMPLES = 5


@dataclass(frozen=True)
class Budget:
    """How much a run may do: Hypothesis examples, steps per example, and wall-clock seconds."""

    examples: int = 10
    steps: int = 20
    max_time: float | None = None


@dataclass(frozen=True)
class PropertyScenario:
    """A named scenario: its state machine and the capabilities it would like."""

    name: str
    machine: type[LabStateMachine]
    default_budget: Budget = field(default_factory=Budget)

    @property
    def description(self) -> str:
        doc = self.machine.__doc__ or ""
        return doc.strip().split("\n")[0]


@dataclass
class LabFactory:
    """How a run gets labs: open one per example (with the scenario's ``lab_options``), close it after.

    Attributes:
        open: opens (enters) a lab for one example, given the scenario's lab options.
        close: closes a lab ``open`` returned.
        capabilities: what the labs offer, known before any is opened (``needs`` consults it).
        firmware_dir: the firmware the labs' boards run (its hash goes in the run record), or None
            for a bench, whose firmware is whatever was flashed.
        firmware_overlay: a directory the labs lay over ``firmware_dir`` (hashed with it).
        speed: how fast the labs' time runs (their event loop's, docs/time.md).
    """

    open: Callable[[Mapping[str, object]], Coroutine[Any, Any, Lab]]
    close: Callable[[Lab], Coroutine[Any, Any, None]]
    capabilities: frozenset[Capability]
    firmware_dir: Path | None = None
    firmware_overlay: Path | None = None
    speed: Speed = REAL


def _collect_traces(lab: Lab, record: ExampleRecord) -> None:
    """The boards' signal traces into ``record``, where the lab lets its hardware be looked into."""
    if Capability.HARDWARE not in lab.capabilities:
        return  # a bench: no board models to read
    hardware = twin_hardware(lab)
    for device_id in lab.device_ids:
        trace = hardware.board(device_id).model.trace
        for signal in trace.signals():
            times, values = trace.arrays(signal)
            record.traces.append(TraceSeries(device_id, signal, times.tolist(), values.tolist()))


def _run_hypothesis(spec: PropertyScenario, seed_value: int, examples: int, steps: int,
                    lines: list[str]) -> Exception | None:
    """One seeded Hypothesis run of the state machine; returns the (shrunk) failure, if any."""
    test_settings = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,  # a seeded run: Hypothesis would not read or write one (module docstring)
        print_blob=True,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    )
    test = seed(seed_value)(get_state_machine_test(spec.machine, settings=test_settings))
    try:
        with with_reporter(lambda value: lines.append(str(value))):  # Hypothesis reports objects; we keep text
            test()
    except Exception as e:  # the scenario failed: an invariant, a rule, or the lab itself
        return e
    return None


def _replay_command(run: str, chunk: tuple[int, int], budget: Budget) -> str:
    chunk_seed, chunk_examples = chunk
    return f"{run} --seed {chunk_seed} --examples {chunk_examples} --steps {budget.steps}"


def run_scenario(
    spec: PropertyScenario,
    *,
    lab_factory: LabFactory,
    seed_value: int = 0,
    budget: Budget | None = None,
    progress: Callable[[str], None] = print,
    status: ProgressLine | None = None,
    replay: str | None = None,
) -> ScenarioRun:
    """Run the scenario to completion (or first failure, shrunk) and return its record.

    ``progress`` gets a line per finished example; ``status``, if given, shows the running example live
    (labtwin.scenarios.engine.progress), and is cleared before each ``progress`` line.

    ``replay`` is the command that runs this scenario again on this lab (default ``labtwin run NAME``;
    a lab's own scenario needs its ``--lab FILE``); the seed and budget are added to it.
    """
    budget = budget or spec.default_budget
    started_at = datetime.now(UTC)
    started = time.monotonic()
    hypothesis_lines: list[str] = []

    def say(line: str) -> None:
        if status is not None:
            status.clear()
        progress(line)

    def collect(lab: Lab, record: ExampleRecord) -> None:
        _collect_traces(lab, record)
        outcome = "ok" if record.passed else f"FAILED ({record.error})"
        say(f"  example {record.index + 1}: {len(record.steps)} steps, {len(record.faults)} faults, "
            f"{outcome}  [{time.monotonic() - started:.1f} s]")

    # The steps run on a loop of the labs' speed, driven from this thread (the clock holds between them).
    loop = LoopThread(f"labtwin-scenario-{spec.name}", lab_loop_factory(lab_factory.speed, driven=True))
    context = RunContext(loop=loop, open_lab=lab_factory.open, close_lab=lab_factory.close, collect=collect,
                         capabilities=lab_factory.capabilities,
                         watch=status.update if status is not None else None)
    if budget.max_time is None:
        chunks = [(seed_value, budget.examples)]
    else:
        full, rest = divmod(budget.examples, CHUNK_EXAMPLES)
        sizes = [CHUNK_EXAMPLES] * full + ([rest] if rest else [])
        chunks = [(seed_value + i, size) for i, size in enumerate(sizes)]
    failure: BaseException | None = None
    failing_chunk = chunks[0]
    token = run_context().set(context)
    loop.start()
    if status is not None:
        status.start(budget.examples)
    try:
        for chunk_seed, chunk_examples in chunks:
            if budget.max_time is not None and time.monotonic() - started > budget.max_time:
                say(f"  time budget of {budget.max_time:g} s spent after {len(context.examples)} examples")
                break
            failing_chunk = (chunk_seed, chunk_examples)
            failure = _run_hypothesis(spec, chunk_seed, chunk_examples, budget.steps, hypothesis_lines)
            if failure is not None:
                break
    finally:
        if status is not None:
            status.stop()
        clock = lab_clock_of(loop.event_loop) if loop.event_loop is not None else None
        lab_time_s = clock.now() if clock is not None else time.monotonic() - started
        loop.stop()
        run_context().reset(token)

    failure_text = None if failure is None else f"{type(failure).__name__}: {failure}"
    failing = [e for e in context.examples if not e.passed]
    if isinstance(failure, Flaky) and failing:
        # Hypothesis could not replay it deterministically (timing): still say what broke.
        failure_text = f"{failing[-1].error} (flaky: it did not reproduce on replay, so it depends on timing)"
    notes = [str(n) for n in getattr(failure, "__notes__", [])]
    blob = next((n.strip() for n in notes + hypothesis_lines if "@reproduce_failure" in n), None)
    minimal = [line for line in hypothesis_lines + notes if line and "@reproduce_failure" not in line]
    examples = context.examples
    shown = (failing[-1:] or examples[-1:]) if failure is not None else examples[-2:]
    return ScenarioRun(
        scenario=spec.name,
        description=spec.description,
        seed=seed_value,
        started_at=started_at,
        duration_s=time.monotonic() - started,
        lab_time_s=lab_time_s,
        speed=str(lab_factory.speed),
        budgets={"examples": budget.examples, "steps": budget.steps, "max_time": budget.max_time},
        passed=failure is None,
        examples_run=len(examples),
        steps_run=context.steps_run,
        failure=failure_text,
        minimal_example=minimal,
        reproduce_blob=blob,
        replay_command=(_replay_command(replay or f"labtwin run {spec.name}", failing_chunk, budget)
                        if failure else None),
        skipped_rules=dict(context.skipped_rules),
        firmware_hash=(None if lab_factory.firmware_dir is None
                       else firmware_hash(lab_factory.firmware_dir, lab_factory.firmware_overlay)),
        shown_examples=shown,
    )
