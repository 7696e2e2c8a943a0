"""The orchestrator re-sends waiting commands when the device announces itself online again,
and a call waits for its result, not for the broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Coroutine
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
import pytest
from fake_broker import (
    CONNECT,
    DISCONNECT,
    PINGREQ,
    PUBLISH,
    SUBSCRIBE,
    ScriptedBroker,
    Step,
    accept,
    connack,
    expect,
    expect_type,
    publish,
    send,
    suback,
)

from labtwin.errors import DeviceOffline
from labtwin.orchestrator.mqtt_client import AsyncMQTTOrchestratorClient
from labtwin.orchestrator.protocol import Topics


async def test_a_command_lost_while_the_device_was_away_is_sent_again_when_it_comes_online(broker, peer,
                                                                                           next_message):
    topics = Topics("dev-away")
    async with peer(broker) as device, AsyncMQTTOrchestratorClient(broker.host, "dev-away", broker.port,
                                                                   timeout=5.0) as client:
        await device.subscribe(topics.command, qos=1)
        call = asyncio.create_task(client.call("get_device_status"))
        first = json.loads((await next_message(device)).payload)
        # The device "missed" that one (it was reconnecting); it now subscribes and says it is online.
        online = {"device_id": "dev-away", "status": "online", "timestamp": 1.0, "firmware": "t", "protocol": 1}
        await device.publish(topics.status, json.dumps(online), qos=1, retain=True)
        again = json.loads((await next_message(device)).payload)
        assert again["request_id"] == first["request_id"] and again["task"] == "get_device_status"
        result = {"request_id": first["request_id"], "status": "success", "result": {"ok": True}, "timestamp": 2.0}
        await device.publish(topics.result, json.dumps(result), qos=1)
        assert await call == {"ok": True}


def _orchestrator_connects(topics: Topics, retained_status: bytes | None = None) -> list[Step]:
    """The client's CONNECT and SUBSCRIBEs (status, then result), answered; the retained status, if any, follows
    the first SUBACK as a broker sends it; then its first command is saved as "command"."""
    def status_suback(ctx: dict) -> bytes:
        retained = publish(topics.status, retained_status, retain=True) if retained_status is not None else b""
        return suback(ctx["sub_status"].pid, 1) + retained

    return [
        accept(),
        expect_type(CONNECT),
        send(connack()),
        expect_type(SUBSCRIBE, save="sub_status"),
        send(status_suback),
        expect_type(SUBSCRIBE, save="sub_result"),
        send(lambda ctx: suback(ctx["sub_result"].pid, 1)),
        expect(lambda p: p.type == PUBLISH and p.topic == topics.command, save="command", ignore=(PINGREQ,)),
    ]


def _done_for_command(topics: Topics) -> Callable[[dict], bytes]:
    """The device's success result ("done"), QoS 0, for the command the script saved."""
    def result(ctx: dict) -> bytes:
        request_id = json.loads(ctx["command"].payload)["request_id"]
        message = {"request_id": request_id, "status": "success", "result": "done", "timestamp": 2.0}
        return publish(topics.result, json.dumps(message).encode(), qos=0)
    return result


async def test_a_call_ends_on_its_result_even_when_the_broker_never_acknowledges_the_command():
    # A broker that dies right after forwarding a command never sends its PUBACK. The call's outcome
    # is the device's result: it must not wait for the acknowledgement (aiomqtt would, up to the
    # client's timeout, which here is far longer than the call's).
    topics = Topics("dev-noack")
    steps = [
        *_orchestrator_connects(topics),
        send(_done_for_command(topics)),  # ... and no PUBACK, ever (the connection stays open, unread)
    ]
    async with ScriptedBroker(steps) as broker, \
            AsyncMQTTOrchestratorClient(broker.host, "dev-noack", broker.port, timeout=300.0) as client:
        assert await client.call("get_device_status", timeout=30.0) == "done"


def _status(device_id: str, state: str, boot: str | None) -> str:
    message = {"device_id": device_id, "status": state, "timestamp": 1.0, "firmware": "t", "protocol": 1}
    if boot is not None:
        message["boot"] = boot
    return json.dumps(message)


