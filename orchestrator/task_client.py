"""The one interface an orchestrator needs from a device client, whatever the transport.

The MQTT clients (Pico W, ESP32) and the HTTP clients (OT-2) all satisfy these protocols, so
an experiment written against :class:`AsyncTaskClient` drives either::

    async def mix_then_measure(ot2: AsyncTaskClient, sensor: AsyncTaskClient) -> float:
        await ot2.execute_task("mix_color", red_ul=100, yellow_ul=0, blue_ul=50, well="A1")
        return (await sensor.execute_task("read_sensor", sensor_pin=26))["voltage"]

Both raise the same exceptions: TaskError, TaskTimeout, DeviceOffline (all LabtwinError).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["AsyncTaskClient", "TaskClient"]


@runtime_checkable
class AsyncTaskClient(Protocol):
    """An asyncio client that runs tasks on one device."""

    device_id: str

    async def call(self, task: str, parameters: dict[str, Any] | None = None, *,
                   timeout: float | None = None) -> Any:
        """Run ``task`` with ``parameters`` and return its result."""
        ...

    async def execute_task(self, task_name: str, /, **params: Any) -> Any:
        """Run a task with keyword parameters (the seed's shape)."""
        ...


@runtime_checkable
class TaskClient(Protocol):
    """A blocking client that runs tasks on one device."""

    device_id: str

    def call(self, task: str, parameters: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Run ``task`` with ``parameters`` and return its result."""
        ...

    def execute_task(self, task_name: str, /, **params: Any) -> Any:
        """Run a task with keyword parameters (the seed's shape)."""
        ...
