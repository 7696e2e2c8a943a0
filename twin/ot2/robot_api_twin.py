"""The OT-2 robot API twin as a managed subprocess, with a client for its fault controls.

:class:`Ot2RobotApiServer` runs ``python -m labtwin.twin.ot2.robot_api`` (the Opentrons robot's own
HTTP API, served by labtwin) on a loopback port, keeping its uploaded protocols in a directory
of its work dir and its output in ``<device_id>.log``. Once it is ready,
:attr:`Ot2RobotApiServer.control` drives its hidden ``/labtwin/...`` routes: failing routes
and commands, latency, the front door, and waiting for protocol analyses::

    async with Ot2RobotApiServer(work_dir=tmp, delay_speedup=100) as twin:
        await twin.control.fail_command(3, "tip-pickup-failed")
        ...  # drive twin.url with any robot API client
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from labtwin.errors import ConfigError, DeviceOffline
from labtwin.twin.ot2.simulator_process import SimulatorProcess

__all__ = ["DEFAULT_DEVICE_ID", "READY_LINE", "Ot2RobotApiServer", "RobotApiControl"]

DEFAULT_DEVICE_ID = "ot2-robot-api"
READY_LINE = re.compile(r"labtwin-ot2-robot-api listening on (http://\S+)")
"""What the twin prints once it accepts requests (``READY_LINE_PREFIX`` in twin/ot2/robot_api/__main__.py).

