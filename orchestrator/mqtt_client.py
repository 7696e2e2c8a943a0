"""Async MQTT orchestrator client (aiomqtt): run tasks on one device and track its status.

Usage::

    async with AsyncMQTTOrchestratorClient("127.0.0.1", "pico-w-lab-001", broker_port=1883) as device:
        reading = await device.execute_task("read_sensor", sensor_pin=26)

Behaviour is specified in docs/protocol.md ("Orchestrator semantics"). The connection
is kept by a background task that reconnects with backoff after a broker loss and then
re-publishes every command still waiting for a result; the device deduplicates by
request_id, so a re-sent command never runs twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import aiomqtt

from labtwin.errors import BrokerUnavailable, DeviceOffline, ProtocolError, TaskError, TaskTimeout
from labtwin.orchestrator.protocol import DEFAULT_TOPIC_PREFIX, Command, DeviceStatus, Result, Topics

__all__ = ["AsyncMQTTOrchestratorClient"]

logger = logging.getLogger(__name__)
connection_log = logging.getLogger("labtwin.orchestrator.connection")
"""Lost and regained broker connections (a tool that injects faults can keep them off its terminal)."""

_NODELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
_RECONNECT_FIRST_DELAY = 0.1
_RECONNECT_MAX_DELAY = 2.0
_RECANCEL_S = 0.5  # disconnect() cancels its supervisor again this often until it ends
# How long a device may stay offline, while this client stays connected, before its waiting calls
# fail. A broker shutting down publishes every device's will and then drops this client too; the
# drop cancels the verdict, and the device gets the same time again after the reconnect.
OFFLINE_GRACE_S = 1.0


@dataclass
class _Pending:
    future: asyncio.Future[Result]
    payload: bytes
    boot: str | None
    """The device's boot id when the command was sent (None: unknown)."""


