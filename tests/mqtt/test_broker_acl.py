"""Mosquitto with per-device topic ACLs (issue #8): a board reaches only its own topics.

MQTT 3.1.1 has no error for a denied PUBLISH: mosquitto acknowledges it (PUBACK
for QoS 1) and drops it. So a dropped publish is shown by a legitimate
subscriber that receives a later marker message but never the forged one
(messages from one broker to one subscriber stay in order). Likewise for
reading: mosquitto 2.0.11 grants (SUBACK QoS 1, not 0x80) a subscription to
a topic the user may not read and then filters every message at delivery,
so a denied read is shown by the marker arriving first and alone. (Other
versions may answer 0x80; the tests accept either SUBACK code.)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from twin.brokers import MosquittoBroker, mosquitto_available
from twin.brokers._base import LoopbackBroker
from twin.brokers.mosquitto_broker import DeviceAcl

pytestmark = [
    pytest.mark.mosquitto,
    pytest.mark.skipif(not mosquitto_available(), reason="Debian's mosquitto is not installed"),
]

BrokerFactory = Callable[..., Awaitable[LoopbackBroker]]
Peer = Callable[..., Any]
NextMessage = Callable[..., Awaitable[Any]]

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


def granted_or_refused(granted: Any) -> bool:
    """A SUBACK for a filter the user may not read: mosquitto 2.0 grants it, others may refuse."""
    return all(c in (1, 0x80) for c in codes(granted))


@pytest.fixture
async def acl_broker(make_broker: BrokerFactory) -> MosquittoBroker:
    broker = await make_broker("mosquitto", users=USERS, acl=DeviceAcl())
    assert isinstance(broker, MosquittoBroker)
    return broker


@pytest.fixture
def as_user(
    acl_broker: MosquittoBroker, peer: Peer
) -> Callable[..., contextlib.AbstractAsyncContextManager[aiomqtt.Client]]:
    """``async with as_user("pico-a") as client``: connected with that user's password."""

    @contextlib.asynccontextmanager
    async def connect(user: str, **kw: Any) -> AsyncIterator[aiomqtt.Client]:
        kw.setdefault("identifier", user)
        async with peer(acl_broker, username=user, password=USERS[user], **kw) as client:
            yield client

    return connect


async def assert_only_marker(client: aiomqtt.Client, next_message: NextMessage, marker: bytes) -> None:
    """The next message on ``client`` is ``marker``: whatever was published before it was dropped."""
    message = await next_message(client)
    assert message.payload == marker, f"got {message.topic}: {message.payload!r} before the marker"


