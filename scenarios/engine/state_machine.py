"""LabStateMachine: the base of labtwin's Hypothesis state machines.

A scenario is a `RuleBasedStateMachine` whose rules are orchestrator actions (and, where the
lab has them, faults) and whose invariants say what must always hold. Each Hypothesis example
gets a fresh lab from the active run context (see labtwin.scenarios.engine.runner), so shrinking replays an
example from a clean bench. Rules are synchronous, as Hypothesis wants; the lab lives on an
asyncio loop in a background thread and `self.run(coro)` bridges to it.

The lab is a :class:`~labtwin.scenarios.labs.lab.Lab`. A rule that needs more than its clients is
marked ``@needs(Capability.FAULTS)`` or ``@needs(Capability.HARDWARE)`` and reaches the twin through
``self.twin(capability)``; on a lab without the capability the rule is skipped and reported.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from hypothesis import note
from hypothesis.errors import HypothesisException
from hypothesis.stateful import RuleBasedStateMachine, precondition

from labtwin.errors import BrokerUnavailable, ConfigError, DeviceOffline, TaskError, TaskTimeout
from labtwin.orchestrator.loop_thread import LoopThread
from labtwin.orchestrator.task_client import AsyncTaskClient
from labtwin.scenarios.engine.run_record import ExampleRecord, StepRecord
from labtwin.scenarios.labs.lab import Capability, Lab, TwinHardware, twin_hardware
from labtwin.twin.lab_time import released, speed_factor

__all__ = ["LabStateMachine", "Outcome", "RunContext", "needs", "run_context"]

T = TypeVar("T")

# Slack on top of a request's timeout before "never a hang past its timeout" is violated.
HANG_SLACK_S = 1.0


@dataclass
class Outcome:
    """How one orchestrator request ended: exactly one of these per request."""

    kind: str  # "ok" | "task_error" | "timeout" | "offline" | "broker"
    value: Any = None
    code: str | None = None
    message: str = ""
    elapsed_s: float = 0.0

    @property
    def label(self) -> str:
        return f"TaskError:{self.code}" if self.kind == "task_error" else self.kind


@dataclass
class RunContext:
    """Everything a running scenario needs from its runner: the loop, a lab factory, budgets, records."""

    loop: LoopThread
    open_lab: Callable[[Mapping[str, object]], Coroutine[Any, Any, Lab]]
    close_lab: Callable[[Lab], Coroutine[Any, Any, None]]
    collect: Callable[[Lab, ExampleRecord], None]
    capabilities: frozenset[Capability] = frozenset()
    examples: list[ExampleRecord] = field(default_factory=list)
    skipped_rules: dict[str, str] = field(default_factory=dict)
    steps_run: int = 0
    # Told of each example's progress (its record, lab seconds since its lab opened): a live progress line.
    watch: Callable[[ExampleRecord, float], None] | None = None


_active: contextvars.ContextVar[RunContext] = contextvars.ContextVar("labtwin_run_context")


def run_context() -> contextvars.ContextVar[RunContext]:
    """The context variable the runner sets while a scenario runs."""
    return _active


def needs(capability: Capability | str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a rule as needing a lab capability; on a lab without it the rule is skipped, and reported.

    ``capability`` is a :class:`Capability` or its value (``"faults"``, ``"hardware"``).

    Raises:
        ConfigError: ``capability`` names no capability.
    """
    try:
        wanted = Capability(capability)
    except ValueError:
        known = ", ".join(c.value for c in Capability)
        raise ConfigError(f"needs({capability!r}): no such capability; the capabilities are {known}") from None

    def decorate(rule: Callable[..., Any]) -> Callable[..., Any]:
        def available(machine: LabStateMachine) -> bool:
            if wanted in machine.context.capabilities:
                return True
            machine.context.skipped_rules[rule.__name__] = wanted.value
            return False

        return precondition(available)(rule)

    return decorate


