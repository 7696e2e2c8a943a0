"""The loopback broker runners: start/stop/restart, auth, errors, on both brokers."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from testkit import MOSQUITTO

from labtwin.errors import BrokerUnavailable
from labtwin.twin.brokers import AmqttBroker, DeviceAcl, MosquittoBroker, mosquitto_broker
from labtwin.twin.brokers.base import LoopbackBroker

BrokerFactory = Callable[..., Awaitable[LoopbackBroker]]
Peer = Callable[..., Any]
NextMessage = Callable[..., Awaitable[Any]]


def refuses_tcp(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


async def test_start_binds_an_ephemeral_port_and_stop_releases_it(
    broker: LoopbackBroker, peer: Peer, next_message: NextMessage
) -> None:
    assert broker.running and broker.port > 0
    assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
    async with peer(broker) as p:
        await p.subscribe("t/#", qos=1)
        await p.publish("t/1", b"hello", qos=1)
        assert (await next_message(p)).payload == b"hello"
    await broker.stop()
    assert not broker.running
    assert refuses_tcp(broker.host, broker.port)
    await broker.stop()  # idempotent


async def test_restart_keeps_the_port_and_drops_retained(
    broker: LoopbackBroker, peer: Peer, next_message: NextMessage
) -> None:
    port = broker.port
    async with peer(broker) as p:
        await p.publish("keep/me", b"v1", qos=1, retain=True)
    await broker.restart()
    assert broker.port == port
    async with peer(broker) as p:
        await p.subscribe("keep/#", qos=1)
        # No persistence by default: the first message is one published after subscribing, not v1.
        await p.publish("keep/marker", b"marker", qos=1)
        assert (await next_message(p)).payload == b"marker"


async def test_async_context_manager(broker_kind: str, tmp_path: Path, peer: Peer) -> None:
    b: LoopbackBroker = AmqttBroker() if broker_kind == "amqtt" else MosquittoBroker(work_dir=tmp_path)
    async with b as running:
        assert running is b and b.running
        async with peer(b):
            pass
    assert not b.running and refuses_tcp(b.host, b.port)


async def test_users_turn_anonymous_access_off(broker_kind: str, make_broker: BrokerFactory, peer: Peer) -> None:
    broker = await make_broker(broker_kind, users={"alice": "s3cret", "bob": "hunter2"})
    assert broker.users == {"alice": "s3cret", "bob": "hunter2"}
    async with peer(broker, username="alice", password="s3cret"):
        pass
    async with peer(broker, username="bob", password="hunter2"):
        pass
    for creds in ({}, {"username": "alice", "password": "wrong"}, {"username": "eve", "password": "s3cret"}):
        with pytest.raises(aiomqtt.MqttError):
            async with peer(broker, **creds):
                pass


async def test_explicit_port_in_use_is_a_clear_error(broker_kind: str, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        b: LoopbackBroker = (
            AmqttBroker(port=port) if broker_kind == "amqtt" else MosquittoBroker(work_dir=tmp_path, port=port)
        )
        with pytest.raises(BrokerUnavailable, match=f"127.0.0.1:{port}"):
            await b.start()
        assert not b.running


async def test_amqtt_logging_is_quiet_by_default(make_broker: BrokerFactory) -> None:
    await make_broker("amqtt")
    assert logging.getLogger("amqtt").getEffectiveLevel() >= logging.WARNING


def test_bad_port_is_rejected() -> None:
    with pytest.raises(ValueError):
        AmqttBroker(port=70000)


# ------------------------------------------------------------- mosquitto only


@pytest.mark.parametrize("broker_kind", [MOSQUITTO])
async def test_mosquitto_config_and_process(broker: MosquittoBroker) -> None:
    conf = broker.config_path.read_text()
    assert "set_tcp_nodelay true" in conf
    assert f"listener {broker.port} 127.0.0.1" in conf
    assert "persistence false" in conf
    assert broker._proc is not None
    status = Path(f"/proc/{broker._proc.pid}/status").read_text()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1] == str(os.geteuid())  # did not drop to user 'mosquitto'


@pytest.mark.parametrize("broker_kind", [MOSQUITTO])
async def test_mosquitto_persistence_keeps_retained(
    make_broker: BrokerFactory, broker_kind: str, peer: Peer, next_message: NextMessage
) -> None:
    broker = await make_broker(broker_kind, persistence=True)
    async with peer(broker) as p:
        await p.publish("keep/me", b"v1", qos=1, retain=True)
    await broker.restart()
    assert (Path(broker.work_dir) / "mosquitto.db").exists()
    async with peer(broker) as p:
        await p.subscribe("keep/#", qos=1)
        assert (await next_message(p)).payload == b"v1"


async def test_mosquitto_missing_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mosquitto_broker, "mosquitto_path", lambda: None)
    with pytest.raises(BrokerUnavailable, match="not installed"):
        await MosquittoBroker(work_dir=tmp_path).start()


@pytest.mark.parametrize("broker_kind", [MOSQUITTO])
async def test_mosquitto_bad_config_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broker_kind: str
) -> None:
    monkeypatch.setattr(MosquittoBroker, "_config_text", lambda self: "no_such_option 1\n")
    b = MosquittoBroker(work_dir=tmp_path)
    with pytest.raises(BrokerUnavailable, match="exited with code"):
        await b.start()
    assert b._proc is None  # reaped


@pytest.mark.parametrize("users", [{"a:b": "x"}, {"": "x"}, {"a": "x\ny"}])
def test_unstorable_users_are_rejected(tmp_path: Path, users: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        AmqttBroker(users=users)
    with pytest.raises(ValueError):
        MosquittoBroker(work_dir=tmp_path, users=users)


async def test_stop_then_start_again(broker: LoopbackBroker, peer: Peer) -> None:
    await broker.stop()
    await asyncio.sleep(0)
    await broker.start()
    async with peer(broker):
        pass


async def test_amqtt_client_connections_can_be_reset_when_shutdown_is_abandoned():
    # The runner's fallback for amqtt's shutdown hang: clients must not stay on a half-dead broker.
    async with AmqttBroker() as broker:
        async with aiomqtt.Client(broker.host, broker.port, identifier="abort-probe") as client:
            await client.subscribe("probe/#")
            broker._broker.abort_client_connections()
            with pytest.raises(aiomqtt.MqttError):
                async with asyncio.timeout(5):
                    async for _ in client.messages:
                        pass


async def test_an_abandoned_amqtt_shutdown_leaves_no_task_behind(monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    # amqtt 0.12.1's shutdown() can hang; the runner gives up on it after a bound. Its broadcast loop
    # and session monitor must not outlive it (the autouse leak check fails the test if they do).
    from labtwin.twin.brokers import amqtt_broker

    async def hang() -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(amqtt_broker, "_SHUTDOWN_TIMEOUT_S", 0.2)
    broker = AmqttBroker()
    await broker.start()
    async with aiomqtt.Client(broker.host, broker.port, identifier="hang-probe") as client:
        await client.subscribe("probe/#")
        monkeypatch.setattr(broker._broker, "shutdown", hang)
        await broker.stop()
        with pytest.raises(aiomqtt.MqttError):  # reset, not left on a half-dead broker
            async with asyncio.timeout(5):
                async for _ in client.messages:
                    pass
    assert "did not shut down within 0.2 s" in caplog.text


async def test_amqtt_brokers_in_one_process_keep_their_own_subscriptions() -> None:
    # Two embedded brokers once shared one subscriptions dict (a cache on the wrong definition), so
    # starting the second cleared the first's subscriptions and it delivered nothing.
    async with AmqttBroker() as first, AmqttBroker() as second:
        async with aiomqtt.Client(first.host, first.port) as on_first:
            await on_first.subscribe("only/first", qos=1)
            await second.restart()
            async with aiomqtt.Client(second.host, second.port) as on_second:
                await on_second.publish("only/first", b"to the second broker", qos=1)
                await on_first.publish("only/first", b"to the first broker", qos=1)
                async with asyncio.timeout(3):
                    message = await anext(aiter(on_first.messages))
                assert message.payload == b"to the first broker"
            assert set(first._broker.subscriptions) == {"only/first"}
            assert set(second._broker.subscriptions) == set()


async def test_amqtt_delivers_every_message_while_boards_come_and_go_at_once() -> None:
    # amqtt 0.12.1 walks its subscriptions with awaits inside the loops (a connect pushing retained
    # statuses, a delivery checking the ACL, a leave). Unpatched, boards booting at once (a board and
    # its orchestrator client each) failed to connect or lost a message to "dictionary changed size
    # during iteration", and a subscriber leaving mid-delivery made the next one on its filter miss it.
    boards, rounds = 24, 8
    users = {"orchestrator": "o-secret", **{f"board-{i}": f"b-{i}" for i in range(boards)}}
    async with AmqttBroker(users=users, acl=DeviceAcl()) as broker:
        def client(user: str, identifier: str) -> aiomqtt.Client:
            return aiomqtt.Client(broker.host, broker.port, username=user, password=users[user],
                                  identifier=identifier, timeout=5)

        async def board_boots(index: int, round_: int) -> None:
            user, online = f"board-{index}", f"online {round_}".encode()
            async with client("orchestrator", f"orchestrator-{index}-{round_}") as orchestrator:
                await orchestrator.subscribe(f"ot2/{user}/status", qos=1)
                await orchestrator.subscribe(f"ot2/{user}/result", qos=1)
                async with client(user, f"{user}-{round_}") as board:
                    await board.subscribe(f"ot2/{user}/command", qos=1)
                    await board.publish(f"ot2/{user}/status", online, qos=1, retain=True)
                    async with asyncio.timeout(5):
                        async for message in orchestrator.messages:
                            if message.payload == online and not message.retain:
                                break

        async def board_boots_again_and_again(index: int) -> None:
            for round_ in range(rounds):
                await board_boots(index, round_)

        async with asyncio.TaskGroup() as boots:  # a failure cancels the others
            for index in range(boards):
                boots.create_task(board_boots_again_and_again(index))
