"""amqtt with per-device topic lists (issue #8): the closest equivalent of mosquitto's ACL.

``AmqttBroker(users=..., acl=DeviceAcl())`` turns the mosquitto ACL into
amqtt's static per-user publish/subscribe/receive lists. What amqtt 0.12.1
enforces is checked on amqtt alone; what it does not (a Last Will, retained
messages pushed at CONNECT, a persistent session taken over by client id) is
checked on both brokers, mosquitto passing and amqtt a strict xfail, so a
fixed amqtt turns those into failures to notice (docs/security.md, "amqtt").

On amqtt a denied SUBSCRIBE gets SUBACK 0x80 and a denied PUBLISH is
acknowledged (PUBACK before the check) and dropped; the tests show the drop
with a later marker message, as tests/mqtt/test_broker_acl.py does.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiomqtt
import pytest

from twin.brokers import AmqttBroker, mosquitto_available
from twin.brokers._base import LoopbackBroker
from twin.brokers.amqtt_broker import amqtt_acl_lists
from twin.brokers.mosquitto_broker import DeviceAcl

BrokerFactory = Callable[..., Awaitable[LoopbackBroker]]
Peer = Callable[..., Any]
NextMessage = Callable[..., Awaitable[Any]]

USERS = {
    "orchestrator": "orch-pw",
    "pico-a": "pw-a",
    "pico-b": "pw-b",
    "pico+x": "pw-plus",  # a wildcard in the user name: must get nothing
    "pico#y": "pw-hash",
    "+": "pw-just-plus",  # a list entry ot2/+/command would be every board's commands
}

MOSQUITTO = pytest.param(
    "mosquitto",
    marks=[
        pytest.mark.mosquitto,
        pytest.mark.skipif(not mosquitto_available(), reason="Debian's mosquitto is not installed"),
    ],
)


def amqtt_gap(reason: str) -> Any:
    """The amqtt case of a check mosquitto passes: a strict xfail documenting amqtt 0.12.1's gap."""
    return pytest.param("amqtt", marks=pytest.mark.xfail(strict=True, reason=reason))


def codes(granted: Any) -> list[int]:
    """SUBACK return codes as ints (paho gives ReasonCode objects or ints)."""
    return [int(getattr(c, "value", c)) for c in granted]


@pytest.fixture
async def acl_broker(make_broker: BrokerFactory) -> LoopbackBroker:
    return await make_broker("amqtt", users=USERS, acl=DeviceAcl())


Connect = Callable[..., contextlib.AbstractAsyncContextManager[aiomqtt.Client]]


def connector(broker: LoopbackBroker, peer: Peer) -> Connect:
    """``async with connect("pico-a") as client``: connected with that user's password."""

    @contextlib.asynccontextmanager
    async def connect(user: str, **kw: Any) -> AsyncIterator[aiomqtt.Client]:
        kw.setdefault("identifier", user)
        async with peer(broker, username=user, password=USERS[user], **kw) as client:
            yield client

    return connect


@pytest.fixture
def as_user(acl_broker: LoopbackBroker, peer: Peer) -> Connect:
    return connector(acl_broker, peer)


async def assert_only_marker(client: aiomqtt.Client, next_message: NextMessage, marker: bytes) -> None:
    """The next message on ``client`` is ``marker``: whatever was published before it was dropped."""
    message = await next_message(client)
    assert message.payload == marker, f"got {message.topic}: {message.payload!r} before the marker"


