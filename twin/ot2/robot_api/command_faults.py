"""Make a run's N-th command fail with a chosen engine error, as a real robot's command can.

The engine runs each command through handlers it owns (equipment, movement, pipetting, tip
handling, run control...). :func:`arm` wraps those handlers of one engine: while the target
command executes, any handler call raises the chosen error instead, so the engine records it
exactly as it records a real hardware failure: the command ``failed`` with that error, and (the
twin never recovers) the run ``failed`` with it in its ``errors``. A command that uses no handler
(``comment``, ``loadLiquid``) cannot fail this way; the fault then fires on the first later
command that does. This reaches into opentrons 9.0.0's engine (pinned exactly in pyproject).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labtwin.errors import ConfigError

__all__ = ["COMMAND_ERRORS", "CommandFailure", "arm"]


def _tip_not_attached() -> Exception:
    from opentrons.protocol_engine.errors import TipNotAttachedError

    return TipNotAttachedError("Pipette should have a tip attached, but does not (injected by labtwin).")


def _shared(name: str, message: str) -> Callable[[], Exception]:
    def build() -> Exception:
        from opentrons_shared_data.errors import exceptions

        return getattr(exceptions, name)(message=message + " (injected by labtwin)")
    return build


COMMAND_ERRORS: dict[str, Callable[[], Exception]] = {
    "tip-not-attached": _tip_not_attached,
    "tip-pickup-failed": _shared("TipPickupFailedError", "Failed to pick up a tip"),
    "tip-drop-failed": _shared("TipDropFailedError", "Failed to drop a tip"),
    "stall": _shared("StallOrCollisionDetectedError", "A motor stalled or the gantry collided"),
    "motor-driver": _shared("MotorDriverError", "A motor driver reported an error"),
    "command-timed-out": _shared("CommandTimedOutError", "A hardware command timed out"),
}
"""Fault name -> the engine error it raises (names are labtwin's; the errors are opentrons')."""

_HANDLERS = ("_equipment", "_movement", "_gantry_mover", "_labware_movement", "_pipetting", "_tip_handler",
             "_run_control", "_rail_lights", "_status_bar", "_task_handler")


@dataclass(frozen=True)
class CommandFailure:
    """Fail the run's ``at_command``-th command (1-based, as listed by ``GET /runs/{id}/commands``)."""

    at_command: int
    error: str = "tip-not-attached"

    def __post_init__(self) -> None:
        if self.at_command < 1:
            raise ConfigError(f"at_command counts from 1, got {self.at_command}")
        if self.error not in COMMAND_ERRORS:
            raise ConfigError(f"unknown command error {self.error!r}; choose one of {sorted(COMMAND_ERRORS)}")


class _Trigger:
    """Armed once the target command starts; disarmed by the first handler call that raises."""

    def __init__(self, failure: CommandFailure) -> None:
        self.failure = failure
        self.pending = False
        self.fired = False

    def maybe_raise(self) -> None:
        if self.pending and not self.fired:
            self.fired = True
            raise COMMAND_ERRORS[self.failure.error]()


class _FailingHandler:
    """Stands in for one engine handler: delegates everything, raising when the trigger is pending."""

    def __init__(self, handler: Any, trigger: _Trigger) -> None:
        self._handler = handler
        self._trigger = trigger

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._handler, name)
        if not callable(attribute):
            return attribute
        trigger = self._trigger
        if inspect.iscoroutinefunction(attribute):
            @functools.wraps(attribute)
            async def call_async(*args: Any, **kwargs: Any) -> Any:
                trigger.maybe_raise()
                return await attribute(*args, **kwargs)
            return call_async

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            trigger.maybe_raise()
            return attribute(*args, **kwargs)
        return call


def arm(engine: Any, failure: CommandFailure) -> None:
    """Make ``engine`` (an opentrons ProtocolEngine with its queue worker started) fail as ``failure`` says."""
    executor = engine._queue_worker._command_executor
    trigger = _Trigger(failure)
    for name in _HANDLERS:
        if hasattr(executor, name):
            setattr(executor, name, _FailingHandler(getattr(executor, name), trigger))
    execute = executor.execute
    executed = 0

    async def execute_with_fault(command_id: str) -> None:
        # The engine executes a run's commands one at a time, in the order the run lists them.
        nonlocal executed
        executed += 1
        if executed >= failure.at_command:
            trigger.pending = True
        await execute(command_id)

    executor.execute = execute_with_fault
