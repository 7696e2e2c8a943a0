"""Make a run's N-th command fail with a chosen engine error, as a real robot's command can.

The engine runs each command through handlers it owns (equipment, movement, pipetting, tip
handling, run control...). :func:`arm` wraps those handlers of one engine: while the target
command executes, any handler call raises the chosen error instead, so the engine records it
exactly as it records a real hardware failure: the command ``failed`` with that error, and (the
twin never recovers) the run ``failed`` with it in its ``errors``. A command that uses no handler
(``comment``, ``loadLiquid``) cannot fail this way; the fault then fires on the first later
command that does. The reach into opentrons' engine is
:func:`labtwin.twin.vendor_patches.intercept_engine_commands`, with its version check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labtwin.errors import ConfigError
from labtwin.twin import vendor_patches

__all__ = ["COMMAND_ERRORS", "CommandFailure", "arm"]


def _tip_not_attached() -> Exception:
    from opentrons.protocol_engine.errors import TipNotAttachedError

    return TipNotAttachedError("Pipette should have a tip attached, but does not (injected by labtwin).")


def _shared(name: str, message: str) -> Callable[[], Exception]:
    def build() -> Exception:
        from opentrons_shared_data.errors import exceptions

        error: Exception = getattr(exceptions, name)(message=message + " (injected by labtwin)")
        return error
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


def arm(engine: Any, failure: CommandFailure) -> None:
    """Make ``engine`` (an opentrons ProtocolEngine with its queue worker started) fail as ``failure`` says.

    Raises:
        UnsupportedVendorVersion: the installed opentrons is not the one the engine hook was written for.
    """
    trigger = _Trigger(failure)
    executed = 0

    def count_command() -> None:
        # The engine executes a run's commands one at a time, in the order the run lists them.
        nonlocal executed
        executed += 1
        if executed >= failure.at_command:
            trigger.pending = True

    vendor_patches.intercept_engine_commands(engine, on_command=count_command,
                                             before_handler_call=trigger.maybe_raise)
