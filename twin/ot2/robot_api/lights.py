"""``GET``/``POST /robot/lights``: the OT-2's rail lights, as state held by the twin."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from labtwin.twin.ot2.robot_api.responses import error_responses

__all__ = ["Lights", "router"]


class Lights(BaseModel):
    """Whether the rail lights are on (request and response body)."""

    # Strict: the robot's body is a JSON boolean; "yes" or 1 must not quietly switch the lights.
    model_config = ConfigDict(strict=True)

    on: bool


router = APIRouter(responses=error_responses(400, 422, legacy=True))


@router.get("/robot/lights", response_model=Lights, summary="Get the rail lights")
async def get_lights(request: Request) -> Lights:
    """The rail lights' current state (off when the twin starts)."""
    return Lights(on=request.app.state.lights_on)


@router.post("/robot/lights", response_model=Lights, summary="Turn the rail lights on or off")
async def set_lights(request: Request, lights: Lights) -> Lights:
    """Switch the rail lights and answer their new state."""
    request.app.state.lights_on = lights.on
    return Lights(on=request.app.state.lights_on)