def test_acl_file_lines(tmp_path: Path) -> None:
    broker = MosquittoBroker(work_dir=tmp_path, users=USERS, acl=DeviceAcl(prefix="lab1"))
    lines = [line for line in broker.acl_text().splitlines() if line and not line.startswith("#")]
    assert lines == [
        "user orchestrator",
        "topic write lab1/+/command",
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


@pytest.mark.parametrize("kw", [{"prefix": "ot2/+"}, {"prefix": "%u"}, {"prefix": ""}, {"orchestrators": ("a#",)}])
def test_bad_acl_settings_are_rejected(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        DeviceAcl(**kw)


def test_acl_needs_users(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs users"):
        MosquittoBroker(work_dir=tmp_path, acl=DeviceAcl())


async def test_acl_file_is_written(acl_broker: MosquittoBroker) -> None:
    assert acl_broker.acl_path.read_text(encoding="utf-8") == acl_broker.acl_text()


async def test_board_reads_its_commands_and_writes_its_result_and_status(
    as_user: Any, next_message: NextMessage
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


async def test_board_cannot_command_another_board(as_user: Any, next_message: NextMessage) -> None:
    async with as_user("orchestrator") as orch, as_user("pico-b") as b, as_user("pico-a") as a:
        assert codes(await b.subscribe("ot2/pico-b/command", qos=1)) == [1]
        await a.publish("ot2/pico-b/command", b"forged", qos=1)  # PUBACKed, then dropped
        await orch.publish("ot2/pico-b/command", b"marker", qos=1)
        await assert_only_marker(b, next_message, b"marker")


@pytest.mark.parametrize("kind", ["result", "status"])
async def test_board_cannot_answer_or_report_for_another_board(
    kind: str, as_user: Any, next_message: NextMessage
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
        async with as_user("orchestrator") as late:
            await late.subscribe("ot2/pico-b/status", qos=1)
            assert (await next_message(late)).payload == b"first"


async def test_board_cannot_read_another_boards_commands(as_user: Any, next_message: NextMessage) -> None:
    async with as_user("orchestrator") as orch, as_user("pico-a") as a:
        # Granted or refused, only A's own commands arrive on any of these.
        assert granted_or_refused(await a.subscribe("ot2/pico-b/command", qos=1))
        assert granted_or_refused(await a.subscribe("ot2/+/command", qos=1))
        assert granted_or_refused(await a.subscribe("ot2/#", qos=1))
        await orch.publish("ot2/pico-b/command", b"secret-for-b", qos=1)
        await orch.publish("ot2/pico-a/command", b"marker", qos=1)
        await assert_only_marker(a, next_message, b"marker")


async def test_board_cannot_do_the_orchestrators_part(as_user: Any, next_message: NextMessage) -> None:
    """A board cannot read other boards' results or statuses either."""
    async with as_user("pico-b") as b, as_user("pico-a") as a:
        assert granted_or_refused(await a.subscribe("ot2/pico-b/result", qos=1))
        assert granted_or_refused(await a.subscribe("ot2/+/status", qos=1))
        assert codes(await a.subscribe("ot2/pico-a/command", qos=1)) == [1]
        await b.publish("ot2/pico-b/result", b"r", qos=1)
        await b.publish("ot2/pico-b/status", b"s", qos=1)
        # Only A's own command topic may be read; nothing from B reaches A.
        async with as_user("orchestrator") as orch:
            await orch.publish("ot2/pico-a/command", b"marker", qos=1)
        await assert_only_marker(a, next_message, b"marker")


@pytest.mark.parametrize(
    ("user", "identifier"),
    [
        ("pico+x", "pico-x"),  # wildcard in the user name
        ("pico#y", "pico-y"),
        ("+", "plus"),
        ("pico-a", "pico-a+"),  # wildcard in the client id, user name fine
        ("pico-a", "pico-a#"),
        ("pico-a", "+"),
    ],
)
async def test_wildcards_in_user_name_or_client_id_get_nothing(
    user: str, identifier: str, as_user: Any, next_message: NextMessage, acl_broker: MosquittoBroker
) -> None:
    """CVE-2017-7650 class: '%u'/'%c' holding '+' or '#' must not widen a pattern.

    mosquitto (>= 1.4.12) denies every ACL check for such a client, which the
    log records as "ACL denying access to client with dangerous ...".
    """
    async with as_user("orchestrator") as orch, as_user(user, identifier=identifier) as bad:
        # Its "own" command topic, and the filter its pattern would expand to.
        own = f"ot2/{user}/command"
        assert granted_or_refused(await bad.subscribe("ot2/pico-a/command", qos=1))
        assert granted_or_refused(await bad.subscribe("ot2/+/command", qos=1))
        if "+" not in own and "#" not in own:
            assert granted_or_refused(await bad.subscribe(own, qos=1))
        assert codes(await orch.subscribe("ot2/+/status", qos=1)) == [1]
        await bad.publish("ot2/pico-a/status", b"forged", qos=1)
        if "+" not in own and "#" not in own:
            await bad.publish(own.replace("command", "status"), b"forged", qos=1)
        async with as_user("pico-a") as a:
            await a.publish("ot2/pico-a/status", b"marker", qos=1)
        await assert_only_marker(orch, next_message, b"marker")
        # Commands for the user/client it names: none reaches it (the marker
        # below goes to a real pico-a reader to prove the commands were sent).
        async with as_user("pico-a", identifier="real-pico-a") as a:
            assert codes(await a.subscribe("ot2/pico-a/command", qos=1)) == [1]
            await orch.publish("ot2/pico-a/command", b"cmd", qos=1)
            if "+" not in own and "#" not in own:
                await orch.publish(own, b"cmd", qos=1)
            assert (await next_message(a)).payload == b"cmd"
        with pytest.raises(TimeoutError):
            await next_message(bad, timeout=0.3)
    what = "username" if user != "pico-a" else "client id"
    assert f"dangerous {what}" in acl_broker.log_path.read_text(encoding="utf-8", errors="replace")


async def test_wrong_password_is_refused(acl_broker: MosquittoBroker, peer: Peer) -> None:
    with pytest.raises(aiomqtt.MqttCodeError) as refused:
        async with peer(acl_broker, username="pico-a", password="pw-b", identifier="pico-a"):
            pass
    # mosquitto answers CONNACK 5 (not authorised); paho reports it as MQTT 5's 0x87.
    rc: Any = refused.value.rc
    assert int(getattr(rc, "value", rc)) in (4, 5, 0x86, 0x87)
    assert "not authori" in str(rc).lower()
    with pytest.raises(aiomqtt.MqttError):
        async with peer(acl_broker, identifier="anonymous"):
            pass


async def test_default_broker_still_lets_users_use_any_topic(
    make_broker: BrokerFactory, peer: Peer, next_message: NextMessage
) -> None:
    """Without ``acl`` nothing changes: an authenticated board may read another's commands."""
    broker = await make_broker("mosquitto", users={"pico-a": "pw-a", "orchestrator": "o"})
    async with peer(broker, username="pico-a", password="pw-a") as a, \
            peer(broker, username="orchestrator", password="o") as orch:
        assert codes(await a.subscribe("ot2/pico-b/command", qos=1)) == [1]
        await orch.publish("ot2/pico-b/command", b"x", qos=1)
        assert (await next_message(a)).payload == b"x"
