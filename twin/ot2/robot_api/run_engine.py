"""One run's opentrons ProtocolEngine and RunOrchestrator, on the shared simulated OT-2.

A run is either a protocol run (built from an uploaded protocol, loaded at creation, executed by
the first ``play``) or a live run (no protocol: clients send it commands). Everything a client
sees of a run (status, commands, errors, loaded equipment) is read back from the engine's own
state, so the twin reports what opentrons' engine decided, not a re-implementation of it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from labtwin.twin.ot2.robot_api.command_faults import CommandFailure, arm
from labtwin.twin.ot2.robot_api.responses import ApiError
from labtwin.twin.ot2.robot_api.robot import SimulatedOT2

if TYPE_CHECKING:
    from opentrons.protocol_reader import ProtocolSource
    from opentrons.protocol_runner import RunOrchestrator

__all__ = ["TERMINAL_STATUSES", "RunEngine", "engine_error"]

log = logging.getLogger("labtwin.twin.ot2_robot_api")

TERMINAL_STATUSES = frozenset({"stopped", "failed", "succeeded"})
"""Run statuses after which nothing more happens in a run."""


def engine_error(exc: Exception, status_code: int = 409) -> ApiError:
    """An engine refusal (e.g. a setup command while running) as the API error a client gets."""
    code = getattr(getattr(getattr(exc, "code", None), "value", None), "code", None)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return ApiError(status_code, type(exc).__name__.removesuffix("Error") or "EngineError",
                    _title(type(exc).__name__), message, error_code=code or "4000")


def _title(name: str) -> str:
    words: list[str] = []
    for char in name.removesuffix("Error"):
        if char.isupper() and words:
            words.append(" ")
        words.append(char)
    return "".join(words)


class RunEngine:
    """The engine behind one run. Build with :meth:`create`."""

    def __init__(self, robot: SimulatedOT2, orchestrator: RunOrchestrator, has_protocol: bool) -> None:
        self._robot = robot
        self._orchestrator = orchestrator
        self._has_protocol = has_protocol
        self._run_task: asyncio.Task[Any] | None = None

    @classmethod
    async def create(cls, robot: SimulatedOT2, run_id: str, protocol: ProtocolSource | None = None,
                     failure: CommandFailure | None = None) -> RunEngine:
        """A new engine for run ``run_id``, with ``protocol`` loaded into it when given.

        Raises:
            ApiError: the protocol cannot be loaded (422).
        """
        from opentrons.protocol_engine import error_recovery_policy
        from opentrons.protocol_engine.create_protocol_engine import create_protocol_engine
        from opentrons.protocol_runner import RunOrchestrator
        from opentrons.protocol_runner.run_orchestrator import ParseMode
        from opentrons.protocols.api_support.deck_type import should_load_fixed_trash

        engine = await create_protocol_engine(
            hardware_api=robot.hardware, config=robot.engine_config(),
            # A twin run never enters error recovery: a failed command fails the run.
            error_recovery_policy=error_recovery_policy.never_recover,
            load_fixed_trash=should_load_fixed_trash(protocol.config) if protocol is not None else True,
            deck_configuration=robot.deck_configuration())
        orchestrator = RunOrchestrator.build_orchestrator(
            hardware_api=robot.hardware, protocol_engine=engine,
            protocol_config=protocol.config if protocol is not None else None, run_id=run_id)
        if failure is not None:
            arm(engine, failure)
        run_engine = cls(robot, orchestrator, has_protocol=protocol is not None)
        if protocol is not None:
            try:
                await orchestrator.load(protocol_source=protocol, run_time_param_values=None,
                                        run_time_param_paths=None, parse_mode=ParseMode.NORMAL)
            except Exception as exc:
                await run_engine.close()
                raise ApiError(422, "ProtocolLoadFailed", "Protocol Load Failed",
                               f"the protocol could not be loaded into a run: {exc}") from exc
        return run_engine

    # --- state ----------------------------------------------------------------------------

    @property
    def status(self) -> str:
        """The engine's run status (``idle``, ``running``, ``paused``, ``succeeded``...)."""
        return str(self._orchestrator.get_run_status().value)

    @property
    def is_terminal(self) -> bool:
        """Whether the run is over (stopped, failed or succeeded)."""
        return self.status in TERMINAL_STATUSES

    @property
    def has_started(self) -> bool:
        """Whether the run has been played at least once."""
        return self._orchestrator.run_has_started()

    def summary(self) -> dict[str, Any]:
        """The engine's state summary as JSON: errors, labware, pipettes, modules, offsets, liquids, times."""
        return self._orchestrator.get_state_summary().model_dump(mode="json")

    def commands(self) -> list[dict[str, Any]]:
        """Every command of the run so far, in order, as JSON."""
        return [command.model_dump(mode="json") for command in self._orchestrator.get_all_commands()]

    def command(self, command_id: str) -> dict[str, Any] | None:
        """One command as JSON, or None if the run has no such command."""
        try:
            return self._orchestrator.get_command(command_id).model_dump(mode="json")
        except Exception:  # the engine's CommandDoesNotExistError
            return None

    def current_command_index(self) -> int | None:
        """Index of the running (or last finished) command, for the commands list's default page."""
        pointer = self._orchestrator.get_current_command() or self._orchestrator.get_most_recently_finalized_command()
        return pointer.index if pointer is not None else None

    # --- control --------------------------------------------------------------------------

    async def play(self) -> None:
        """Start the run, or resume it after a pause.

        Raises:
            ApiError: the run is over or cannot be played now (409).
        """
        if self.is_terminal:
            raise ApiError(409, "RunActionNotAllowed", "Run Action Not Allowed",
                           f"the run is {self.status}: it cannot be played")
        if self._run_task is None:
            self._run_task = asyncio.create_task(self._run(), name="robot API run")
            # Let the engine take the play before the action is answered.
            await asyncio.sleep(0)
            return
        try:
            self._orchestrator.play(deck_configuration=self._robot.deck_configuration())
        except Exception as exc:
            raise engine_error(exc) from exc

    def pause(self) -> None:
        """Pause the run after its current command.

        Raises:
            ApiError: the run is not running (409).
        """
        if self.status != "running":
            raise ApiError(409, "RunActionNotAllowed", "Run Action Not Allowed",
                           f"the run is {self.status}: only a running run can be paused")
        try:
            self._orchestrator.pause()
        except Exception as exc:
            raise engine_error(exc) from exc

    async def stop(self) -> None:
        """Stop the run (a run that never started is stopped at once).

        Raises:
            ApiError: the run is already over (409).
        """
        if self.is_terminal:
            raise ApiError(409, "RunActionNotAllowed", "Run Action Not Allowed",
                           f"the run is {self.status}: it cannot be stopped")
        try:
            await self._orchestrator.stop()
        except Exception as exc:
            raise engine_error(exc) from exc

    async def add_command(self, request: dict[str, Any], *, wait: bool, timeout_ms: int | None) -> dict[str, Any]:
        """Queue a command (the JSON ``data`` of ``POST /runs/{id}/commands``); return it as JSON.

        Raises:
            ApiError: the command is malformed (422) or not allowed now (409).
        """
        from opentrons.protocol_engine.commands.command_unions import CommandCreateAdapter
        from pydantic import ValidationError

        try:
            create = CommandCreateAdapter.validate_python(request)
        except ValidationError as exc:
            raise ApiError(422, "InvalidRequest", "Invalid Request",
                           "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
                           or "invalid command") from exc
        if self.is_terminal:
            raise ApiError(409, "RunStopped", "Run Stopped", f"the run is {self.status}: it takes no more commands")
        try:
            added = await self._orchestrator.add_command_and_wait_for_interval(
                create, wait_until_complete=wait, timeout=timeout_ms)
        except Exception as exc:
            raise engine_error(exc) from exc
        return self._orchestrator.get_command(added.id).model_dump(mode="json")

    def add_labware_offset(self, request: dict[str, Any]) -> dict[str, Any]:
        """Add a labware offset (``POST /runs/{id}/labware_offsets``'s ``data``); return it as JSON.

        Raises:
            ApiError: the offset is malformed (422) or the run has started (409).
        """
        from opentrons.protocol_engine.types import LegacyLabwareOffsetCreate
        from pydantic import ValidationError

        try:
            offset = LegacyLabwareOffsetCreate.model_validate(request)
        except ValidationError as exc:
            raise ApiError(422, "InvalidRequest", "Invalid Request", str(exc)) from exc
        if self.has_started:
            raise ApiError(409, "RunAlreadyStarted", "Run Already Started",
                           "labware offsets can only be added before the run starts")
        try:
            return self._orchestrator.add_labware_offset(offset).model_dump(mode="json")
        except Exception as exc:
            raise engine_error(exc, 422) from exc

    def add_labware_definition(self, definition: dict[str, Any]) -> str:
        """Make a custom labware definition loadable in this run; return its URI.

        Raises:
            ApiError: the definition is not valid (422) or the run is over (409).
        """
        from opentrons_shared_data.labware.labware_definition import labware_definition_type_adapter
        from pydantic import ValidationError

        try:
            parsed = labware_definition_type_adapter.validate_python(definition)
        except ValidationError as exc:
            raise ApiError(422, "InvalidRequest", "Invalid Request", f"not a labware definition: {exc}") from exc
        if self.is_terminal:
            raise ApiError(409, "RunStopped", "Run Stopped", f"the run is {self.status}")
        return str(self._orchestrator.add_labware_definition(parsed))

    async def close(self) -> None:
        """End the run (stopping it if it is still going) and wait for its engine to finish."""
        if not self.is_terminal:
            try:
                await self._orchestrator.stop()
            except Exception:
                log.exception("stopping a run on close")
        if self._run_task is not None:
            await asyncio.gather(self._run_task, return_exceptions=True)

    async def _run(self) -> None:
        try:
            await self._orchestrator.run(deck_configuration=self._robot.deck_configuration())
        except Exception:
            # The engine records protocol failures in the run's errors; anything else is a twin bug.
            log.exception("the run's engine raised")
