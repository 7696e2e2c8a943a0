"""The robot API twin's FastAPI app: versioning, error shapes, and every route, on one simulated OT-2."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from labtwin.twin.ot2.robot_api import control_routes, hardware_routes, health, lights, protocol_routes, run_routes
from labtwin.twin.ot2.robot_api.faults import RobotFaults
from labtwin.twin.ot2.robot_api.health import RobotIdentity
from labtwin.twin.ot2.robot_api.protocol_store import ProtocolStore
from labtwin.twin.ot2.robot_api.responses import ApiError, NullFreeJSONResponse, error_response
from labtwin.twin.ot2.robot_api.robot import RobotSettings, SimulatedOT2
from labtwin.twin.ot2.robot_api.run_store import RunStore
from labtwin.twin.ot2.robot_api.versioning import (
    CURRENT_API_VERSION,
    MIN_API_VERSION,
    MIN_VERSION_HEADER,
    SERVED_VERSION_PATTERN,
    VERSION_HEADER,
    ApiVersionMiddleware,
)

__all__ = ["DEFAULT_ROBOT_SERIAL", "create_app"]

DEFAULT_ROBOT_SERIAL = "OT2LABTWIN000001"
"""Shaped like a real OT-2 serial, but unmistakably a twin's."""


def _declare_version_header(
    opentrons_version: Annotated[str, Header(alias=VERSION_HEADER, description=(
        f"The HTTP API version the client speaks: an integer >= 2, or '*' for the latest "
        f"({CURRENT_API_VERSION})"),
        # In the document only: the middleware is what enforces it (and answers 400 below version 2).
        json_schema_extra={"pattern": SERVED_VERSION_PATTERN})],
) -> None:
    """Puts the header into the OpenAPI spec; :class:`ApiVersionMiddleware` already enforced it."""


def create_app(*, robot_name: str = "labtwin-ot2", robot_serial: str = DEFAULT_ROBOT_SERIAL,
               settings: RobotSettings | None = None, data_dir: Path | None = None) -> FastAPI:
    """A fresh robot API app for one simulated OT-2 (lights off, door closed, no protocols or runs).

    The simulated hardware starts with the app's lifespan (opentrons is imported then, not here).
    Serve it wrapped in :class:`~labtwin.twin.ot2.robot_api.faults.FaultInjectingApp` with
    ``app.state.faults`` so that route faults and latency apply.

    Args:
        robot_name: reported as ``name`` by ``GET /health``.
        robot_serial: reported as ``robot_serial`` by ``GET /health``.
        settings: attached pipettes, delay speed-up, door behaviour.
        data_dir: where uploaded protocols are stored (default: a temporary directory, removed at shutdown).
    """
    robot = SimulatedOT2(settings or RobotSettings())
    faults = RobotFaults()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned_dir = None if data_dir is not None else Path(tempfile.mkdtemp(prefix="labtwin-ot2-robot-"))
        root = data_dir if data_dir is not None else owned_dir
        assert root is not None
        app.state.protocols = ProtocolStore(root / "protocols")
        app.state.runs = RunStore(robot, faults)
        await robot.start()
        try:
            yield
        finally:
            await app.state.runs.close()
            await app.state.protocols.close()
            await robot.close()
            if owned_dir is not None:
                shutil.rmtree(owned_dir, ignore_errors=True)

    app = FastAPI(title="labtwin OT-2 robot API", version=str(CURRENT_API_VERSION),
                  default_response_class=NullFreeJSONResponse,
                  # The robot serves no interactive docs; only the spec its health links point to.
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.robot = RobotIdentity(name=robot_name, serial=robot_serial)
    app.state.robot_hardware = robot
    app.state.faults = faults
    app.state.lights_on = False
    for module in (health, lights, hardware_routes, protocol_routes, run_routes):
        app.include_router(module.router, dependencies=[Depends(_declare_version_header)])
    app.include_router(control_routes.router)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(ApiVersionMiddleware)
    _document_version_headers(app)
    return app


_VERSION_RESPONSE_HEADERS = {
    VERSION_HEADER: {"description": "The API version the request was served as", "required": True,
                     "schema": {"type": "integer", "minimum": MIN_API_VERSION, "maximum": CURRENT_API_VERSION}},
    MIN_VERSION_HEADER: {"description": "The oldest API version this robot serves", "required": True,
                         "schema": {"type": "integer", "const": MIN_API_VERSION}},
}


def _document_version_headers(app: FastAPI) -> None:
    """Declare the version headers every response carries (:class:`ApiVersionMiddleware`) in the document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for item in document["paths"].values():
                for operation in item.values():
                    for response in operation["responses"].values():
                        response.setdefault("headers", {}).update(_VERSION_RESPONSE_HEADERS)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response(request.url.path)


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
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return error_response(request.url.path, exc.status_code, error_id=error_id, title=str(exc.detail),
                          detail=str(exc.detail), headers=headers)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
"""The methods a 405's ``Allow`` may name (the ones routes are declared with)."""


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path, for a 405's ``Allow``.

    Starlette's own 405 names only the first route that matched the path (``GET`` for ``/runs/{runId}``, which
    ``PATCH`` and ``DELETE`` routes serve too); included routers are routes too, so each method is tried on all.
    """
    allowed = [method for method in _METHODS
               if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
                      for route in request.app.router.routes)]
    return ", ".join(allowed)