class AsyncMQTTOrchestratorClient:
    """Runs tasks on one MQTT device; a reusable, non-re-entrant async context manager."""

    def __init__(
        self,
        broker_host: str,
        device_id: str,
        broker_port: int = 1883,
        *,
        timeout: float = 10.0,
        topic_prefix: str = DEFAULT_TOPIC_PREFIX,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
    ) -> None:
        self.topics = Topics(device_id, topic_prefix)
        self.device_id = device_id
        self.broker_host = broker_host
        self.broker_port = broker_port
        self.timeout = timeout
        self._username = username
        self._password = password
        self._keepalive = keepalive
        self._pending: dict[str, _Pending] = {}
        self._status: DeviceStatus | None = None
        self._status_payload: bytes | str | None = None  # the payload _status came from
        self._client: aiomqtt.Client | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._status_changed: asyncio.Condition | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._connection_epoch = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncMQTTOrchestratorClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    async def connect(self) -> None:
        """Connect and subscribe; raises BrokerUnavailable if the broker cannot be reached in time."""
        if self._supervisor is not None:
            raise RuntimeError("client is already connected")
        self._status_changed = asyncio.Condition()
        first_connect: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._supervisor = asyncio.create_task(
            self._keep_connected(first_connect), name=f"labtwin-mqtt-{self.device_id}")
        try:
            async with asyncio.timeout(self.timeout):
                await first_connect
        except BaseException as e:
            await self._stop_supervisor()
            if isinstance(e, TimeoutError):
                raise BrokerUnavailable(
                    f"no connection to MQTT broker {self.broker_host}:{self.broker_port} "
                    f"within {self.timeout:g} s") from None
            raise

    async def disconnect(self) -> None:
        """Disconnect; any request still waiting fails with BrokerUnavailable."""
        self._fail_pending(BrokerUnavailable(f"client for {self.device_id!r} disconnected"))
        await self._stop_supervisor()

    async def _stop_supervisor(self) -> None:
        background, self._background = self._background, set()
        for job in background:
            job.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            # A cancel can be lost inside a library: Python 3.11's asyncio.wait_for (under aiomqtt's connect,
            # subscribe and publish) returns a result that arrived in the same loop turn and drops the
            # cancel. The supervisor would then serve on, and this wait never end: ask again.
            while not (await asyncio.wait({task}, timeout=_RECANCEL_S))[0]:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                task.result()
        self._client = None

    def _make_client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.broker_host, self.broker_port, username=self._username, password=self._password,
            identifier=f"labtwin-orch-{uuid.uuid4().hex[:12]}", keepalive=self._keepalive,
            clean_session=True, timeout=self.timeout, socket_options=_NODELAY,
        )

    async def _keep_connected(self, first_connect: asyncio.Future[None]) -> None:
        delay = _RECONNECT_FIRST_DELAY
        lost_since: float | None = None
        while True:
            try:
                async with self._make_client() as client:
                    # Status first: a retained status then arrives before the second SUBACK.
                    await client.subscribe(self.topics.status, qos=1)
                    await client.subscribe(self.topics.result, qos=1)
                    self._client = client
                    if not first_connect.done():
                        first_connect.set_result(None)
                    if lost_since is not None:
                        connection_log.warning("reconnected to MQTT broker %s:%s after %.1f s", self.broker_host,
                                       self.broker_port, asyncio.get_running_loop().time() - lost_since)
                        lost_since = None
                    delay = _RECONNECT_FIRST_DELAY
                    for pending in list(self._pending.values()):
                        self._send_command(pending.payload)
                    async for message in client.messages:
                        self._dispatch(message)
            except aiomqtt.MqttError as e:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # disconnect() cancelled us while the connection was breaking: aiomqtt's __aexit__
                    # then raises the broken connection's MqttError instead of the CancelledError,
                    # and reconnecting would go on for ever (disconnect() waits for this task).
                    raise asyncio.CancelledError from e
                self._client = None
                self._connection_epoch += 1
                if not first_connect.done():
                    first_connect.set_exception(BrokerUnavailable(
                        f"cannot connect to MQTT broker {self.broker_host}:{self.broker_port}: {e}"))
                    return
                if lost_since is None:
                    lost_since = asyncio.get_running_loop().time()
                    connection_log.warning("lost MQTT broker %s:%s (%s); reconnecting with backoff",
                                   self.broker_host, self.broker_port, e)
                else:
                    logger.debug("reconnect to %s:%s failed (%s); next try in %.1f s",
                                 self.broker_host, self.broker_port, e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RECONNECT_MAX_DELAY)

    # --- incoming -------------------------------------------------------------------------

    def _dispatch(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = message.payload if isinstance(message.payload, (bytes, str)) else b""
        try:
            if topic == self.topics.result:
                self._on_result(Result.decode(payload))
            elif topic == self.topics.status:
                if message.retain and payload == self._status_payload:
                    # The status we hold, handed over again from the broker's store (amqtt gives a new
                    # subscription the same retained message twice): nothing new, and no cause to re-send.
                    return
                self._on_status(DeviceStatus.decode(payload))
                self._status_payload = payload
        except ProtocolError as e:
            logger.warning("ignored malformed message on %s: %s", topic, e)

    def _on_result(self, result: Result) -> None:
        pending = self._pending.get(result.request_id)
        if pending is None or pending.future.done():
            logger.debug("ignored result for unknown or finished request %s", result.request_id)
            return
        pending.future.set_result(result)

    def _on_status(self, status: DeviceStatus) -> None:
        self._status = status
        if not status.online:
            if status.boot is None:  # a device that sends no boot id: its comeback cannot be judged
                self._fail_pending(DeviceOffline(self.device_id, "status turned offline while waiting"))
            elif self._pending:
                self._in_background(self._fail_pending_if_still_offline(self._connection_epoch))
        else:
            # A device announces itself after subscribing. A command published while it was away
            # (say, both reconnecting after a broker restart) is gone on a broker that kept no
            # session for it, so send the waiting ones again: the device's dedup makes a repeat
            # safe, unless it rebooted since (its dedup memory is gone), which fails them instead.
            for pending in list(self._pending.values()):
                if pending.future.done():
                    continue
                if pending.boot is not None and status.boot is not None and pending.boot != status.boot:
                    pending.future.set_exception(DeviceOffline(
                        self.device_id, "it restarted while the request waited; the task may or may not have run"))
                else:
                    self._send_command(pending.payload)
        if self._status_changed is not None:
            self._in_background(self._notify_status())

    async def _notify_status(self) -> None:
        assert self._status_changed is not None
        async with self._status_changed:
            self._status_changed.notify_all()

    async def _fail_pending_if_still_offline(self, epoch: int) -> None:
        await asyncio.sleep(OFFLINE_GRACE_S)
        if epoch == self._connection_epoch and self._status is not None and not self._status.online:
            self._fail_pending(DeviceOffline(
                self.device_id, f"offline for {OFFLINE_GRACE_S:g} s while the request waited; "
                                "the task may or may not have run"))

    def _fail_pending(self, error: Exception) -> None:
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)

    # --- requests -------------------------------------------------------------------------

    @property
    def status(self) -> DeviceStatus | None:
        """The device's last retained status, or None if none has been seen."""
        return self._status

    async def wait_for_status(self, state: str = "online", timeout: float | None = None) -> DeviceStatus:
        """Wait until the retained status is `state`; raises TimeoutError after `timeout` s."""
        if self._status_changed is None:
            raise RuntimeError("client is not connected")

        def reached() -> bool:
            return self._status is not None and self._status.status == state

        async with asyncio.timeout(self.timeout if timeout is None else timeout):
            async with self._status_changed:
                await self._status_changed.wait_for(reached)
        assert self._status is not None
        return self._status

    async def call(self, task: str, parameters: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Run `task` with `parameters` on the device and return its result.

        Raises TaskError (device error result), TaskTimeout, DeviceOffline or BrokerUnavailable.
        """
        if self._supervisor is None:
            raise BrokerUnavailable("client is not connected: call connect() or use `async with`")
        if self._status is not None and not self._status.online:
            raise DeviceOffline(self.device_id, "its retained status is offline")
        command = Command(task, dict(parameters or {}))
        payload = command.encode()
        limit = self.timeout if timeout is None else timeout
        boot = self._status.boot if self._status is not None else None
        pending = _Pending(asyncio.get_running_loop().create_future(), payload, boot)
        self._pending[command.request_id] = pending
        self._send_command(payload)
        try:
            async with asyncio.timeout(limit):
                result = await pending.future
        except TimeoutError:
            if self._client is None:
                raise BrokerUnavailable(
                    f"task {task!r} on device {self.device_id!r}: no connection to MQTT broker "
                    f"{self.broker_host}:{self.broker_port} when the {limit:g} s timeout ran out "
                    f"(request_id {command.request_id}); is the broker running?") from None
            if self._status is not None and not self._status.online:
                raise DeviceOffline(
                    self.device_id, f"it went offline while the request waited and was not back within "
                                    f"{limit:g} s; the task may or may not have run") from None
            raise TaskTimeout(self.device_id, task, command.request_id, limit) from None
        finally:
            del self._pending[command.request_id]
            if pending.future.done() and not pending.future.cancelled():
                pending.future.exception()  # an outcome that lost the race with the timeout: seen
        if result.ok:
            return result.result
        raise TaskError(self.device_id, task, result.error_code or "", result.error_message or "",
                        command.request_id)

    def _send_command(self, payload: bytes) -> None:
        # In the background: a call waits for its result, never for the broker's PUBACK, which
        # aiomqtt would wait for until its timeout if the connection died with the publish in flight
        # (the command is re-sent on reconnect anyway).
        self._in_background(self._publish_command(payload))

    def _in_background(self, coro: Coroutine[Any, Any, None]) -> None:
        job = asyncio.create_task(coro)
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    async def _publish_command(self, payload: bytes) -> None:
        client = self._client
        if client is None:
            return  # the supervisor publishes pending commands once it reconnects
        try:
            await client.publish(self.topics.command, payload, qos=1)
        except aiomqtt.MqttError as e:
            logger.info("publish failed (%s); the command is re-sent after reconnecting", e)

    async def execute_task(self, task_name: str, /, **params: Any) -> Any:
        """Run a task with keyword parameters (the seed's shape); see call()."""
        return await self.call(task_name, params)

    async def get_device_status(self) -> dict[str, Any]:
        """Run the device's get_device_status task."""
        result: dict[str, Any] = await self.call("get_device_status")
        return result
