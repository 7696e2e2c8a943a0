"""The orchestration framework used from CPython: wire protocol, MQTT and HTTP clients, the HTTP
device server, errors.

It knows nothing about twins: the same code drives simulated and real devices.
The HTTP side (httpx, FastAPI, uvicorn: ~0.3 s of imports) loads on first use, so MQTT-only
programs such as ``labtwin run`` do not pay for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from labtwin.errors import (
    AuthenticationFailed,
    BrokerUnavailable,
    ConfigError,
    DeviceOffline,
    LabtwinError,
    ProtocolError,
    RobotApiError,
    TaskError,
    TaskRefused,
    TaskTimeout,
)
from labtwin.orchestrator.mqtt_client import AsyncMQTTOrchestratorClient
from labtwin.orchestrator.protocol import Command, DeviceStatus, Result, Topics
from labtwin.orchestrator.sync_client import MQTTOrchestratorClient
from labtwin.orchestrator.task_client import AsyncTaskClient, TaskClient

if TYPE_CHECKING:
    from labtwin.orchestrator.device_server import DeviceServer
    from labtwin.orchestrator.http_client import AsyncHTTPOrchestratorClient, HTTPOrchestratorClient
    from labtwin.orchestrator.http_tasks import TaskRegistry, task
    from labtwin.orchestrator.ot2_robot_client import AsyncOT2RobotClient

__all__ = [
    "AsyncHTTPOrchestratorClient",
    "AsyncMQTTOrchestratorClient",
    "AsyncOT2RobotClient",
    "AsyncTaskClient",
    "AuthenticationFailed",
    "BrokerUnavailable",
    "Command",
    "ConfigError",
    "DeviceOffline",
    "DeviceServer",
    "DeviceStatus",
    "HTTPOrchestratorClient",
    "LabtwinError",
    "MQTTOrchestratorClient",
    "ProtocolError",
    "Result",
    "RobotApiError",
    "TaskClient",
    "TaskError",
    "TaskRefused",
    "TaskRegistry",
    "TaskTimeout",
    "Topics",
    "task",
]

_LAZY_EXPORTS = {
    "AsyncHTTPOrchestratorClient": "labtwin.orchestrator.http_client",
    "AsyncOT2RobotClient": "labtwin.orchestrator.ot2_robot_client",
    "HTTPOrchestratorClient": "labtwin.orchestrator.http_client",
    "DeviceServer": "labtwin.orchestrator.device_server",
    "TaskRegistry": "labtwin.orchestrator.http_tasks",
    "task": "labtwin.orchestrator.http_tasks",
}


def __getattr__(name: str) -> Any:
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
