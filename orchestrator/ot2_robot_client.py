"""A client of the OT-2 robot's own HTTP API (port 31950): upload protocols, drive runs, read results.

For labs that run protocols on the OT-2 through its API rather than a task server. The same code
drives a real robot and labtwin's robot API twin::

    async with AsyncOT2RobotClient("http://ot2.lab:31950") as robot:
        run = await robot.run_protocol("transfer.py", Path("transfer.py").read_bytes())
        print(run["status"], len(run["errors"]))

Errors: an unreachable robot is :class:`~labtwin.errors.DeviceOffline`; a refused request is
:class:`~labtwin.errors.RobotApiError` (HTTP status, the robot's error id and detail); a protocol
whose analysis is not ok is :class:`~labtwin.errors.ProtocolError` before any run is created; a
run that does not finish in time is :class:`~labtwin.errors.TaskTimeout`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from labtwin.errors import ConfigError, DeviceOffline, ProtocolError, RobotApiError, TaskTimeout

__all__ = ["API_VERSION", "TERMINAL_RUN_STATUSES", "AsyncOT2RobotClient"]

API_VERSION = "3"
"""The ``Opentrons-Version`` sent: 3 is what common OT-2 clients send and every robot since 2021 serves."""
TERMINAL_RUN_STATUSES = frozenset({"succeeded", "failed", "stopped"})


class AsyncOT2RobotClient:
    """An asyncio client of one OT-2's HTTP API.

    Args:
        base_url: ``http://HOST:31950``.
        timeout: seconds per HTTP request.
        poll_interval: seconds between polls while waiting for an analysis or a run.
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0, poll_interval: float = 0.05) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"robot URL {base_url!r} must look like http://HOST:31950")
        self.base_url = base_url.rstrip("/")
        self.robot = parts.netloc
        self.poll_interval = poll_interval
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout,
                                       headers={"Opentrons-Version": API_VERSION})

    async def __aenter__(self) -> AsyncOT2RobotClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # --- requests -------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        """``GET /health``: name, model, software versions."""
        return await self._request("GET", "/health")

    async def upload_protocol(self, name: str, content: bytes,
                              labware: Sequence[tuple[str, bytes]] = ()) -> dict[str, Any]:
        """Upload a protocol file (plus custom labware JSON files); returns the protocol resource."""
        files = [("files", (name, content))] + [("files", (label, data)) for label, data in labware]
        return await self._data("POST", "/protocols", files=files)

    async def analysis(self, protocol_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The protocol's latest analysis once completed.

        Raises:
            TaskTimeout: not completed within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            analyses = (await self._request("GET", f"/protocols/{protocol_id}/analyses"))["data"]
            if analyses and analyses[-1]["status"] == "completed":
                return _object(analyses[-1], f"analysis of protocol {protocol_id}")
            if time.monotonic() > deadline:
                raise TaskTimeout(self.robot, "analysis", protocol_id, timeout)
            await asyncio.sleep(self.poll_interval)

    async def create_run(self, protocol_id: str | None = None) -> dict[str, Any]:
        """A new run of ``protocol_id`` (or a live run); the robot refuses while another run is going."""
        body = {"data": {"protocolId": protocol_id} if protocol_id is not None else {}}
        return await self._data("POST", "/runs", json=body)

    async def run(self, run_id: str) -> dict[str, Any]:
        """``GET /runs/{id}``: status, errors, actions, loaded equipment."""
        return await self._data("GET", f"/runs/{run_id}")

    async def commands(self, run_id: str) -> list[dict[str, Any]]:
        """Every command of the run so far, in order."""
        commands: list[dict[str, Any]] = []
        while True:
            page = await self._request("GET", f"/runs/{run_id}/commands",
                                       params={"cursor": len(commands), "pageLength": 200})
            commands.extend(page["data"])
            if not page["data"] or len(commands) >= page["meta"]["totalLength"]:
                return commands

    async def action(self, run_id: str, action_type: str) -> dict[str, Any]:
        """Send ``play``, ``pause`` or ``stop`` to the run."""
        body = {"data": {"actionType": action_type}}
        return await self._data("POST", f"/runs/{run_id}/actions", json=body)

    async def wait_for_run(self, run_id: str, statuses: frozenset[str] | set[str] = TERMINAL_RUN_STATUSES,
                           timeout: float = 600.0) -> dict[str, Any]:
        """Poll the run until its status is one of ``statuses``; returns the run.

        Raises:
            TaskTimeout: it did not get there within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            run = await self.run(run_id)
            if run["status"] in statuses:
                return run
            if time.monotonic() > deadline:
                raise TaskTimeout(self.robot, f"run {run['status']} -> {sorted(statuses)}", run_id, timeout)
            await asyncio.sleep(self.poll_interval)

    async def run_protocol(self, name: str, content: bytes, *, timeout: float = 600.0) -> dict[str, Any]:
        """Upload, check the analysis, create a run, play it and wait until it is over; returns the run.

        Raises:
            ProtocolError: the analysis found problems (nothing ran).
        """
        protocol = await self.upload_protocol(name, content)
        analysis = await self.analysis(protocol["id"])
        if analysis.get("result") != "ok":
            problems = "; ".join(error.get("detail", "?") for error in analysis.get("errors", [])) or "no detail"
            raise ProtocolError(f"protocol {name!r} did not pass analysis on {self.robot}: {problems}")
        run = await self.create_run(protocol["id"])
        await self.action(run["id"], "play")
        return await self.wait_for_run(run["id"], timeout=timeout)

    # --- internals ------------------------------------------------------------------------

    async def _data(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """The ``data`` object of the robot's answer to ``method path``."""
        return _object((await self._request(method, path, **kwargs)).get("data"), f"the data of {method} {path}")

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise DeviceOffline(self.robot, f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict):
            return body
        if response.is_success:
            raise ProtocolError(f"OT-2 {self.robot} answered {method} {path} with a body that is not a JSON object")
        error_id, detail = _error_of(body, response)
        raise RobotApiError(self.robot, f"{method} {path}", response.status_code, error_id, detail)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"the OT-2 sent {what} as {type(value).__name__}, not a JSON object")
    return value


def _error_of(body: Any, response: httpx.Response) -> tuple[str, str]:
    """(error id, detail) from either of the robot's error shapes."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("id", "Error")), str(errors[0].get("detail", ""))
        if "message" in body:
            return str(body.get("errorCode", "Error")), str(body["message"])
    return "HTTPError", response.text[:200] or response.reason_phrase
