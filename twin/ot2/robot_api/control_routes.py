"""``/labtwin/...``: the twin's own control routes, for scenarios (not part of the robot's API).

They arm the faults of :mod:`labtwin.twin.ot2.robot_api.faults`, open and close the simulated door, and
wait for pending analyses. They need no ``Opentrons-Version`` header, are never faulted, and are
left out of the OpenAPI document (so API fuzzers cannot switch faults on).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from labtwin.errors import ConfigError
from labtwin.twin.ot2.robot_api.command_faults import CommandFailure
from labtwin.twin.ot2.robot_api.faults import RobotFaults, RouteFault
from labtwin.twin.ot2.robot_api.protocol_store import ProtocolStore
from labtwin.twin.ot2.robot_api.responses import ApiError
from labtwin.twin.ot2.robot_api.robot import SimulatedOT2

__all__ = ["router"]

router = APIRouter(prefix="/labtwin", include_in_schema=False)


class RouteFaultRequest(BaseModel):
    path: str
    method: str = "*"
    kind: Literal["error", "reset"] = "error"
    status: int = 500
    times: int | None = Field(default=1, description="null: every request until cleared")


class CommandFailureRequest(BaseModel):
    atCommand: int
    error: str = "tip-not-attached"


class DoorRequest(BaseModel):
    open: bool


class LatencyRequest(BaseModel):
    multiplier: float


def _faults(request: Request) -> RobotFaults:
    faults: RobotFaults = request.app.state.faults
    return faults


def _state(request: Request) -> dict[str, Any]:
    robot: SimulatedOT2 = request.app.state.robot_hardware
    return {**_faults(request).describe(), "doorOpen": robot.door_open}


@contextmanager
def _config_errors_as_422() -> Iterator[None]:
    """A fault the twin refuses (ConfigError) is the client's mistake: 422 with the reason."""
    try:
        yield
    except ConfigError as exc:
        raise ApiError(422, "InvalidRequest", "Invalid Request", str(exc)) from None


@router.get("/faults")
async def get_faults(request: Request) -> dict[str, Any]:
    """What is armed, and whether the door is open."""
    return _state(request)


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, Any]:
    """Disarm every fault and close the door."""
    _faults(request).clear()
    robot: SimulatedOT2 = request.app.state.robot_hardware
    if robot.door_open:
        await robot.set_door(False)
    return _state(request)


@router.post("/faults/route")
async def add_route_fault(request: Request, body: RouteFaultRequest) -> dict[str, Any]:
    """Answer matching requests with a 5xx, or reset their connection."""
    with _config_errors_as_422():
        _faults(request).routes.append(RouteFault(**body.model_dump()))
    return _state(request)


@router.post("/faults/command")
async def set_command_failure(request: Request, body: CommandFailureRequest) -> dict[str, Any]:
    """Make the next run created fail at its ``atCommand``-th command with ``error``."""
    with _config_errors_as_422():
        _faults(request).command_failure = CommandFailure(at_command=body.atCommand, error=body.error)
    return _state(request)


@router.post("/faults/latency")
async def set_latency(request: Request, body: LatencyRequest) -> dict[str, Any]:
    """Make every robot API response ``multiplier`` times slower."""
    with _config_errors_as_422():
        _faults(request).set_latency(body.multiplier)
    return _state(request)


@router.post("/door")
async def set_door(request: Request, body: DoorRequest) -> dict[str, Any]:
    """Open (a running protocol blocks: ``blocked-by-open-door``) or close the front door."""
    robot: SimulatedOT2 = request.app.state.robot_hardware
    await robot.set_door(body.open)
    return _state(request)


@router.post("/analyses/wait")
async def wait_for_analyses(request: Request) -> dict[str, Any]:
    """Answer once no protocol analysis is pending."""
    protocols: ProtocolStore = request.app.state.protocols
    await protocols.wait_for_analyses()
    return {"pending": 0}
