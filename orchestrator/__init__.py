"""The orchestration framework used from CPython: wire protocol, MQTT clients, errors.

It knows nothing about twins: the same code drives simulated and real devices.
"""

from labtwin.errors import (
    BrokerUnavailable,
    ConfigError,
    DeviceOffline,
    LabtwinError,
    ProtocolError,
    TaskError,
    TaskTimeout,
)
from orchestrator.mqtt_client import AsyncMQTTOrchestratorClient
from orchestrator.protocol import Command, DeviceStatus, Result, Topics
from orchestrator.sync_client import MQTTOrchestratorClient

__all__ = [
    "AsyncMQTTOrchestratorClient",
    "BrokerUnavailable",
    "Command",
    "ConfigError",
    "DeviceOffline",
    "DeviceStatus",
    "LabtwinError",
    "MQTTOrchestratorClient",
    "ProtocolError",
    "Result",
    "TaskError",
    "TaskTimeout",
    "Topics",
]
