"""``GET /health``: who the robot is and what it runs (a legacy route: ``message`` error shape)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Request
from pydantic import BaseModel

from labtwin.twin.ot2.robot_api.responses import error_responses

__all__ = ["MAX_PROTOCOL_API_VERSION", "MIN_PROTOCOL_API_VERSION", "Health", "HealthLinks", "RobotIdentity",
           "opentrons_version", "router"]

# The Python Protocol API range the pinned opentrons (9.0.0) accepts for an OT-2. Written out rather
# than read from opentrons so /health never pays opentrons' import time; a test pins it to opentrons.
MAX_PROTOCOL_API_VERSION = (2, 28)
MIN_PROTOCOL_API_VERSION = (2, 0)


def opentrons_version() -> str:
    """The installed opentrons package's version, read from its metadata (no import)."""
    try:
        return version("opentrons")
    except PackageNotFoundError:
        return "unknown"


class RobotIdentity(BaseModel):
    """The fixed facts about one simulated OT-2, kept in ``app.state.robot``."""

    name: str
    serial: str
    fw_version: str = "labtwin-simulated"
    system_version: str = ""


class HealthLinks(BaseModel):
    """Paths of the robot's logs, API spec and clock endpoint (the real robot's ``links``)."""

    apiLog: str = "/logs/api.log"
    serialLog: str = "/logs/serial.log"
    serverLog: str = "/logs/server.log"
    apiSpec: str = "/openapi.json"
    systemTime: str = "/system/time"


class Health(BaseModel):
    """The body of ``GET /health``."""

    name: str
    robot_model: str
    api_version: str
    fw_version: str
    system_version: str
    maximum_protocol_api_version: list[int]
    minimum_protocol_api_version: list[int]
    robot_serial: str
    links: HealthLinks


router = APIRouter(responses=error_responses(400, 422, legacy=True))


@router.get("/health", response_model=Health, summary="Get server health")
async def get_health(request: Request) -> Health:
    """Identity and versions of the simulated OT-2."""
    robot: RobotIdentity = request.app.state.robot
    software = opentrons_version()
    return Health(
        name=robot.name,
        robot_model="OT-2 Standard",
        api_version=software,
        fw_version=robot.fw_version,
        # The real robot reports its OS image version here; the twin's "image" is the opentrons package.
        system_version=robot.system_version or software,
        maximum_protocol_api_version=list(MAX_PROTOCOL_API_VERSION),
        minimum_protocol_api_version=list(MIN_PROTOCOL_API_VERSION),
        robot_serial=robot.serial,
        links=HealthLinks(),
    )
