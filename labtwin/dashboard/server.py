"""The dashboard's web server: the page, its live event stream, fault controls and the lab's API documents.

Routes (all JSON but the page and the stream):

- ``GET /``: the page (static HTML, CSS and JS shipped with labtwin; no build step, no CDN).
- ``GET /api/state``: the whole state now but the plots' history (:meth:`LiveLab.snapshot`).
- ``GET /api/series/{device}``: one board's plots' history (:meth:`LiveLab.series`).
- ``GET /api/events``: Server-Sent Events: a ``snapshot`` event, then a ``frame`` event per update. Plain
  Starlette streaming: sse-starlette starts a process-wide watcher task that polls every 0.5 s and outlives
  the server, which an embedded server (and a lab-time event loop) cannot have.
- ``POST /api/faults``: ``{"target": ..., "kind": ..., "action": "start"|"clear"}`` on a twin lab.
- ``GET /api/docs/asyncapi.json``: the lab's MQTT interface (AsyncAPI 3.0), from the catalogues seen.
- ``GET /api/docs/openapi-ot2.json``: the OT-2 task server's OpenAPI document, when the lab has one.

The server binds loopback by default: the fault controls act on the lab, and there is no login.
A POST must carry ``Content-Type: application/json``, which a cross-site form cannot send without a
CORS preflight this server never grants, and no foreign ``Origin``; requests must name the server
by a Host it knows (loopback names, or the address it was told to bind), which defeats DNS rebinding.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.middleware.trustedhost import TrustedHostMiddleware

from labtwin.dashboard.live_lab import LiveLab
from labtwin.errors import ConfigError, LabtwinError
from labtwin.orchestrator.device_server import EmbeddedUvicorn

__all__ = ["DashboardServer", "dashboard_app"]

_STATIC = resources.files("labtwin.dashboard") / "static"
_KEEPALIVE_S = 15.0
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


class FaultRequest(BaseModel):
    """A fault control's click."""

    target: str
    kind: str
    action: str = "start"


