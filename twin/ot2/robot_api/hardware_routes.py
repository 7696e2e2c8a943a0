"""What is attached to the simulated OT-2, and homing: ``/instruments``, ``/pipettes``, ``/modules``,
``/robot/home``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from labtwin.twin.ot2.robot_api.responses import ApiError, error_responses
from labtwin.twin.ot2.robot_api.robot import SimulatedOT2
from labtwin.twin.ot2.robot_api.run_store import RunStore

__all__ = ["router"]

router = APIRouter(tags=["Attached Instruments"])
_LEGACY_ERRORS = error_responses(400, 422, legacy=True)

_AXES = {"left": ("z", "b"), "right": ("a", "c")}
"""Mount -> (Z axis, plunger axis) of an OT-2."""


def _robot(request: Request) -> SimulatedOT2:
    robot: SimulatedOT2 = request.app.state.robot_hardware
    return robot


@router.get("/instruments", summary="List attached instruments", responses=error_responses(400, 422))
async def get_instruments(request: Request) -> dict[str, Any]:
    """The pipettes attached to the simulated robot."""
    instruments = []
    for mount, info in _robot(request).pipettes().items():
        if info is None:
            continue
        instruments.append({
            "mount": mount, "instrumentType": "pipette", "instrumentModel": info["model"],
            "instrumentName": info["name"], "serialNumber": info["pipette_id"], "ok": True,
            "data": {"channels": info["channels"], "min_volume": info["min_volume"],
                     "max_volume": info["max_volume"]},
        })
    return {"data": instruments, "meta": {"cursor": 0, "totalLength": len(instruments)}}


@router.get("/pipettes", summary="Attached pipettes (legacy)", responses=_LEGACY_ERRORS)
async def get_pipettes(request: Request) -> JSONResponse:
    """Both mounts, the empty one with ``null`` fields (this legacy route keeps them)."""
    body: dict[str, Any] = {}
    for mount, info in _robot(request).pipettes().items():
        attached = info or {}
        z_axis, plunger_axis = _AXES[mount]
        body[mount] = {"model": attached.get("model"), "name": attached.get("name"),
                       "tip_length": attached.get("tip_length"), "id": attached.get("pipette_id"),
                       "mount_axis": z_axis, "plunger_axis": plunger_axis}
    return JSONResponse(body)


@router.get("/modules", summary="List attached modules", responses=error_responses(400, 422))
async def get_modules(request: Request) -> dict[str, Any]:
    """The hardware modules attached to the simulated robot (none: the twin simulates no module hardware)."""
    modules = [{"id": module.device_info.get("serial", ""), "serialNumber": module.device_info.get("serial", ""),
                "moduleModel": str(module.model()), "moduleType": type(module).__name__}
               for module in _robot(request).hardware.attached_modules]
    return {"data": modules, "meta": {"cursor": 0, "totalLength": len(modules)}}


class HomeRobot(BaseModel):
    """Home the gantry."""

    target: Literal["robot"]


class HomePipette(BaseModel):
    """Home one mount's pipette."""

    target: Literal["pipette"]
    mount: Literal["left", "right"]


# A union on target, so that the document says what the route takes: a pipette's mount is required.
HomeRequest = Annotated[HomeRobot | HomePipette, Field(discriminator="target")]


@router.post("/robot/home", summary="Home the robot or one pipette",
             responses=error_responses(400, 409, 422, legacy=True))
async def home(request: Request, body: HomeRequest) -> dict[str, str]:
    """Home the gantry (``robot``) or one mount's pipette (``pipette`` + ``mount``); 409 while a run is active."""
    runs: RunStore = request.app.state.runs
    current = runs.current()
    if current is not None and current.engine.has_started and not current.engine.is_terminal:
        raise ApiError(409, "RobotBusy", "Robot Busy", f"run {current.id} is {current.engine.status}")
    if isinstance(body, HomePipette):
        await _robot(request).home(body.mount)
        return {"message": f"Homing pipette on {body.mount} mount."}
    await _robot(request).home()
    return {"message": "Homing robot."}