async def _call_across_an_offline_spell(broker, peer, next_message, *, boot_before: str | None,
                                        boot_after: str | None, comes_back: bool = True,
                                        ) -> tuple[asyncio.Task, dict, dict | None]:
    """A call is waiting when the device's will says offline, then (``comes_back``) the device announces itself again.

    Returns the finished call, the first command and the re-sent one (None if none). Whether it was
    re-sent shows by a later call: its command reaches the device after any re-send.
    """
    device_id = "dev-spell"
    topics = Topics(device_id)
    async with peer(broker) as device:
        await device.subscribe(topics.command, qos=1)
        await device.publish(topics.status, _status(device_id, "online", boot_before), qos=1, retain=True)
        client = AsyncMQTTOrchestratorClient(broker.host, device_id, broker.port, timeout=30.0)
        await client.connect()
        try:
            await client.wait_for_status("online")
            call = asyncio.create_task(client.call("dispense"))
            first = json.loads((await next_message(device)).payload)
            # As a broker shutting down sends it: the device's will, while the command waits.
            await device.publish(topics.status, _status(device_id, "offline", boot_before), qos=1, retain=True)
            await client.wait_for_status("offline")
            again = None
            if comes_back:  # else nothing could prompt a re-send: the call can only fail
                await device.publish(topics.status, _status(device_id, "online", boot_after), qos=1, retain=True)
                await client.wait_for_status("online")
                marker = asyncio.create_task(client.call("marker"))
                while (command := json.loads((await next_message(device)).payload))["task"] != "marker":
                    assert command["request_id"] == first["request_id"] and again is None, command
                    again = command
                    result = {"request_id": again["request_id"], "status": "success", "result": "dosed",
                              "timestamp": 2.0}
                    await device.publish(topics.result, json.dumps(result), qos=1)
                done = {"request_id": command["request_id"], "status": "success", "result": None, "timestamp": 3.0}
                await device.publish(topics.result, json.dumps(done), qos=1)
                await marker
            await asyncio.wait([call], timeout=30.0)  # the 1 s offline grace, generously
            return call, first, again
        finally:
            await client.disconnect()


async def test_a_waiting_call_survives_an_offline_spell_of_a_device_that_did_not_restart(broker, peer, next_message):
    call, first, again = await _call_across_an_offline_spell(broker, peer, next_message,
                                                             boot_before="b1", boot_after="b1")
    assert again is not None and again["request_id"] == first["request_id"]
    assert call.result() == "dosed"


async def test_a_waiting_call_fails_when_the_device_comes_back_from_a_restart(broker, peer, next_message):
    # Its dedup memory went with the restart: sending the command again could run it twice.
    call, _, again = await _call_across_an_offline_spell(broker, peer, next_message,
                                                         boot_before="b1", boot_after="b2")
    assert again is None
    with pytest.raises(DeviceOffline, match="restarted while the request waited"):
        call.result()


async def test_a_waiting_call_fails_at_once_when_a_device_without_boot_ids_goes_offline(broker, peer, next_message):
    call, _, _ = await _call_across_an_offline_spell(broker, peer, next_message, boot_before=None, boot_after=None)
    with pytest.raises(DeviceOffline, match="turned offline while waiting"):
        call.result()


async def test_a_waiting_call_fails_when_the_device_stays_offline_while_the_broker_stays_up(broker, peer,
                                                                                           next_message):
    # Not a broker shutting down (that would drop this client too): the device is gone.
    call, _, again = await _call_across_an_offline_spell(broker, peer, next_message, boot_before="b1",
                                                         boot_after=None, comes_back=False)
    assert again is None
    with pytest.raises(DeviceOffline, match="offline for 1 s while the request waited"):
        call.result()


async def _ends_by_itself(coro: Coroutine[Any, Any, None], within_s: float = 30.0) -> None:
    """Await ``coro``, failing if it has not ended within ``within_s`` (never cancelling it: a cancel would end it)."""
    task = asyncio.create_task(coro)
    done, _ = await asyncio.wait({task}, timeout=within_s)
    assert task in done, f"still running after {within_s} s"
    task.result()


