"""Faults a scenario can inject into the robot API twin: failing routes, resets, a slow robot.

:class:`RobotFaults` holds what is armed; :class:`FaultInjectingApp` is the outermost ASGI layer
that applies the HTTP faults (it sits outside the app so that a reset drops the real TCP
connection, as a robot whose server died would). Command failures and the door are applied by
the runs and the simulated robot; they are armed here too so that one object describes them all.
The twin's control routes (``/labtwin/...``) are never faulted or slowed.
"""

from __future__ import annotations

import asyncio
import fnmatch
import socket
import struct
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labtwin.errors import ConfigError
from labtwin.twin.ot2.robot_api.command_faults import CommandFailure
from labtwin.twin.ot2.robot_api.responses import error_response
from labtwin.twin.ot2.robot_api.versioning import CONTROL_PATH_PREFIX

__all__ = ["FaultInjectingApp", "RobotFaults", "RouteFault"]

FaultKind = Literal["error", "reset"]


@dataclass
class RouteFault:
    """Answer requests matching ``method`` and ``path`` with an HTTP error, or reset the connection.

    Args:
        path: a path or shell-style pattern (``/runs/*/actions``).
        method: an HTTP method, or ``*`` for any.
        kind: ``error`` answers ``status``; ``reset`` drops the connection without a response.
        status: the 5xx status an ``error`` answers.
        times: how many requests to fault; None faults every request until cleared.
    """

    path: str
    method: str = "*"
    kind: FaultKind = "error"
    status: int = 500
    times: int | None = 1

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if not self.path.startswith("/"):
            raise ConfigError(f"a route fault's path must start with '/', got {self.path!r}")
        if self.kind not in ("error", "reset"):
            raise ConfigError(f"a route fault's kind is 'error' or 'reset', got {self.kind!r}")
        if not 500 <= self.status <= 599:
            raise ConfigError(f"a route fault answers a 5xx status, got {self.status}")
        if self.times is not None and self.times < 1:
            raise ConfigError(f"times must be >= 1 (or None for always), got {self.times}")

    def matches(self, method: str, path: str) -> bool:
        """Whether a request for ``method path`` is faulted."""
        return self.method in ("*", method.upper()) and fnmatch.fnmatchcase(path, self.path)


@dataclass
class RobotFaults:
    """Every fault armed on one twin; mutated by the control routes, read by the app."""

    routes: list[RouteFault] = field(default_factory=list)
    command_failure: CommandFailure | None = None
    latency_multiplier: float = 1.0

    def set_latency(self, multiplier: float) -> None:
        """Make every response take ``multiplier`` times as long as the twin needed for it (>= 1)."""
        if not multiplier >= 1:
            raise ConfigError(f"a latency multiplier is >= 1, got {multiplier!r}")
        self.latency_multiplier = multiplier

    def take_route_fault(self, method: str, path: str) -> RouteFault | None:
        """The armed fault for this request, if any, counting it as used."""
        for fault in self.routes:
            if fault.matches(method, path):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self.routes.remove(fault)
                return fault
        return None

    def take_command_failure(self) -> CommandFailure | None:
        """The armed command failure, for the run being created (each arms one run)."""
        failure, self.command_failure = self.command_failure, None
        return failure

    def clear(self) -> None:
        """Disarm everything."""
        self.routes.clear()
        self.command_failure = None
        self.latency_multiplier = 1.0

    def describe(self) -> dict[str, Any]:
        """What is armed, as JSON."""
        return {"routes": [asdict(fault) for fault in self.routes],
                "commandFailure": asdict(self.command_failure) if self.command_failure else None,
                "latencyMultiplier": self.latency_multiplier}


class FaultInjectingApp:
    """Wraps the robot API app (outermost, under uvicorn) and applies the armed HTTP faults."""

    def __init__(self, app: ASGIApp, faults: RobotFaults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request, faulted or slowed as armed."""
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PATH_PREFIX):
            await self.app(scope, receive, send)
            return
        fault = self.faults.take_route_fault(scope["method"], scope["path"])
        if fault is not None and fault.kind == "reset" and _reset_connection(send):
            return
        if fault is not None:
            response = error_response(scope["path"], fault.status, error_id="InjectedFault",
                                      title="Injected Fault", detail=f"labtwin injected a {fault.status} here",
                                      error_code="4000")
            await response(scope, receive, send)
            return
        multiplier = self.faults.latency_multiplier
        if multiplier == 1:
            await self.app(scope, receive, send)
            return
        started = time.monotonic()

        async def send_slowly(message: Message) -> None:
            if message["type"] == "http.response.start":
                await asyncio.sleep((time.monotonic() - started) * (multiplier - 1))
            await send(message)

        await self.app(scope, receive, send_slowly)


def _reset_connection(send: Send) -> bool:
    """Drop the request's TCP connection with a RST (uvicorn only); False if not possible here."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger 0: closing sends RST instead of FIN, so the client sees "connection reset by peer".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    return True
