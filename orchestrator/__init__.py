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
from orchestrator.mqtt_client import AsyncMQTTOrchestratorClient
from orchestrator.protocol import Command, DeviceStatus, Result, Topics
from orchestrator.sync_client import MQTTOrchestratorClient
from orchestrator.task_client import AsyncTaskClient, TaskClient

if TYPE_CHECKING:
    from orchestrator.device_server import DeviceServer
    from orchestrator.http_client import AsyncHTTPOrchestratorClient, HTTPOrchestratorClient
    from orchestrator.ot2_robot_client import AsyncOT2RobotClient
    from orchestrator.http_tasks import TaskRegistry, task

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
    "AsyncHTTPOrchestratorClient": "orchestrator.http_client",
    "AsyncOT2RobotClient": "orchestrator.ot2_robot_client",
    "HTTPOrchestratorClient": "orchestrator.http_client",
    "DeviceServer": "orchestrator.device_server",
    "TaskRegistry": "orchestrator.http_tasks",
    "task": "orchestrator.http_tasks",
}


def __getattr__(name: str) -> Any:
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
