"""Per-device topic ACLs (issue #8) on both brokers: a board reaches only its own topics.

Every shared case runs on amqtt (``AmqttBroker(acl=DeviceAcl())``: the ACL as
amqtt's static per-user lists) and on mosquitto (an ``acl_file``); the
mosquitto-only ones (its ACL file, its guard against '+'/'#' in client ids)
are marked so. What is amqtt's alone, including what amqtt 0.12.1 does not
enforce, is in tests/mqtt/test_amqtt_acl.py.

MQTT 3.1.1 has no error for a denied PUBLISH: both brokers acknowledge it
(PUBACK for QoS 1) and drop it. So a dropped publish is shown by a legitimate
subscriber that receives a later marker message but never the forged one
(messages from one broker to one subscriber stay in order). Reading differs
per broker (``subscribe_denied``): mosquitto 2.0.11 grants (SUBACK QoS 1, not
0x80) a subscription to a topic the user may not read and then filters every
message at delivery, so a denied read is shown by the marker arriving first
and alone (other versions may answer 0x80; either code is accepted there);
amqtt refuses such a SUBSCRIBE with SUBACK 0x80, and only 0x80 is accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from testkit import MOSQUITTO, MOSQUITTO_MARKS, needs_mosquitto

from labtwin.twin.brokers import MosquittoBroker
from labtwin.twin.brokers.acl import DeviceAcl
from labtwin.twin.brokers.base import LoopbackBroker

#: For a test that needs the ``acl_broker``/``as_user`` of mosquitto only.
mosquitto_only = pytest.mark.parametrize("broker_kind", [MOSQUITTO], indirect=True)

BrokerFactory = Callable[..., Awaitable[LoopbackBroker]]
Peer = Callable[..., Any]
NextMessage = Callable[..., Awaitable[Any]]
Connect = Callable[..., contextlib.AbstractAsyncContextManager[aiomqtt.Client]]

USERS = {
    "orchestrator": "orch-pw",
    "pico-a": "pw-a",
    "pico-b": "pw-b",
    "pico+x": "pw-plus",  # a user name with a wildcard: must get nothing
    "pico#y": "pw-hash",
    "+": "pw-just-plus",  # pattern ot2/%u/command would become ot2/+/command: every board's commands
}


def codes(granted: Any) -> list[int]:
    """SUBACK return codes as ints (paho gives ReasonCode objects or ints)."""
    return [int(getattr(c, "value", c)) for c in granted]


@pytest.fixture
async def acl_broker(broker_kind: str, make_broker: BrokerFactory) -> LoopbackBroker:
    """A broker of each kind (``broker_kind``) with ``USERS`` and ``DeviceAcl()``."""
    return await make_broker(broker_kind, users=USERS, acl=DeviceAcl())


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
    """``async with as_user("pico-a") as client``: connected to ``acl_broker`` as that user."""
    return connector(acl_broker, peer)


@pytest.fixture
def subscribe_denied(broker_kind: str) -> Callable[[aiomqtt.Client, str], Awaitable[None]]:
    """``await subscribe_denied(client, topic_filter)``: subscribe to a filter the user may not read.

    amqtt refuses it (SUBACK 0x80). mosquitto 2.0.11 grants it (SUBACK 1) and
    filters every message at delivery; other mosquitto versions may refuse it.
    """

    async def subscribe(client: aiomqtt.Client, topic_filter: str) -> None:
        granted = codes(await client.subscribe(topic_filter, qos=1))
        if broker_kind == "amqtt":
            assert granted == [0x80], topic_filter
        else:
            assert all(c in (1, 0x80) for c in granted), (topic_filter, granted)

    return subscribe


async def assert_only_marker(client: aiomqtt.Client, next_message: NextMessage, marker: bytes) -> None:
    """The next message on ``client`` is ``marker``: whatever was published before it was dropped."""
    message = await next_message(client)
    assert message.payload == marker, f"got {message.topic}: {message.payload!r} before the marker"


async def b_status_reaches_the_orchestrator(orch: aiomqtt.Client, b: aiomqtt.Client,
                                            next_message: NextMessage, payload: bytes = b"first") -> None:
    """The orchestrator follows every status; pico-b publishes its own (retained) and it arrives."""
    assert codes(await orch.subscribe("ot2/+/status", qos=1)) == [1]
    await b.publish("ot2/pico-b/status", payload, qos=1, retain=True)
    assert (await next_message(orch)).payload == payload


async def assert_b_retained_status(as_user: Connect, next_message: NextMessage, payload: bytes) -> None:
    """An orchestrator connecting now gets ``payload`` as pico-b's retained status."""
    async with as_user("orchestrator", identifier="late") as late:
        await late.subscribe("ot2/pico-b/status", qos=1)
        assert (await next_message(late)).payload == payload


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
        yield await asyncio.wait_for(reader.readexactly(4), 30.0)
    finally:
        writer.transport.abort()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