class _ClientWhoseExitHidesTheCancel:
    """Stands in for aiomqtt.Client in the race where disconnect() cancels the supervisor just as the
    connection breaks: aiomqtt's ``__aexit__`` awaits paho's disconnection, which fails ("Unexpected
    disconnection"), and raises that MqttError in place of the CancelledError."""

    entered = 0

    async def __aenter__(self) -> _ClientWhoseExitHidesTheCancel:
        type(self).entered += 1
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, asyncio.CancelledError):
            raise aiomqtt.MqttCodeError(mqtt.MQTT_ERR_CONN_LOST, "Unexpected disconnection")

    async def subscribe(self, topic: str, qos: int = 0) -> None:
        return None

    @property
    def messages(self) -> _ClientWhoseExitHidesTheCancel:
        return self

    def __aiter__(self) -> _ClientWhoseExitHidesTheCancel:
        return self

    async def __anext__(self) -> aiomqtt.Message:
        await asyncio.get_running_loop().create_future()  # no message, ever
        raise StopAsyncIteration


async def test_disconnect_ends_the_client_even_when_aiomqtt_turns_the_cancel_into_an_mqtt_error() -> None:
    client = AsyncMQTTOrchestratorClient("127.0.0.1", "dev-cancel", 1, timeout=5.0)
    client._make_client = _ClientWhoseExitHidesTheCancel  # type: ignore[method-assign]
    await client.connect()
    assert _ClientWhoseExitHidesTheCancel.entered == 1
    supervisor = client._supervisor
    assert supervisor is not None
    # Before the fix the supervisor took the MqttError for a lost broker and reconnected for ever.
    await _ends_by_itself(client.disconnect())
    assert supervisor.done()
    assert _ClientWhoseExitHidesTheCancel.entered == 1  # and it did not reconnect on the way out


class _ClientWhoseConnectSwallowsTheCancel(_ClientWhoseExitHidesTheCancel):
    """The first connection breaks at once; the reconnect is cancelled while it waits for its CONNACK, which
    arrives in the same loop turn: Python 3.11's asyncio.wait_for (aiomqtt's) returns it and drops the cancel."""

    reconnecting: asyncio.Event

    async def __aenter__(self) -> _ClientWhoseExitHidesTheCancel:
        type(self).entered += 1
        if type(self).entered == 2:
            type(self).reconnecting.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.get_running_loop().create_future()
        return self

    async def __anext__(self) -> aiomqtt.Message:
        if type(self).entered == 1:
            raise aiomqtt.MqttError("Disconnected during message iteration")
        return await super().__anext__()

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        return None


async def test_disconnect_ends_the_client_even_when_a_cancel_is_swallowed_while_reconnecting() -> None:
    _ClientWhoseConnectSwallowsTheCancel.entered = 0
    _ClientWhoseConnectSwallowsTheCancel.reconnecting = asyncio.Event()
    client = AsyncMQTTOrchestratorClient("127.0.0.1", "dev-swallow", 1, timeout=5.0)
    client._make_client = _ClientWhoseConnectSwallowsTheCancel  # type: ignore[method-assign]
    await client.connect()
    await _ClientWhoseConnectSwallowsTheCancel.reconnecting.wait()
    supervisor = client._supervisor
    assert supervisor is not None
    # Before the fix one cancel was sent; the supervisor swallowed it and served on, and disconnect() waited for ever.
    await _ends_by_itself(client.disconnect())
    assert supervisor.done()
    assert _ClientWhoseConnectSwallowsTheCancel.entered == 2


async def test_the_same_retained_status_handed_over_twice_does_not_resend_a_waiting_command():
    # amqtt hands a new subscription the same retained status twice. The second copy says nothing new, so a
    # command already sent must not go out again (a device that comes back online live still gets it again).
    topics = Topics("dev-twice")
    online = _status("dev-twice", "online", "b1").encode()
    steps = [
        *_orchestrator_connects(topics, retained_status=online),
        send(publish(topics.status, online, retain=True)),  # the retained status again, while the command waits
        send(_done_for_command(topics)),
        # The client's next packet is the DISCONNECT of the test's exit, not the command a second time.
        expect(lambda p: p.type == DISCONNECT, ignore=(PINGREQ,)),
    ]
    async with ScriptedBroker(steps) as broker:
        async with AsyncMQTTOrchestratorClient(broker.host, "dev-twice", broker.port, timeout=30.0) as client:
            await client.wait_for_status("online")
            assert await client.call("dispense", timeout=30.0) == "done"
        await broker.finished()
