"""The robot's runs: at most one current run, the actions sent to each, and their engines.

Rules (docs/ot2-robot-api.md): creating a run makes it the current one; that is refused (409,
``RunAlreadyActive``) while the current run has started and is not over. A new run replaces an
idle or finished current run, which stays listed (``current: false``). Actions ``play``,
``pause`` and ``stop`` drive the current run's engine; a run that is no longer current takes no
actions and no commands.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from labtwin.twin.ot2.robot_api.faults import RobotFaults
from labtwin.twin.ot2.robot_api.protocol_store import StoredProtocol
from labtwin.twin.ot2.robot_api.responses import ApiError
from labtwin.twin.ot2.robot_api.robot import SimulatedOT2
from labtwin.twin.ot2.robot_api.run_engine import RunEngine

__all__ = ["ACTION_TYPES", "MAX_RUNS", "ActionType", "Run", "RunStore"]

MAX_RUNS = 20
"""Runs kept; creating more deletes the oldest one that is not current."""

ActionType = Literal["play", "pause", "stop"]
ACTION_TYPES: tuple[str, ...] = ("play", "pause", "stop")


@dataclass
class Run:
    """One run: its identity, its engine and the actions it was sent."""

    id: str
    created_at: datetime
    engine: RunEngine
    protocol_id: str | None = None
    current: bool = True
    actions: list[dict[str, Any]] = field(default_factory=list)

    def resource(self) -> dict[str, Any]:
        """The run as ``GET /runs/{id}`` answers it."""
        summary = self.engine.summary()
        return {
            "id": self.id,
            "createdAt": self.created_at.isoformat(),
            "status": self.engine.status,
            "current": self.current,
            "actions": list(self.actions),
            "errors": summary["errors"],
            "hasEverEnteredErrorRecovery": summary.get("hasEverEnteredErrorRecovery", False),
            "pipettes": summary["pipettes"],
            "modules": summary["modules"],
            "labware": summary["labware"],
            "labwareOffsets": summary["labwareOffsets"],
            "liquids": summary["liquids"],
            "runTimeParameters": [],
            "outputFileIds": [],
            "protocolId": self.protocol_id,
            "startedAt": summary.get("startedAt"),
            "completedAt": summary.get("completedAt"),
        }


class RunStore:
    """Every run on one simulated robot."""

    def __init__(self, robot: SimulatedOT2, faults: RobotFaults) -> None:
        self._robot = robot
        self._faults = faults
        self._runs: dict[str, Run] = {}

    def all(self) -> list[Run]:
        """Every run, oldest first."""
        return list(self._runs.values())

    def current(self) -> Run | None:
        """The current run, if any."""
        return next((run for run in self._runs.values() if run.current), None)

    def get(self, run_id: str) -> Run:
        """The run ``run_id``.

        Raises:
            ApiError: no such run (404).
        """
        try:
            return self._runs[run_id]
        except KeyError:
            raise ApiError(404, "RunNotFound", "Run Not Found", f"Run {run_id} was not found.") from None

    def get_current(self, run_id: str) -> Run:
        """The run ``run_id``, which must be the current run (only it takes actions and commands).

        Raises:
            ApiError: no such run (404); not the current run (409).
        """
        run = self.get(run_id)
        if not run.current:
            raise ApiError(409, "RunNotCurrent", "Run Not Current",
                           f"Run {run_id} is not the current run; it takes no actions or commands.")
        return run

    def protocol_ids_in_use(self) -> set[str]:
        """Protocols some run was built from (they cannot be deleted)."""
        return {run.protocol_id for run in self._runs.values() if run.protocol_id is not None}

    async def create(self, protocol: StoredProtocol | None, labware_offsets: list[dict[str, Any]]) -> Run:
        """A new current run, from ``protocol`` or live, with ``labware_offsets`` applied.

        Raises:
            ApiError: the current run is active (409); the protocol or an offset is invalid (422).
        """
        previous = self.current()
        if previous is not None and previous.engine.has_started and not previous.engine.is_terminal:
            raise ApiError(409, "RunAlreadyActive", "Run Already Active",
                           f"Run {previous.id} is {previous.engine.status}; stop it (or let it finish) "
                           "before creating another run.")
        run_id = str(uuid.uuid4())
        engine = await RunEngine.create(self._robot, run_id, protocol.source if protocol is not None else None,
                                        failure=self._faults.take_command_failure())
        try:
            for offset in labware_offsets:
                engine.add_labware_offset(offset)
        except BaseException:
            await engine.close()
            raise
        if previous is not None:
            await self._retire(previous)
        run = Run(id=run_id, created_at=datetime.now(UTC), engine=engine,
                  protocol_id=protocol.id if protocol is not None else None)
        self._runs[run_id] = run
        self._evict_beyond(MAX_RUNS)
        return run

    async def act(self, run_id: str, action_type: str) -> dict[str, Any]:
        """Apply ``play``, ``pause`` or ``stop`` to the current run; return the recorded action.

        Raises:
            ApiError: unknown action (422); not the current run, or not allowed in its status (409).
        """
        if action_type not in ACTION_TYPES:
            raise ApiError(422, "InvalidRequest", "Invalid Request",
                           f"actionType must be one of {list(ACTION_TYPES)}, got {action_type!r}")
        run = self.get_current(run_id)
        if action_type == "play":
            # With the door open the engine takes the play but blocks (status blocked-by-open-door).
            await run.engine.play()
        elif action_type == "pause":
            run.engine.pause()
        else:
            await run.engine.stop()
        action = {"id": str(uuid.uuid4()), "createdAt": datetime.now(UTC).isoformat(),
                  "actionType": action_type}
        run.actions.append(action)
        return action

    async def dismiss(self, run_id: str) -> Run:
        """Make ``run_id`` no longer current (``PATCH /runs/{id}`` with ``current: false``).

        Raises:
            ApiError: no such run (404); the run is active (409).
        """
        run = self.get(run_id)
        if run.current:
            if run.engine.has_started and not run.engine.is_terminal:
                raise ApiError(409, "RunNotIdle", "Run Not Idle",
                               f"Run {run_id} is {run.engine.status}; stop it before dismissing it.")
            await self._retire(run)
        return run

    async def delete(self, run_id: str) -> None:
        """Delete a run.

        Raises:
            ApiError: no such run (404); the run is current and active (409).
        """
        run = await self.dismiss(run_id)
        del self._runs[run.id]

    async def close(self) -> None:
        """Stop every engine (the app is shutting down)."""
        for run in self._runs.values():
            await run.engine.close()

    async def _retire(self, run: Run) -> None:
        run.current = False
        await run.engine.close()

    def _evict_beyond(self, keep: int) -> None:
        for run in list(self._runs.values()):
            if len(self._runs) <= keep:
                return
            if not run.current:
                del self._runs[run.id]
