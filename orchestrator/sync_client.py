"""Synchronous facade over AsyncMQTTOrchestratorClient, for scripts and notebooks.

Keeps the seed framework's shape::

    with MQTTOrchestratorClient("127.0.0.1", "pico-w-lab-001", broker_port=1883, timeout=10.0) as device:
        device.execute_task("control_led", pin="LED", state=True)

One event loop runs in a background thread; calls submit coroutines to it.
"""

from __future__ import annotations

from typing import Any

from labtwin.orchestrator.loop_thread import LoopThread
from labtwin.orchestrator.mqtt_client import AsyncMQTTOrchestratorClient
from labtwin.orchestrator.protocol import DEFAULT_TOPIC_PREFIX, DeviceStatus

__all__ = ["MQTTOrchestratorClient"]

# Margin on top of a task's own timeout before the facade gives up waiting on the loop thread.
_THREAD_MARGIN_S = 5.0


class MQTTOrchestratorClient:
    """Blocking client for one MQTT device; see AsyncMQTTOrchestratorClient for semantics."""

    def __init__(
        self,
        broker_host: str,
        device_id: str,
        broker_port: int = 1883,
        timeout: float = 10.0,
        *,
        topic_prefix: str = DEFAULT_TOPIC_PREFIX,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.device_id = device_id
        self.timeout = timeout
        self._async_client = AsyncMQTTOrchestratorClient(
            broker_host, device_id, broker_port, timeout=timeout, topic_prefix=topic_prefix,
            username=username, password=password)
        self._loop_thread = LoopThread(f"labtwin-mqtt-{device_id}")

    def __enter__(self) -> MQTTOrchestratorClient:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()

    def connect(self) -> None:
        """Start the loop thread and connect; raises BrokerUnavailable on failure."""
        self._loop_thread.start()
        try:
            self._loop_thread.run(self._async_client.connect(), self.timeout + _THREAD_MARGIN_S)
        except BaseException:
            self._loop_thread.stop()
            raise

    def disconnect(self) -> None:
        """Disconnect and stop the loop thread. Safe to call twice."""
        if not self._loop_thread.running:
            return
        try:
            self._loop_thread.run(self._async_client.disconnect(), self.timeout + _THREAD_MARGIN_S)
        finally:
            self._loop_thread.stop()

    def call(self, task: str, parameters: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Run a task and return its result; raises TaskError, TaskTimeout, DeviceOffline."""
        limit = self.timeout if timeout is None else timeout
        return self._loop_thread.run(self._async_client.call(task, parameters, timeout=limit), limit + _THREAD_MARGIN_S)

    def execute_task(self, task_name: str, /, **params: Any) -> Any:
        """Run a task with keyword parameters (the seed's shape)."""
        return self.call(task_name, params)

    def get_device_status(self) -> dict[str, Any]:
        """Run the device's get_device_status task."""
        result: dict[str, Any] = self.call("get_device_status")
        return result

    @property
    def status(self) -> DeviceStatus | None:
        """The device's last retained status, or None if none has been seen."""
        return self._async_client.status
