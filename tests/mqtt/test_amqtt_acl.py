"""amqtt with per-device topic lists (issue #8): the closest equivalent of mosquitto's ACL.

``AmqttBroker(users=..., acl=DeviceAcl())`` turns the mosquitto ACL into
amqtt's static per-user publish/subscribe/receive lists. The cases both
brokers enforce alike (board isolation, wildcard user names, passwords) are
written once, for both, in tests/mqtt/test_broker_acl.py, whose fixtures and
helpers this module reuses. Here: how the lists are made, what only amqtt
does (SUBACK 0x80 for a denied SUBSCRIBE, client ids that give no rights),
and what amqtt 0.12.1 does not enforce (a Last Will, retained messages pushed
at CONNECT, a persistent session taken over by client id), checked on both
brokers, mosquitto passing and amqtt a strict xfail, so a fixed amqtt turns
those into failures to notice (docs/security.md, "amqtt").

On amqtt a denied SUBSCRIBE gets SUBACK 0x80 and a denied PUBLISH is
acknowledged (PUBACK before the check) and dropped; the tests show the drop
with a later marker message, as tests/mqtt/test_broker_acl.py does.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_broker_acl import (  # the shared cases' module: its fixtures and helpers
    USERS,
    Connect,
    NextMessage,
    acl_broker,
    as_user,
    assert_b_retained_status,
    assert_only_marker,
    b_status_reaches_the_orchestrator,
    codes,
    raw_client_with_will,
)
from testkit import MOSQUITTO

from labtwin.twin.brokers import AmqttBroker
from labtwin.twin.brokers.acl import DeviceAcl, amqtt_acl_lists
from labtwin.twin.brokers.base import LoopbackBroker

__all__ = ["acl_broker", "as_user"]  # fixtures, used by name


@pytest.fixture
def broker_kind(request: pytest.FixtureRequest) -> str:
    """amqtt, unless a test parametrises ``broker_kind`` (the gap tests run on both brokers)."""
    return str(getattr(request, "param", "amqtt"))


def amqtt_gap(reason: str) -> Any:
    """The amqtt case of a check mosquitto passes: a strict xfail documenting amqtt 0.12.1's gap."""
    return pytest.param("amqtt", marks=pytest.mark.xfail(strict=True, reason=reason))


def on_both_brokers(amqtt_gap_reason: str) -> pytest.MarkDecorator:
    """Run on mosquitto (must pass) and on amqtt (a strict xfail for ``amqtt_gap_reason``)."""
    return pytest.mark.parametrize("broker_kind", [MOSQUITTO, amqtt_gap(amqtt_gap_reason)], indirect=True)


# --- the lists --------------------------------------------------------------------------------


def test_lists_are_derived_from_the_device_acl() -> None:
    lists = amqtt_acl_lists(DeviceAcl(prefix="lab1"), USERS)
    assert lists.publish == {
        "orchestrator": ["lab1/+/command", "lab1/orchestrator/result", "lab1/orchestrator/status"],
        "pico-a": ["lab1/pico-a/result", "lab1/pico-a/status"],
        "pico-b": ["lab1/pico-b/result", "lab1/pico-b/status"],
    }
    assert lists.subscribe == {
        "orchestrator": ["lab1/+/command", "lab1/+/result", "lab1/+/status", "lab1/orchestrator/command"],
        "pico-a": ["lab1/pico-a/command"],
        "pico-b": ["lab1/pico-b/command"],
    }
    # Users with + or # in their names have no entry at all, i.e. nothing.
    config = AmqttBroker(users=USERS, acl=DeviceAcl(prefix="lab1"))._config()
    plugin = config["plugins"]["labtwin.twin.vendor_patches.AmqttTopicAclPlugin"]
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


# --- what amqtt alone does ---------------------------------------------------------------------
# (Its SUBACK 0x80 for a denied SUBSCRIBE is required by the shared cases: subscribe_denied.)


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


# --- what mosquitto enforces and amqtt 0.12.1 does not ----------------------------------------


@on_both_brokers("amqtt 0.12.1 publishes (and retains) a will without any topic check: "
                 "Broker._handle_disconnect calls _broadcast_message/retain_message directly")
async def test_will_cannot_report_for_another_board(
    as_user: Connect, next_message: NextMessage, acl_broker: LoopbackBroker
) -> None:
    async with as_user("orchestrator") as orch, as_user("pico-b") as b:
        await b_status_reaches_the_orchestrator(orch, b, next_message, b"first")
        async with raw_client_with_will(acl_broker, "pico-a", "pico-a", "ot2/pico-b/status", b"forged-will") as ack:
            # Accepted (mosquitto drops the will later); a refusal would do as well.
            assert ack[:3] == b"\x20\x02\x00"
        # The marker: the same client id again, with a will it may send. The broker has dealt with the
        # first link (gone, or taken over) before it accepts this one, so that will goes out after.
        async with raw_client_with_will(acl_broker, "pico-a", "pico-a", "ot2/pico-a/status", b"own-will") as ack:
            assert ack[:4] == b"\x20\x02\x00\x00"
        await assert_only_marker(orch, next_message, b"own-will")
    await assert_b_retained_status(as_user, next_message, b"first")


@on_both_brokers("amqtt 0.12.1 pushes, at every CONNECT, the retained messages matching any client's "
                 "subscription, without any topic check (Broker._handle_client_session)")
async def test_board_gets_no_retained_message_of_another_board(as_user: Connect, next_message: NextMessage) -> None:
    async with as_user("orchestrator") as orch, as_user("pico-b") as b:
        await b_status_reaches_the_orchestrator(orch, b, next_message, b"b-status")
        async with as_user("pico-a") as a:
            assert codes(await a.subscribe("ot2/pico-a/command", qos=1)) == [1]
            await orch.publish("ot2/pico-a/command", b"marker", qos=1)
            await assert_only_marker(a, next_message, b"marker")


@on_both_brokers("amqtt 0.12.1 hands a persistent session to whoever connects with its client id "
                 "(any valid user) and sends its queued messages unchecked "
                 "(Broker._initialize_client_session, _publish_session_retained_messages)")
async def test_board_cannot_take_over_another_boards_queued_commands(
    as_user: Connect, next_message: NextMessage
) -> None:
    async with as_user("pico-b", clean_session=False) as b:
        assert codes(await b.subscribe("ot2/pico-b/command", qos=1)) == [1]
    async with as_user("orchestrator") as orch:
        await orch.publish("ot2/pico-b/command", b"queued-for-b", qos=1)  # B is offline: queued
        async with as_user("pico-a", identifier="pico-b", clean_session=False) as a:
            assert codes(await a.subscribe("ot2/pico-a/command", qos=1)) == [1]
            await orch.publish("ot2/pico-a/command", b"marker", qos=1)
            await assert_only_marker(a, next_message, b"marker")