def _utf8(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


@contextlib.asynccontextmanager
async def raw_client_with_will(broker: LoopbackBroker, user: str, client_id: str, will_topic: str,
                               will_payload: bytes) -> AsyncIterator[bytes]:
    """An MQTT 3.1.1 client with a retained QoS 1 will; yields the CONNACK, then drops the TCP link.

    Dropping the link without DISCONNECT is what makes a broker publish the will.
    """
    flags = 0x80 | 0x40 | 0x20 | (1 << 3) | 0x04 | 0x02  # user, password, will retain, will QoS 1, will, clean
    body = (_utf8("MQTT") + bytes([4, flags]) + struct.pack("!H", 60) + _utf8(client_id) + _utf8(will_topic)
            + struct.pack("!H", len(will_payload)) + will_payload + _utf8(user) + _utf8(USERS[user]))
    reader, writer = await asyncio.open_connection(broker.host, broker.port)
    try:
        writer.write(b"\x10" + _remaining_length(len(body)) + body)
        await writer.drain()
        yield await asyncio.wait_for(reader.readexactly(4), 3.0)
    finally:
        writer.transport.abort()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


# --- the lists --------------------------------------------------------------------------------


def test_lists_are_derived_from_the_device_acl() -> None:
    lists = amqtt_acl_lists(DeviceAcl(prefix="lab1"), USERS)
    assert lists.publish == {
        "orchestrator": ["lab1/+/command", "lab1/orchestrator/result", "lab1/orchestrator/status"],
        "pico-a": ["lab1/pico-a/result", "lab1/pico-a/status"],
        "pico-b": ["lab1/pico-b/result", "lab1/pico-b/status"],
    }
    assert lists.subscribe == {
        "orchestrator": ["lab1/+/result", "lab1/+/status", "lab1/orchestrator/command"],
        "pico-a": ["lab1/pico-a/command"],
        "pico-b": ["lab1/pico-b/command"],
    }
    # Users with + or # in their names have no entry at all, i.e. nothing.
    config = AmqttBroker(users=USERS, acl=DeviceAcl(prefix="lab1"))._config()
    plugin = config["plugins"]["twin.brokers.amqtt_broker.AmqttTopicAclPlugin"]
    assert plugin == {"publish_acl": lists.publish, "subscribe_acl": lists.subscribe,
                      "receive_acl": lists.subscribe}
    # Off by default.
    assert list(AmqttBroker(users=USERS)._config()["plugins"]) == ["amqtt.plugins.authentication.FileAuthPlugin"]


def test_acl_needs_users() -> None:
    with pytest.raises(ValueError, match="needs users"):
        AmqttBroker(acl=DeviceAcl())


def test_client_id_patterns_are_refused() -> None:
    class ClientIdAcl(DeviceAcl):
        def lines(self) -> list[str]:
            return ["pattern read ot2/%c/command"]

    with pytest.raises(ValueError, match="client ids"):
        amqtt_acl_lists(ClientIdAcl(), USERS)


# --- what amqtt enforces ----------------------------------------------------------------------


async def test_board_reads_its_commands_and_writes_its_result_and_status(
    as_user: Connect, next_message: NextMessage, acl_broker: LoopbackBroker
) -> None:
    async with as_user("orchestrator") as orch, as_user("pico-a") as a:
        assert codes(await orch.subscribe("ot2/+/result", qos=1)) == [1]
        assert codes(await orch.subscribe("ot2/+/status", qos=1)) == [1]
        assert codes(await a.subscribe("ot2/pico-a/command", qos=1)) == [1]

        await orch.publish("ot2/pico-a/command", b"cmd-for-a", qos=1)
        message = await next_message(a)
        assert (str(message.topic), message.payload) == ("ot2/pico-a/command", b"cmd-for-a")

        await a.publish("ot2/pico-a/status", b"online", qos=1, retain=True)
        message = await next_message(orch)
        assert (str(message.topic), message.payload) == ("ot2/pico-a/status", b"online")
        await a.publish("ot2/pico-a/result", b"done", qos=1)
        message = await next_message(orch)
        assert (str(message.topic), message.payload) == ("ot2/pico-a/result", b"done")

        # Its own will (what the firmware sets) still goes through.
        async with raw_client_with_will(acl_broker, "pico-a", "pico-a-will", "ot2/pico-a/status", b"gone") as ack:
            assert ack == b"\x20\x02\x00\x00"
        message = await next_message(orch)
        assert (str(message.topic), message.payload) == ("ot2/pico-a/status", b"gone")


async def test_board_cannot_command_another_board(as_user: Connect, next_message: NextMessage) -> None:
    async with as_user("orchestrator") as orch, as_user("pico-b") as b, as_user("pico-a") as a:
        assert codes(await b.subscribe("ot2/pico-b/command", qos=1)) == [1]
        await a.publish("ot2/pico-b/command", b"forged", qos=1)  # PUBACKed, then dropped
        await orch.publish("ot2/pico-b/command", b"marker", qos=1)
        await assert_only_marker(b, next_message, b"marker")


@pytest.mark.parametrize("kind", ["result", "status"])
async def test_board_cannot_answer_or_report_for_another_board(
    kind: str, as_user: Connect, next_message: NextMessage
) -> None:
    async with as_user("orchestrator") as orch, as_user("pico-b") as b, as_user("pico-a") as a:
        assert codes(await orch.subscribe(f"ot2/+/{kind}", qos=1)) == [1]
        retain = kind == "status"
        await b.publish(f"ot2/pico-b/{kind}", b"first", qos=1, retain=retain)
        assert (await next_message(orch)).payload == b"first"
        await a.publish(f"ot2/pico-b/{kind}", b"forged", qos=1, retain=retain)
        await b.publish(f"ot2/pico-b/{kind}", b"marker", qos=1)
        await assert_only_marker(orch, next_message, b"marker")
    if kind == "status":  # the forged retained status did not replace B's own
        async with as_user("orchestrator", identifier="late") as late:
            await late.subscribe("ot2/pico-b/status", qos=1)
            assert (await next_message(late)).payload == b"first"


async def test_board_cannot_subscribe_to_other_boards_topics(as_user: Connect, next_message: NextMessage) -> None:
    """amqtt refuses the SUBSCRIBE itself (0x80), unlike mosquitto 2.0.11 which grants and filters."""
    async with as_user("orchestrator") as orch, as_user("pico-b") as b, as_user("pico-a") as a:
        for topic_filter in ("ot2/pico-b/command", "ot2/+/command", "ot2/#", "#", "ot2/pico-b/result",
                             "ot2/+/status", "ot2/pico-a/+", "ot2/pico-a/#"):
            assert codes(await a.subscribe(topic_filter, qos=1)) == [0x80], topic_filter
        assert codes(await a.subscribe("ot2/pico-a/command", qos=1)) == [1]
        await orch.publish("ot2/pico-b/command", b"secret-for-b", qos=1)
        await b.publish("ot2/pico-b/result", b"r", qos=1)
        await b.publish("ot2/pico-b/status", b"s", qos=1)
        await orch.publish("ot2/pico-a/command", b"marker", qos=1)
        await assert_only_marker(a, next_message, b"marker")


async def test_board_cannot_send_as_the_orchestrator_or_read_as_it(as_user: Connect) -> None:
    async with as_user("pico-a") as a:
        assert codes(await a.subscribe("ot2/orchestrator/command", qos=1)) == [0x80]
        assert codes(await a.subscribe("ot2/pico-a/result", qos=1)) == [0x80]  # its own writes, not reads


@pytest.mark.parametrize("user", ["pico+x", "pico#y", "+"])
async def test_wildcards_in_user_name_get_nothing(
    user: str, as_user: Connect, next_message: NextMessage
) -> None:
    async with as_user("orchestrator") as orch, as_user(user, identifier="bad") as bad:
        # (Its "own" ot2/{user}/command is no valid filter: amqtt refuses it as such.)
        for topic_filter in ("ot2/pico-a/command", "ot2/+/command", "ot2/#"):
            assert codes(await bad.subscribe(topic_filter, qos=1)) == [0x80], topic_filter
        assert codes(await orch.subscribe("ot2/+/status", qos=1)) == [1]
        await bad.publish("ot2/pico-a/status", b"forged", qos=1)
        async with as_user("pico-a") as a:
            await a.publish("ot2/pico-a/status", b"marker", qos=1)
        await assert_only_marker(orch, next_message, b"marker")


@pytest.mark.parametrize("identifier", ["pico-b", "+", "pico-a#"])
async def test_client_id_gives_no_rights(identifier: str, as_user: Connect, next_message: NextMessage) -> None:
    """amqtt's lists key on the authenticated user name; the client id (unauthenticated) changes nothing.

    mosquitto instead denies everything to a client id holding + or # (its %c
    guard); amqtt needs no such guard as nothing substitutes client ids.
    """
    async with as_user("orchestrator") as orch, as_user("pico-a", identifier=identifier) as a:
        assert codes(await a.subscribe("ot2/pico-b/command", qos=1)) == [0x80]
        assert codes(await a.subscribe("ot2/pico-a/command", qos=1)) == [1]
        await orch.publish("ot2/pico-b/command", b"secret-for-b", qos=1)
        await orch.publish("ot2/pico-a/command", b"marker", qos=1)
        await assert_only_marker(a, next_message, b"marker")


async def test_wrong_password_or_anonymous_is_refused(acl_broker: LoopbackBroker, peer: Peer) -> None:
    with pytest.raises(aiomqtt.MqttCodeError):
        async with peer(acl_broker, username="pico-a", password="pw-b", identifier="pico-a"):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with peer(acl_broker, identifier="anonymous"):
            pass


async def test_default_amqtt_broker_still_lets_users_use_any_topic(
    make_broker: BrokerFactory, peer: Peer, next_message: NextMessage
) -> None:
    broker = await make_broker("amqtt", users={"pico-a": "pw-a", "orchestrator": "o"})
    async with peer(broker, username="pico-a", password="pw-a") as a, \
            peer(broker, username="orchestrator", password="o") as orch:
        assert codes(await a.subscribe("ot2/pico-b/command", qos=1)) == [1]
        await orch.publish("ot2/pico-b/command", b"x", qos=1)
        assert (await next_message(a)).payload == b"x"


# --- what mosquitto enforces and amqtt 0.12.1 does not ----------------------------------------


@pytest.mark.parametrize("kind", [
    MOSQUITTO,
    amqtt_gap("amqtt 0.12.1 publishes (and retains) a will without any topic check: "
              "Broker._handle_disconnect calls _broadcast_message/retain_message directly"),
])
async def test_will_cannot_report_for_another_board(
    kind: str, make_broker: BrokerFactory, peer: Peer, next_message: NextMessage
) -> None:
    broker = await make_broker(kind, users=USERS, acl=DeviceAcl())
    as_user = connector(broker, peer)
    async with as_user("orchestrator") as orch, as_user("pico-b") as b:
        assert codes(await orch.subscribe("ot2/+/status", qos=1)) == [1]
        await b.publish("ot2/pico-b/status", b"first", qos=1, retain=True)
        assert (await next_message(orch)).payload == b"first"
        async with raw_client_with_will(broker, "pico-a", "pico-a", "ot2/pico-b/status", b"forged-will") as ack:
            # Accepted (mosquitto drops the will later); a refusal would do as well.
            assert ack[:3] == b"\x20\x02\x00"
        await asyncio.sleep(0.5)  # the broker notices the dropped link and handles the will
        await b.publish("ot2/pico-b/status", b"marker", qos=1)
        await assert_only_marker(orch, next_message, b"marker")
    async with as_user("orchestrator", identifier="late") as late:
        await late.subscribe("ot2/pico-b/status", qos=1)
        assert (await next_message(late)).payload == b"first"


@pytest.mark.parametrize("kind", [
    MOSQUITTO,
    amqtt_gap("amqtt 0.12.1 pushes, at every CONNECT, the retained messages matching any client's "
              "subscription, without any topic check (Broker._handle_client_session)"),
])
async def test_board_gets_no_retained_message_of_another_board(
    kind: str, make_broker: BrokerFactory, peer: Peer, next_message: NextMessage
) -> None:
    broker = await make_broker(kind, users=USERS, acl=DeviceAcl())
    as_user = connector(broker, peer)
    async with as_user("orchestrator") as orch, as_user("pico-b") as b:
        assert codes(await orch.subscribe("ot2/+/status", qos=1)) == [1]
        await b.publish("ot2/pico-b/status", b"b-status", qos=1, retain=True)
        assert (await next_message(orch)).payload == b"b-status"
        async with as_user("pico-a") as a:
            assert codes(await a.subscribe("ot2/pico-a/command", qos=1)) == [1]
            await orch.publish("ot2/pico-a/command", b"marker", qos=1)
            await assert_only_marker(a, next_message, b"marker")


@pytest.mark.parametrize("kind", [
    MOSQUITTO,
    amqtt_gap("amqtt 0.12.1 hands a persistent session to whoever connects with its client id "
              "(any valid user) and sends its queued messages unchecked "
              "(Broker._initialize_client_session, _publish_session_retained_messages)"),
])
async def test_board_cannot_take_over_another_boards_queued_commands(
    kind: str, make_broker: BrokerFactory, peer: Peer, next_message: NextMessage
) -> None:
    broker = await make_broker(kind, users=USERS, acl=DeviceAcl())
    as_user = connector(broker, peer)
    async with as_user("pico-b", clean_session=False) as b:
        assert codes(await b.subscribe("ot2/pico-b/command", qos=1)) == [1]
    async with as_user("orchestrator") as orch:
        await orch.publish("ot2/pico-b/command", b"queued-for-b", qos=1)  # B is offline: queued
        async with as_user("pico-a", identifier="pico-b", clean_session=False) as a:
            assert codes(await a.subscribe("ot2/pico-a/command", qos=1)) == [1]
            await orch.publish("ot2/pico-a/command", b"marker", qos=1)
            await assert_only_marker(a, next_message, b"marker")
