"""The one exception hierarchy of labtwin.

Every error a user can see derives from :class:`LabtwinError`, so callers can
catch one type, and the CLI can turn any of them into one clear line.
Messages say what happened, to what, and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationFailed",
    "BoardCrashed",
    "BrokerUnavailable",
    "ConfigError",
    "DeviceOffline",
    "ExperimentFailed",
    "LabtwinError",
    "ProtocolError",
    "RobotApiError",
    "SimulatedProcessCrashed",
    "SimulatorCrashed",
    "TaskError",
    "TaskRefused",
    "TaskTimeout",
    "UnsupportedVendorVersion",
]


class LabtwinError(Exception):
    """Base class of every error labtwin raises on purpose."""


class ConfigError(LabtwinError):
    """A configuration value (file, CLI flag, URL) is missing or invalid."""


class UnsupportedVendorVersion(ConfigError):
    """A package labtwin patches internally is installed at another version than the patch was written for."""

    def __init__(self, package: str, found: str | None, written_for: str, patch: str) -> None:
        self.package = package
        self.found = found
        self.written_for = written_for
        self.patch = patch
        installed = f"{package} {found} is installed" if found is not None else f"{package} is not installed"
        super().__init__(
            f"labtwin's patch of {package} ({patch}) was written for {package} {written_for}, but {installed}; "
            f"install {package}=={written_for} (pinned in labtwin's pyproject.toml) or port the patch "
            "in labtwin.twin.vendor_patches"
        )


class BrokerUnavailable(LabtwinError):
    """The MQTT broker could not be reached, started, or dropped the connection."""


class ProtocolError(LabtwinError):
    """A peer sent a message that does not follow docs/protocol.md."""


class DeviceOffline(LabtwinError):
    """The device's retained status says it is offline, or it went offline mid-request."""

    def __init__(self, device_id: str, detail: str = "") -> None:
        self.device_id = device_id
        message = f"device {device_id!r} is offline"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


class TaskTimeout(LabtwinError):
    """No result arrived for a request within its timeout."""

    def __init__(self, device_id: str, task: str, request_id: str, timeout: float) -> None:
        self.device_id = device_id
        self.task = task
        self.request_id = request_id
        self.timeout = timeout
        super().__init__(
            f"task {task!r} on device {device_id!r} got no result within {timeout:g} s "
            f"(request_id {request_id}); check that the device is running and subscribed"
        )


class TaskError(LabtwinError):
    """The device answered with an error result: it carries the device's code and message."""

    def __init__(self, device_id: str, task: str, code: str, message: str, request_id: str = "") -> None:
        self.device_id = device_id
        self.task = task
        self.code = code
        self.message = message
        self.request_id = request_id
        super().__init__(f"task {task!r} on device {device_id!r} failed [{code}]: {message}")


class SimulatedProcessCrashed(LabtwinError):
    """A simulated device's process exited unexpectedly; carries its exit code and last output."""

    what = "simulated device"

    def __init__(self, device_id: str, returncode: int | None, last_lines: list[str]) -> None:
        self.device_id = device_id
        self.returncode = returncode
        self.last_lines = list(last_lines)
        tail = " | ".join(line.strip() for line in self.last_lines[-3:] if line.strip())
        message = f"{self.what} {device_id!r} stopped (exit code {returncode})"
        if tail:
            message += f"; last output: {tail}"
        super().__init__(message)


class BoardCrashed(SimulatedProcessCrashed):
    """A simulated board's MicroPython process exited unexpectedly."""

    what = "simulated board"


class AuthenticationFailed(LabtwinError):
    """A device server rejected our credentials (HTTP 401)."""

    def __init__(self, device_id: str, detail: str = "") -> None:
        self.device_id = device_id
        message = f"device {device_id!r} rejected the request: missing or wrong auth token"
        if detail:
            message += f" ({detail})"
        super().__init__(message + "; pass the device's token as auth_token")


class TaskRefused(LabtwinError):
    """Raised by a task on the device to decline work it cannot do, with a code callers branch on.

    A device server answers it as an error result carrying ``code`` and ``message``
    (e.g. ``out_of_tips``); the orchestrator then raises :class:`TaskError` with them.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"[{code}] {message}")


class ExperimentFailed(LabtwinError):
    """An experiment's check did not hold: the lab (twin or bench) did not behave as the experiment expects."""


class SimulatorCrashed(SimulatedProcessCrashed):
    """A simulated device's process (e.g. the OT-2 twin on opentrons.simulate) exited unexpectedly."""


class RobotApiError(LabtwinError):
    """The OT-2 robot's HTTP API refused a request: carries the HTTP status and the robot's error id."""

    def __init__(self, robot: str, request: str, status_code: int, error_id: str, detail: str) -> None:
        self.robot = robot
        self.request = request
        self.status_code = status_code
        self.error_id = error_id
        self.detail = detail
        super().__init__(f"OT-2 {robot} refused {request} [{status_code} {error_id}]: {detail}")