def dashboard_app(live: LiveLab, *, allowed_hosts: list[str] | None = None) -> FastAPI:
    """The dashboard's FastAPI app over ``live``; ``allowed_hosts``: the Host headers it answers (default:
    loopback names), so a page whose DNS name was rebound to this address gets nothing."""
    app = FastAPI(title="labtwin dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    hosts = allowed_hosts or list(_LOOPBACK_NAMES)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    static_dir = str(_STATIC)
    app.mount("/static", StaticFiles(directory=static_dir), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(f"{static_dir}/index.html", headers={"Cache-Control": "no-store"})

    @app.get("/api/state")
    async def state() -> JSONResponse:
        return JSONResponse(live.snapshot())

    @app.get("/api/series/{device_id}")
    async def series(device_id: str) -> JSONResponse:
        try:
            return JSONResponse(live.series(device_id))
        except ConfigError as e:
            raise HTTPException(404, str(e)) from None

    @app.get("/api/events")
    async def events() -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            async with live.subscribe() as (snapshot, frames):
                yield "retry: 1000\n"  # a page whose lab closed (a property run's example) reconnects in 1 s
                yield _event("snapshot", snapshot)
                while True:
                    try:
                        update = await asyncio.wait_for(frames.get(), timeout=_KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keep-alive\n\n"  # a comment line: proxies keep an idle stream open
                        continue
                    if update is None:  # the dashboard is closing: end the stream (the page reconnects)
                        return
                    yield _event(update["kind"], update)

        # Starlette ends the stream (cancelling it) when the page goes away.
        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.post("/api/faults")
    async def fault(request: Request, body: FaultRequest) -> JSONResponse:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise HTTPException(415, "send the fault request as application/json")
        origin = request.headers.get("origin")
        if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
            raise HTTPException(403, f"a fault request from another site ({origin}) is refused")
        if not live.fault_menu():
            raise HTTPException(403, f"{live.lab.description} cannot be faulted from here (read-only)")
        try:
            if body.action == "start":
                started = await live.start_fault(body.target, body.kind)
                return JSONResponse({"started": started.describe(), "active": started.active})
            if body.action == "clear":
                return JSONResponse({"cleared": await live.clear_fault(body.target, body.kind)})
        except ConfigError as e:
            raise HTTPException(400, str(e)) from None
        except LabtwinError as e:  # the lab could not do it (a broker that will not restart...)
            raise HTTPException(409, f"{body.action} {body.kind} on {body.target} failed: {e}") from None
        raise HTTPException(400, f"action must be 'start' or 'clear', got {body.action!r}")

    @app.get("/api/docs/asyncapi.json")
    async def asyncapi() -> JSONResponse:
        from labtwin.tools.asyncapi import asyncapi_document

        address = live.lab.broker_address
        catalogues = {board.device_id: board.tasks for board in live.mqtt.boards.values()}
        document = asyncapi_document(catalogues, topic_prefix=live.topic_prefix,
                                     broker_url=address.url if address else "mqtt://localhost:1883",
                                     title=live.lab.description)
        return JSONResponse(document)

    @app.get("/api/docs/openapi-ot2.json")
    async def openapi_ot2() -> JSONResponse:
        url = live.lab.ot2_url
        if url is None:
            raise HTTPException(404, f"{live.lab.description} has no OT-2 task server")
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                response = await client.get(f"{url.rstrip('/')}/openapi.json")
                response.raise_for_status()
        except httpx.HTTPError as e:
            raise HTTPException(502, f"the OT-2 task server at {url} did not give its OpenAPI document: {e}") from None
        document: dict[str, Any] = response.json()
        return JSONResponse(document)

    return app


class DashboardServer:
    """The dashboard served on ``host:port`` (0: an ephemeral port) inside the running event loop.

    An async context manager: entering it starts ``live`` and the server, exiting stops both.
    """

    def __init__(self, live: LiveLab, *, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.live = live
        self.host, self.port = host, port
        allowed = [*_LOOPBACK_NAMES, host, f"[{host}]"]  # a Host header's name, its port left out
        self._server = EmbeddedUvicorn(uvicorn.Config(dashboard_app(live, allowed_hosts=allowed), log_level="warning",
                                                      lifespan="off", access_log=False))
        self._serving: asyncio.Task[None] | None = None
        self.url: str | None = None

    async def __aenter__(self) -> DashboardServer:
        """Listen (an OSError, e.g. the port in use, is raised here), then serve and follow the lab."""
        # Bound here, not by uvicorn: uvicorn answers a failed bind with sys.exit, which would end the program.
        listener = socket.create_server((self.host, self.port), family=_family(self.host))
        try:
            await self.live.__aenter__()
            self._serving = asyncio.get_running_loop().create_task(self._server.serve(sockets=[listener]),
                                                                    name="dashboard-server")
            while not self._server.started:  # uvicorn offers a flag, not an event
                if self._serving.done():
                    raise ConfigError(f"the dashboard could not serve: {self._serving.exception() or 'it stopped'}")
                await asyncio.sleep(0.02)
        except BaseException:
            await self.__aexit__(None, None, None)
            listener.close()
            raise
        host, port = listener.getsockname()[:2]
        self.url = f"http://{host}:{port}/" if ":" not in host else f"http://[{host}]:{port}/"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        if self._serving is not None:
            # Open event streams keep a graceful shutdown waiting; after a moment, close them.
            done, _ = await asyncio.wait({self._serving}, timeout=2.0)
            if not done:
                self._server.force_exit = True
                self._serving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._serving
        await self.live.__aexit__(*exc_info)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _event(name: str, data: dict[str, Any]) -> str:
    """One Server-Sent Event (the format is a few lines: https://html.spec.whatwg.org/#server-sent-events)."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
