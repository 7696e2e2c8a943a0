"""``/runs``: create runs, drive them with actions, send and read their commands."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, Field, field_validator

from labtwin.twin.ot2.robot_api.protocol_store import ProtocolStore
from labtwin.twin.ot2.robot_api.responses import ApiError, error_responses
from labtwin.twin.ot2.robot_api.run_store import ActionType, Run, RunStore

__all__ = ["router"]

router = APIRouter(tags=["Run Management"], responses=error_responses(400, 404, 409, 422))

DEFAULT_PAGE_LENGTH = 20
"""Commands per page of ``GET /runs/{id}/commands`` when ``pageLength`` is not given."""


class RunCreate(BaseModel):
    """What a new run is built from: an uploaded protocol (or none, for a live run) and offsets."""

    protocolId: str | None = None
    labwareOffsets: list[dict[str, Any]] = Field(default_factory=list)


class RunCreateRequest(BaseModel):
    data: RunCreate = Field(default_factory=RunCreate)


class RunUpdate(BaseModel):
    # Only false: a run can be dismissed, not made current again (the document says so, not just the route).
    current: Literal[False]

    @field_validator("current", mode="before")
    @classmethod
    def _a_json_boolean(cls, value: Any) -> Any:
        # pydantic's Literal[False] also takes 0 (0 == False): a JSON 0 must not quietly dismiss a run.
        if not isinstance(value, bool):
            raise ValueError("must be the JSON boolean false")
        return value


class RunUpdateRequest(BaseModel):
    data: RunUpdate


class ActionCreate(BaseModel):
    actionType: ActionType = Field(description="play, pause or stop")


class ActionCreateRequest(BaseModel):
    data: ActionCreate


class CommandCreateRequest(BaseModel):
    data: dict[str, Any] = Field(description="commandType, params, and optionally intent (default: setup) and key")


class JsonDataRequest(BaseModel):
    data: dict[str, Any]


def _runs(request: Request) -> RunStore:
    store: RunStore = request.app.state.runs
    return store


def _one(run: Run) -> dict[str, Any]:
    return {"data": run.resource(), "links": {}}


@router.post("/runs", status_code=201, summary="Create a run")
async def create_run(request: Request, body: Annotated[RunCreateRequest | None, Body()] = None) -> dict[str, Any]:
    """A new current run, from ``protocolId`` or live; 409 while the current run is active."""
    create = (body or RunCreateRequest()).data
    protocols: ProtocolStore = request.app.state.protocols
    protocol = protocols.get(create.protocolId) if create.protocolId is not None else None
    run = await _runs(request).create(protocol, create.labwareOffsets)
    return _one(run)


@router.get("/runs", summary="List runs")
async def list_runs(request: Request) -> dict[str, Any]:
    """Every run, oldest first, with a link to the current one."""
    runs = _runs(request)
    current = runs.current()
    return {"data": [run.resource() for run in runs.all()],
            "links": {"current": {"href": f"/runs/{current.id}"}} if current is not None else {},
            "meta": {"cursor": 0, "totalLength": len(runs.all())}}


@router.get("/runs/{runId}", summary="Get a run")
async def get_run(request: Request, runId: str) -> dict[str, Any]:  # noqa: N803 - the API's name
    """The run: status, actions, errors, loaded labware, pipettes and modules."""
    return _one(_runs(request).get(runId))


@router.patch("/runs/{runId}", summary="Update a run (dismiss it)")
async def update_run(request: Request, runId: str, body: RunUpdateRequest) -> dict[str, Any]:  # noqa: N803
    """``current: false`` dismisses the run (409 while it is active); ``current: true`` is refused (422)."""
    return _one(await _runs(request).dismiss(runId))


@router.delete("/runs/{runId}", summary="Delete a run")
async def delete_run(request: Request, runId: str) -> dict[str, Any]:  # noqa: N803
    """Delete a run (409 while it is current and active)."""
    await _runs(request).delete(runId)
    return {}


@router.post("/runs/{runId}/actions", status_code=201, summary="Play, pause or stop a run")
async def create_action(request: Request, runId: str, body: ActionCreateRequest) -> dict[str, Any]:  # noqa: N803
    """Apply the action to the current run; 409 when the run's status does not allow it."""
    return {"data": await _runs(request).act(runId, body.data.actionType)}


@router.get("/runs/{runId}/commands", summary="List a run's commands")
async def list_commands(request: Request, runId: str,  # noqa: N803
                        cursor: Annotated[int | None, Query(ge=0)] = None,
                        pageLength: Annotated[int, Query(ge=1)] = DEFAULT_PAGE_LENGTH,  # noqa: N803
                        ) -> dict[str, Any]:
    """One page of the run's commands; without ``cursor`` the page around the current command."""
    run = _runs(request).get(runId)
    commands = run.engine.commands()
    current_index = run.engine.current_command_index()
    if cursor is None:
        cursor = max(0, (current_index or 0) - pageLength // 2) if commands else 0
    links: dict[str, Any] = {}
    if current_index is not None and current_index < len(commands):
        current = commands[current_index]
        links["current"] = {"href": f"/runs/{runId}/commands/{current['id']}",
                            "meta": {"runId": runId, "commandId": current["id"], "index": current_index,
                                     "key": current.get("key"), "createdAt": current["createdAt"]}}
    return {"data": commands[cursor:cursor + pageLength], "links": links,
            "meta": {"cursor": cursor, "totalLength": len(commands)}}


@router.post("/runs/{runId}/commands", status_code=201, summary="Send a command to a run")
async def create_command(request: Request, runId: str, body: CommandCreateRequest,  # noqa: N803
                         waitUntilComplete: bool = False,  # noqa: N803
                         timeout: Annotated[int | None, Query(gt=0, description="ms to wait at most")] = None,
                         ) -> dict[str, Any]:
    """Queue a command; with ``waitUntilComplete`` answer once it finished (or ``timeout`` ms passed)."""
    run = _runs(request).get_current(runId)
    # Without an intent a command is a setup command, as on the robot: it runs while the run is idle.
    command = {"intent": "setup", **body.data} if isinstance(body.data, dict) else body.data
    return {"data": await run.engine.add_command(command, wait=waitUntilComplete, timeout_ms=timeout)}


@router.get("/runs/{runId}/commands/{commandId}", summary="Get one command of a run")
async def get_command(request: Request, runId: str, commandId: str) -> dict[str, Any]:  # noqa: N803
    """The command with its params, status, result or error and timing."""
    command = _runs(request).get(runId).engine.command(commandId)
    if command is None:
        raise ApiError(404, "CommandNotFound", "Command Not Found",
                       f"Command {commandId} was not found in run {runId}.")
    return {"data": command}


@router.post("/runs/{runId}/labware_offsets", status_code=201, summary="Add a labware offset to a run")
async def add_labware_offset(request: Request, runId: str, body: JsonDataRequest) -> dict[str, Any]:  # noqa: N803
    """Add an offset (definitionUri, location, vector) before the run starts."""
    run = _runs(request).get_current(runId)
    return {"data": run.engine.add_labware_offset(body.data)}


@router.post("/runs/{runId}/labware_definitions", status_code=201, summary="Add a labware definition to a run")
async def add_labware_definition(request: Request, runId: str, body: JsonDataRequest) -> dict[str, Any]:  # noqa: N803
    """Make a custom labware definition loadable in the run."""
    run = _runs(request).get_current(runId)
    return {"data": {"definitionUri": run.engine.add_labware_definition(body.data)}}
