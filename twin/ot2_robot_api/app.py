"""The robot API twin's FastAPI app: versioning, error shapes and the routes of this slice."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from twin.ot2_robot_api import health, lights
from twin.ot2_robot_api.health import RobotIdentity
from twin.ot2_robot_api.responses import NullFreeJSONResponse, error_response
from twin.ot2_robot_api.versioning import (
    CURRENT_API_VERSION,
    VERSION_HEADER,
    ApiVersionMiddleware,
)

__all__ = ["DEFAULT_ROBOT_SERIAL", "create_app"]

DEFAULT_ROBOT_SERIAL = "OT2LABTWIN000001"
"""Shaped like a real OT-2 serial, but unmistakably a twin's."""


def _declare_version_header(
    opentrons_version: Annotated[str, Header(alias=VERSION_HEADER, description=(
        f"The HTTP API version the client speaks: an integer >= 2, or '*' for the latest "
        f"({CURRENT_API_VERSION})"))],
) -> None:
    """Puts the header into the OpenAPI spec; :class:`ApiVersionMiddleware` already enforced it."""


def create_app(*, robot_name: str = "labtwin-ot2", robot_serial: str = DEFAULT_ROBOT_SERIAL) -> FastAPI:
    """A fresh robot API app for one simulated OT-2 (lights off).

    Args:
        robot_name: reported as ``name`` by ``GET /health``.
        robot_serial: reported as ``robot_serial`` by ``GET /health``.
    """
    app = FastAPI(title="labtwin OT-2 robot API", version=str(CURRENT_API_VERSION),
                  default_response_class=NullFreeJSONResponse,
                  dependencies=[Depends(_declare_version_header)],
                  # The robot serves no interactive docs; only the spec its health links point to.
                  docs_url=None, redoc_url=None)
    app.state.robot = RobotIdentity(name=robot_name, serial=robot_serial)
    app.state.lights_on = False
    app.include_router(health.router)
    app.include_router(lights.router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(ApiVersionMiddleware)
    return app


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                         for error in exc.errors())
    return error_response(request.url.path, 422, error_id="InvalidRequest", title="Invalid Request",
                          detail=problems or "invalid request")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    # FastAPI's own 404/405 for unknown routes and methods, answered in the robot's shapes.
    error_id = {404: "RouteNotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
    return error_response(request.url.path, exc.status_code, error_id=error_id, title=str(exc.detail),
                          detail=str(exc.detail), headers=exc.headers)