# --- mosquitto's ACL file ---------------------------------------------------------------------


@needs_mosquitto
def test_acl_file_lines(tmp_path: Path) -> None:
    broker = MosquittoBroker(work_dir=tmp_path, users=USERS, acl=DeviceAcl(prefix="lab1"))
    lines = [line for line in broker.acl_text().splitlines() if line and not line.startswith("#")]
    assert lines == [
        "user orchestrator",
        "topic readwrite lab1/+/command",  # the orchestrator reads commands too (labtwin watch)
        "topic read lab1/+/result",
        "topic read lab1/+/status",
        "pattern read lab1/%u/command",
        "pattern write lab1/%u/result",
        "pattern write lab1/%u/status",
    ]
    assert f"acl_file {broker.acl_path}" in broker._config_text()
    # Off by default: no acl_file line.
    plain = MosquittoBroker(work_dir=tmp_path, users=USERS)._config_text().splitlines()
    assert not [line for line in plain if line.startswith("acl_file")]


@needs_mosquitto
@pytest.mark.parametrize("kw", [{"prefix": "ot2/+"}, {"prefix": "%u"}, {"prefix": ""}, {"orchestrators": ("a#",)}])
def test_bad_acl_settings_are_rejected(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        DeviceAcl(**kw)


@needs_mosquitto
def test_acl_needs_users(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs users"):
        MosquittoBroker(work_dir=tmp_path, acl=DeviceAcl())


@mosquitto_only
async def test_acl_file_is_written(acl_broker: LoopbackBroker) -> None:
    assert isinstance(acl_broker, MosquittoBroker)
    assert acl_broker.acl_path.read_text(encoding="utf-8") == acl_broker.acl_text()




# --- the shared cases, on both brokers --------------------------------------------------------


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
        retain = kind == "status"  # boards keep their status retained
        await b.publish(f"ot2/pico-b/{kind}", b"first", qos=1, retain=retain)
        assert (await next_message(orch)).payload == b"first"
        await a.publish(f"ot2/pico-b/{kind}", b"forged", qos=1, retain=retain)
        await b.publish(f"ot2/pico-b/{kind}", b"marker", qos=1)
        await assert_only_marker(orch, next_message, b"marker")
    if kind == "status":  # the forged retained status did not replace B's own
        await assert_b_retained_status(as_user, next_message, b"first")


async def test_board_cannot_read_another_boards_commands(
    as_user: Connect, next_message: NextMessage, subscribe_denied: Any
) -> None:
    async with as_user("orchestrator") as orch, as_user("pico-a") as a:
        # Refused (amqtt) or granted and filtered (mosquitto): only A's own commands arrive.
        for topic_filter in ("ot2/pico-b/command", "ot2/+/command", "ot2/#", "#"):
            await subscribe_denied(a, topic_filter)
        assert codes(await a.subscribe("ot2/pico-a/command", qos=1)) == [1]
        await orch.publish("ot2/pico-b/command", b"secret-for-b", qos=1)
        await orch.publish("ot2/pico-a/command", b"marker", qos=1)
        await assert_only_marker(a, next_message, b"marker")


async def test_board_cannot_do_the_orchestrators_part(
    as_user: Connect, next_message: NextMessage, subscribe_denied: Any
) -> None:
    """A board cannot read other boards' results or statuses either, nor its own."""
    async with as_user("orchestrator") as orch, as_user("pico-b") as b, as_user("pico-a") as a:
        for topic_filter in ("ot2/pico-b/result", "ot2/+/status", "ot2/pico-a/+", "ot2/pico-a/#"):
            await subscribe_denied(a, topic_filter)
        assert codes(await a.subscribe("ot2/pico-a/command", qos=1)) == [1]
        await b.publish("ot2/pico-b/result", b"r", qos=1)
        await b.publish("ot2/pico-b/status", b"s", qos=1)
        # Only A's own command topic may be read; nothing from B reaches A.
        await orch.publish("ot2/pico-a/command", b"marker", qos=1)
        await assert_only_marker(a, next_message, b"marker")


async def test_board_cannot_send_as_the_orchestrator_or_read_as_it(as_user: Connect, subscribe_denied: Any) -> None:
    async with as_user("pico-a") as a:
        await subscribe_denied(a, "ot2/orchestrator/command")
        await subscribe_denied(a, "ot2/pico-a/result")  # its own writes, not reads


USER_NAME_WILDCARDS = [("pico+x", "pico-x"), ("pico#y", "pico-y"), ("+", "plus")]
CLIENT_ID_WILDCARDS = [("pico-a", "pico-a+"), ("pico-a", "pico-a#"), ("pico-a", "+")]


@pytest.mark.parametrize(
    ("broker_kind", "user", "identifier"),
    [("amqtt", user, identifier) for user, identifier in USER_NAME_WILDCARDS]
    # A wildcard in the client id (user name fine): only mosquitto substitutes client ids (%c);
    # on amqtt the client id gives no rights at all (test_amqtt_acl.py::test_client_id_gives_no_rights).
    + [pytest.param("mosquitto", user, identifier, marks=MOSQUITTO_MARKS)
       for user, identifier in USER_NAME_WILDCARDS + CLIENT_ID_WILDCARDS],
    indirect=["broker_kind"],
)
async def test_wildcards_in_user_name_or_client_id_get_nothing(
    broker_kind: str, user: str, identifier: str, as_user: Connect, next_message: NextMessage,
    subscribe_denied: Any, acl_broker: LoopbackBroker,
) -> None:
    """CVE-2017-7650 class: '%u'/'%c' holding '+' or '#' must not widen a pattern.

    mosquitto (>= 1.4.12) denies every ACL check for such a client, which the
    log records as "ACL denying access to client with dangerous ..."; amqtt's
    lists have no entry for such a user name.
    """
    async with as_user("orchestrator") as orch, as_user(user, identifier=identifier) as bad:
        # Its "own" command topic (no valid filter with a wildcard user name:
        # amqtt refuses it as such), and the filter its pattern would expand to.
        own = f"ot2/{user}/command"
        own_is_a_topic = "+" not in own and "#" not in own
        for topic_filter in ("ot2/pico-a/command", "ot2/+/command", "ot2/#"):
            await subscribe_denied(bad, topic_filter)
        if own_is_a_topic:
            await subscribe_denied(bad, own)
        assert codes(await orch.subscribe("ot2/+/status", qos=1)) == [1]
        await bad.publish("ot2/pico-a/status", b"forged", qos=1)
        if own_is_a_topic:
            await bad.publish(own.replace("command", "status"), b"forged", qos=1)
        async with as_user("pico-a") as a:
            await a.publish("ot2/pico-a/status", b"marker", qos=1)
        await assert_only_marker(orch, next_message, b"marker")
        # Commands for the user/client it names: none reaches it (the marker
        # below goes to a real pico-a reader to prove the commands were sent).
        async with as_user("pico-a", identifier="real-pico-a") as a:
            assert codes(await a.subscribe("ot2/pico-a/command", qos=1)) == [1]
            await orch.publish("ot2/pico-a/command", b"cmd", qos=1)
            if own_is_a_topic:
                await orch.publish(own, b"cmd", qos=1)
            assert (await next_message(a)).payload == b"cmd"
        # It got none of them: a later packet from the broker (its SUBACK) finds nothing queued before it.
        await bad.subscribe("ot2/pico-a/status", qos=1)
        assert len(bad.messages) == 0
    if broker_kind == "mosquitto":
        assert isinstance(acl_broker, MosquittoBroker)
        what = "username" if user != "pico-a" else "client id"
        assert f"dangerous {what}" in acl_broker.log_path.read_text(encoding="utf-8", errors="replace")


async def test_wrong_password_or_anonymous_is_refused(acl_broker: LoopbackBroker, peer: Peer) -> None:
    with pytest.raises(aiomqtt.MqttCodeError) as refused:
        async with peer(acl_broker, username="pico-a", password="pw-b", identifier="pico-a"):
            pass
    # CONNACK 5 (not authorised); paho reports mosquitto's as MQTT 5's 0x87.
    rc: Any = refused.value.rc
    assert int(getattr(rc, "value", rc)) in (4, 5, 0x86, 0x87)
    assert "not authori" in str(rc).lower()
    with pytest.raises(aiomqtt.MqttError):
        async with peer(acl_broker, identifier="anonymous"):
            pass


async def test_default_broker_still_lets_users_use_any_topic(
    broker_kind: str, make_broker: BrokerFactory, peer: Peer, next_message: NextMessage
) -> None:
    """Without ``acl`` nothing changes: an authenticated board may read another's commands."""
    broker = await make_broker(broker_kind, users={"pico-a": "pw-a", "orchestrator": "o"})
    async with peer(broker, username="pico-a", password="pw-a") as a, \
            peer(broker, username="orchestrator", password="o") as orch:
        assert codes(await a.subscribe("ot2/pico-b/command", qos=1)) == [1]
        await orch.publish("ot2/pico-b/command", b"x", qos=1)
        assert (await next_message(a)).payload == b"x"