Spelled out here so that starting the twin does not import its server (FastAPI, uvicorn)."""
MOUNTS = ("left", "right")
NO_PIPETTE = "none"


class RobotApiControl:
    """An async client of one robot API twin's control routes (``/labtwin/...``).

    Every method raises :class:`~labtwin.errors.ConfigError` with the twin's own explanation
    when the twin refuses the request (a 4xx: an unknown error name, a bad status...),
    :class:`~labtwin.errors.DeviceOffline` when the twin cannot be reached, and
    :class:`httpx.HTTPStatusError` on any other failed answer. The methods that change
    something return the twin's fault state afterwards, as :meth:`faults` does.

    Args:
        base_url: where the twin serves (``http://127.0.0.1:PORT``).
        device_id: names the twin in errors.
        timeout: seconds each request may take (:meth:`wait_for_analyses` has its own).
    """

    def __init__(self, base_url: str, *, device_id: str = DEFAULT_DEVICE_ID, timeout: float = 10.0) -> None:
        self.base_url = base_url
        self.device_id = device_id
        # Loopback only: never route the twin's control requests through an environment's proxy.
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, trust_env=False)

    async def aclose(self) -> None:
        """Close the connection pool. Safe to call twice."""
        await self._client.aclose()

    async def faults(self) -> dict[str, Any]:
        """What is armed (route faults, the command failure, latency) and whether the door is open.

        The keys are the twin's: ``routes``, ``commandFailure``, ``latencyMultiplier``, ``doorOpen``.
        """
        return await self._request("GET", "/labtwin/faults")

    async def clear(self) -> dict[str, Any]:
        """Disarm every fault and close the door."""
        return await self._request("DELETE", "/labtwin/faults")

    async def fail_command(self, at_command: int, error: str = "tip-not-attached") -> dict[str, Any]:
        """Make the next run created fail at its ``at_command``-th command (1-based) with ``error``.

        ``error`` is one of the twin's names (``tip-not-attached``, ``tip-pickup-failed``,
        ``tip-drop-failed``, ``stall``, ``motor-driver``, ``command-timed-out``).
        """
        return await self._request("POST", "/labtwin/faults/command", {"atCommand": at_command, "error": error})

    async def fault_route(self, path: str, *, method: str = "*", kind: str = "error", status: int = 500,
                          times: int | None = 1) -> dict[str, Any]:
        """Answer requests for ``method path`` with a 5xx (``kind="error"``) or a reset connection.

        Args:
            path: a path or shell-style pattern (``/runs/*/actions``).
            method: an HTTP method, or ``*`` for any.
            kind: ``"error"`` answers ``status``; ``"reset"`` drops the connection unanswered.
            status: the 5xx status an error answers.
            times: how many requests to fault; None faults every one until :meth:`clear`.
        """
        body = {"path": path, "method": method, "kind": kind, "status": status, "times": times}
        return await self._request("POST", "/labtwin/faults/route", body)

    async def set_latency(self, multiplier: float) -> dict[str, Any]:
        """Make every robot API response take ``multiplier`` (>= 1) times as long."""
        return await self._request("POST", "/labtwin/faults/latency", {"multiplier": multiplier})

    async def set_door(self, open: bool) -> dict[str, Any]:
        """Open (a running protocol then blocks on the door) or close the robot's front door."""
        return await self._request("POST", "/labtwin/door", {"open": open})

    async def wait_for_analyses(self, timeout: float = 60.0) -> None:
        """Return once no uploaded protocol's analysis is pending; DeviceOffline after ``timeout`` s."""
        await self._request("POST", "/labtwin/analyses/wait", timeout=timeout)

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                       timeout: float | None = None) -> dict[str, Any]:
        """One control request; ``timeout`` None means the client's."""
        try:
            response = await self._client.request(
                method, path, json=body, timeout=self._client.timeout if timeout is None else timeout)
        except httpx.TransportError as exc:
            raise DeviceOffline(self.device_id, f"{method} {path} failed: {exc!r}") from None
        if 400 <= response.status_code < 500:
            raise ConfigError(f"{self.device_id} refused {method} {path} "
                              f"(HTTP {response.status_code}): {_detail(response)}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


def _detail(response: httpx.Response) -> str:
    """The explanation in a robot API error body (``{"errors": [{"detail": ...}]}`` or ``{"message": ...}``)."""
    try:
        body = response.json()
    except ValueError:
        return response.text or response.reason_phrase
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            details = [str(error.get("detail") or error.get("title") or error) for error in errors
                       if isinstance(error, dict)]
            if details:
                return "; ".join(details)
        if "message" in body:
            return str(body["message"])
    return response.text


class Ot2RobotApiServer(SimulatorProcess):
    """One simulated OT-2 serving the Opentrons robot HTTP API, plus :attr:`control` of its faults.

    Args:
        work_dir: holds the twin's log, its data directory (uploaded protocols) and opentrons config.
        device_id: names the twin in errors, log lines and file names.
        host: loopback address to serve on.
        port: port to serve on; 0 lets the kernel pick.
        delay_speedup: protocol delays run this many times faster (1: real time).
        pipettes: mount (``"left"``/``"right"``) -> pipette model; a mount left out or mapped to None
            has no pipette. None keeps the twin's defaults (a P20 and a P300 single-channel GEN2).
        robot_name: the name ``GET /health`` reports (None: the twin's default).
        start_timeout: seconds to wait for the twin to accept requests.
        stop_grace: seconds between SIGTERM and SIGKILL in :meth:`stop`.
        on_output: called with every line the twin prints.
        log_lines_max: lines kept in :attr:`log_lines`.
        control_timeout: seconds each :attr:`control` request may take.

    Raises:
        ConfigError: an unknown mount, or a ``delay_speedup`` that is not positive. (Unknown pipette
            models are the twin's to judge: it exits, and :meth:`start` raises SimulatorCrashed.)
    """

    ready_line = READY_LINE
    kind = "OT-2 robot API twin"
    logger = logging.getLogger("labtwin.twin.ot2_robot_api")

    def __init__(self, *, work_dir: Path, device_id: str = DEFAULT_DEVICE_ID, host: str = "127.0.0.1",
                 port: int = 0, delay_speedup: float = 1.0, pipettes: Mapping[str, str | None] | None = None,
                 robot_name: str | None = None, start_timeout: float = 60.0, stop_grace: float = 5.0,
                 on_output: Callable[[str], None] | None = None, log_lines_max: int = 1000,
                 control_timeout: float = 10.0) -> None:
        if not delay_speedup > 0:
            raise ConfigError(f"delay_speedup must be > 0, got {delay_speedup!r}")
        if pipettes is not None:
            unknown = sorted(set(pipettes) - set(MOUNTS))
            if unknown:
                raise ConfigError(f"unknown pipette mount(s) {unknown}: an OT-2 has 'left' and 'right'")
        super().__init__(work_dir=work_dir, device_id=device_id, host=host, port=port, start_timeout=start_timeout,
                         stop_grace=stop_grace, on_output=on_output, log_lines_max=log_lines_max)
        self.delay_speedup = float(delay_speedup)
        self.pipettes = dict(pipettes) if pipettes is not None else None
        self.robot_name = robot_name
        self.control_timeout = control_timeout
        self.data_dir = self.work_dir / f"{device_id}-data"
        self._control: RobotApiControl | None = None

    @property
    def control(self) -> RobotApiControl:
        """The client of the twin's fault controls (from :meth:`wait_ready` until :meth:`stop`)."""
        if self._control is None:
            raise RuntimeError(f"{self.kind} {self.device_id!r} is not ready: start it first")
        return self._control

    # --- hooks ----------------------------------------------------------------------------

    def _command(self) -> list[str]:
        argv = ["-m", "labtwin.twin.ot2.robot_api", "--host", self.host, "--port", str(self.port),
                "--data-dir", str(self.data_dir), "--delay-speedup", repr(self.delay_speedup)]
        if self.pipettes is not None:
            for mount in MOUNTS:
                argv += [f"--{mount}-pipette", self.pipettes.get(mount) or NO_PIPETTE]
        if self.robot_name is not None:
            argv += ["--robot-name", self.robot_name]
        return argv

    async def _on_ready(self, url: str) -> None:
        if self._control is None:
            self._control = RobotApiControl(url, device_id=self.device_id, timeout=self.control_timeout)

    async def _on_stopped(self) -> None:
        control, self._control = self._control, None
        if control is not None:
            await control.aclose()