class LabStateMachine(RuleBasedStateMachine):
    """Base class of scenarios. Subclasses set `lab_options` and define rules and invariants.

    ``lab_options`` are what the scenario asks of a twin lab (TwinLab keywords: devices, OT-2, network
    twin...); a bench ignores them, being what it is.
    """

    lab_options: ClassVar[Mapping[str, object]] = {}
    request_timeout: ClassVar[float] = 5.0

    def __init__(self) -> None:
        super().__init__()
        try:
            self.context = _active.get()
        except LookupError:
            raise RuntimeError(
                "run scenarios through `labtwin run` or labtwin.scenarios.engine.runner.run_scenario") from None
        self.record = ExampleRecord(index=len(self.context.examples))
        self.context.examples.append(self.record)
        # Released like a step: at --speed max the boards' boot waits (WiFi association, polls) are jumped.
        self.lab: Lab = self.context.loop.run(released(self.context.open_lab(dict(self.lab_options))))
        # The lab decides which devices exist: a twin lab those of lab_options, a bench its own.
        self.devices: list[str] = list(self.lab.device_ids)
        self.clock_origin = self._now()
        self._watch()

    @property
    def device(self) -> str:
        """The lab's first device (for single-board scenarios)."""
        return self.devices[0]

    def twin(self, capability: Capability = Capability.HARDWARE) -> TwinHardware:
        """The lab's twin-only accessors, for a rule or invariant marked ``@needs(capability)``.

        Raises:
            ConfigError: the lab does not offer ``capability`` (a bench offers none).
        """
        return twin_hardware(self.lab, capability)

    # --- plumbing -------------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run a coroutine on the lab's loop and return its result (``timeout``: real seconds)."""
        name = getattr(coro, "__qualname__", "a coroutine")
        return self.context.loop.run(released(coro), timeout, what=f"{name} on the lab's loop")

    def _now(self) -> float:
        return self.lab.clock.now()

    def _watch(self) -> None:
        if self.context.watch is not None:
            self.context.watch(self.record, self._now() - self.clock_origin)

    def log_step(self, rule: str, arguments: dict[str, Any], started: float, outcome: str, detail: str = "") -> None:
        """Record a step for the report (and as a Hypothesis note, shown with a failing example).

        A fault's steps follow a convention the progress line reads (labtwin.scenarios.engine.progress):
        ``log_step("fault.KIND", {"target": T}, ..., "fault started")`` when it starts, and
        ``log_step("clear.KIND", {"target": T}, ..., "fault cleared")`` when it clears.
        """
        step = StepRecord(len(self.record.steps), rule, arguments, started, self._now(), outcome, detail)
        self.record.steps.append(step)
        self.context.steps_run += 1
        note(f"step {step.index}: {rule}({arguments}) -> {outcome} {detail}".rstrip())
        self._watch()

    def call(self, device_id: str, task: str, parameters: dict[str, Any], *, timeout: float | None = None,
             client: AsyncTaskClient | None = None) -> Outcome:
        """Run a task through the orchestrator and classify how it ended (exactly one outcome).

        The task goes to ``device_id``'s client in the lab, or to ``client`` (the OT-2's, say).
        """
        limit = self.request_timeout if timeout is None else timeout
        device = client if client is not None else self.lab.client(device_id)
        started_clock = self._now()
        try:
            value = self.run(device.call(task, parameters, timeout=limit), timeout=limit + 30)
            outcome = Outcome("ok", value=value)
        except TaskError as e:
            outcome = Outcome("task_error", code=e.code, message=e.message)
        except TaskTimeout as e:
            outcome = Outcome("timeout", message=str(e))
        except DeviceOffline as e:
            outcome = Outcome("offline", message=str(e))
        except BrokerUnavailable as e:
            outcome = Outcome("broker", message=str(e))
        outcome.elapsed_s = self._now() - started_clock  # lab seconds, like the timeout
        detail = outcome.message if outcome.kind != "ok" else _short(outcome.value)
        self.log_step(f"{device_id}.{task}", parameters, started_clock, outcome.label, detail)
        # The slack is real time: at speed N the hand-over between threads counts N times.
        assert outcome.elapsed_s <= limit + HANG_SLACK_S * speed_factor(self.lab.clock), (
            f"{task} on {device_id} took {outcome.elapsed_s:.2f} s, past its {limit} s timeout")
        return outcome

    def teardown(self) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, Exception) and not isinstance(exc, HypothesisException):
            self.record.passed = False
            self.record.error = f"{type(exc).__name__}: {exc}"
        try:
            self.context.collect(self.lab, self.record)
        finally:
            try:
                self.run(self.context.close_lab(self.lab))
            except Exception as e:
                # Hypothesis may only see this as a flaky example (it does not fail the same way on replay):
                # the record says what broke.
                self.record.passed = False
                self.record.error = self.record.error or f"closing the lab failed: {type(e).__name__}: {e}"
                raise


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
