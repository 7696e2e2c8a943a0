"""The CPython side of the wire protocol defined in docs/protocol.md.

Encoding and decoding only: no I/O. The firmware implements the same protocol in
``firmware/command_codec.py``; end-to-end tests hold the two together.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from labtwin.errors import ConfigError, ProtocolError

__all__ = [
    "DEFAULT_TOPIC_PREFIX",
    "ERROR_CODES",
    "MAX_COMMAND_BYTES",
    "PROTOCOL_VERSION",
    "Command",
    "DeviceStatus",
    "Result",
    "Topics",
    "validate_device_id",
]

PROTOCOL_VERSION = 1
DEFAULT_TOPIC_PREFIX = "ot2"
MAX_COMMAND_BYTES = 4096
ERROR_CODES = frozenset({"bad_request", "unknown_task", "bad_parameters", "task_failed", "busy"})


def validate_device_id(device_id: str) -> str:
    """Return device_id if it can be part of an MQTT topic; raise ConfigError otherwise."""
    if not isinstance(device_id, str) or not device_id:
        raise ConfigError("device id must be a non-empty string")
    bad = [c for c in "/+#" if c in device_id]
    if bad:
        raise ConfigError(f"device id {device_id!r} must not contain {''.join(bad)!r}: it is part of MQTT topics")
    return device_id


@dataclass(frozen=True)
class Topics:
    """The three topics of one device."""

    device_id: str
    prefix: str = DEFAULT_TOPIC_PREFIX

    def __post_init__(self) -> None:
        validate_device_id(self.device_id)
        if not self.prefix or any(c in self.prefix for c in "+#"):
            raise ConfigError(f"topic prefix {self.prefix!r} must be non-empty and free of '+' and '#'")

    @property
    def command(self) -> str:
        return f"{self.prefix}/{self.device_id}/command"

    @property
    def result(self) -> str:
        return f"{self.prefix}/{self.device_id}/result"

    @property
    def status(self) -> str:
        return f"{self.prefix}/{self.device_id}/status"


def _loads_object(payload: bytes | str, what: str) -> dict[str, Any]:
    try:
        message = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"{what} must be a JSON object, got {type(message).__name__}")
    return message


@dataclass(frozen=True)
class Command:
    """A request for a device to run one task."""

    task: str
    parameters: dict[str, Any] = field(default_factory=dict)
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    timestamp: float = field(default_factory=time.time)

    def encode(self) -> bytes:
        """The JSON payload; raises ProtocolError if the parameters cannot be sent."""
        try:
            payload = json.dumps(
                {"request_id": self.request_id, "task": self.task, "parameters": self.parameters,
                 "timestamp": self.timestamp},
                allow_nan=False, separators=(",", ":"),
            ).encode()
        except (TypeError, ValueError) as e:
            raise ProtocolError(f"parameters of task {self.task!r} are not JSON-serialisable: {e}") from None
        if len(payload) > MAX_COMMAND_BYTES:
            raise ProtocolError(
                f"command for task {self.task!r} is {len(payload)} bytes; devices accept at most {MAX_COMMAND_BYTES}")
        return payload


@dataclass(frozen=True)
class Result:
    """A device's answer to one command: a success value or an error code and message."""

    request_id: str
    task: str
    device_id: str
    status: Literal["success", "error"]
    result: Any = None
    error_code: str | None = None
    error_message: str | None = None
    timestamp: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @classmethod
    def decode(cls, payload: bytes | str) -> Result:
        """Parse a result payload; raises ProtocolError when it breaks the protocol."""
        m = _loads_object(payload, "result")
        request_id, status = m.get("request_id"), m.get("status")
        if not isinstance(request_id, str) or not request_id:
            raise ProtocolError("result lacks a string request_id")
        if status == "success":
            return cls(request_id, str(m.get("task", "")), str(m.get("device_id", "")), "success",
                       result=m.get("result"), timestamp=_number_or_none(m.get("timestamp")))
        if status == "error":
            error = m.get("error")
            if not isinstance(error, dict) or not isinstance(error.get("code"), str):
                raise ProtocolError(f"error result {request_id} lacks error.code")
            return cls(request_id, str(m.get("task", "")), str(m.get("device_id", "")), "error",
                       error_code=error["code"], error_message=str(error.get("message", "")),
                       timestamp=_number_or_none(m.get("timestamp")))
        raise ProtocolError(f"result {request_id} has status {status!r}, expected 'success' or 'error'")


@dataclass(frozen=True)
class DeviceStatus:
    """A device's retained status message."""

    device_id: str
    status: Literal["online", "offline"]
    timestamp: float | None = None
    firmware: str | None = None
    protocol: int | None = None
    board: str | None = None
    tasks: dict[str, Any] = field(default_factory=dict)
    boot: str | None = None
    """The device's boot id: new at every boot, so a change means the device restarted (None: not sent)."""

    @property
    def online(self) -> bool:
        return self.status == "online"

    @classmethod
    def decode(cls, payload: bytes | str) -> DeviceStatus:
        """Parse a status payload; raises ProtocolError when it breaks the protocol."""
        m = _loads_object(payload, "status")
        status = m.get("status")
        if status not in ("online", "offline"):
            raise ProtocolError(f"status must be 'online' or 'offline', got {status!r}")
        tasks = m.get("tasks") or {}
        if not isinstance(tasks, dict):
            raise ProtocolError("status.tasks must be an object")
        protocol, boot = m.get("protocol"), m.get("boot")
        return cls(
            device_id=str(m.get("device_id", "")), status=status, timestamp=_number_or_none(m.get("timestamp")),
            firmware=m.get("firmware"), protocol=protocol if isinstance(protocol, int) else None,
            board=m.get("board"), tasks=tasks, boot=boot if isinstance(boot, str) and boot else None,
        )


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)
