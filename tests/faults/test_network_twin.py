"""NetworkTwin between aiomqtt (or bare) clients and a real broker: relaying and each control.

Delays are judged in lab time (a manual clock the link's delays move on), how much the relay
costs in wall-clock time is a benchmark's figure, and that nothing came through is shown by a
later packet that did.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest
from fault_testkit import RawMqttPeer, mqtt_client
from testkit import ManualClock, needs_mosquitto, wait_until

from labtwin.twin.brokers import AmqttBroker, MosquittoBroker
from labtwin.twin.brokers.base import free_port
from labtwin.twin.clock import WallClock
from labtwin.twin.network.network_twin import TO_BROKER, TO_DEVICE, NetworkTwin


async def echo_round_trips(client: aiomqtt.Client, count: int, topic: str = "echo",
                           clock: Callable[[], float] = lambda: 0.0) -> list[float]:
    """``clock`` time per QoS 0 publish the client gets back from its own subscription."""
    await client.subscribe(topic, qos=0)
    messages = aiter(client.messages)
    times = []
    async with asyncio.timeout(30):
        for _ in range(count):
            started = clock()
            await client.publish(topic, b"x", qos=0)
            await anext(messages)
            times.append(clock() - started)
    return times


class SignallingClock(WallClock):
    """Wall time whose sleeps signal ``sleeping``: a delayed packet is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeping.set()
        await super().sleep(seconds)


async def expect_reset_at_once(link: NetworkTwin) -> None:
    """A device's CONNECT through ``link`` is answered by a closed connection, not a CONNACK."""
    reader, writer = await asyncio.open_connection(link.host, link.port)
    try:
        writer.write(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")
        async with asyncio.timeout(1):
            with contextlib.suppress(ConnectionResetError):
                assert await reader.read() == b""
    finally:
        writer.close()


async def test_relays_publishes_both_ways_and_counts_them(broker: AmqttBroker, link: NetworkTwin) -> None:
    async with mqtt_client(link.host, link.port, identifier="device") as device, \
            mqtt_client(broker.host, broker.port, identifier="peer") as peer:
        await device.subscribe("lab/cmd", qos=1)
        await peer.subscribe("lab/res", qos=1)
        await peer.publish("lab/cmd", b"do it", qos=1)
        async with asyncio.timeout(3):
            message = await anext(aiter(device.messages))
        assert (message.topic.value, message.payload) == ("lab/cmd", b"do it")
        await device.publish("lab/res", b"done", qos=1)
        async with asyncio.timeout(3):
            message = await anext(aiter(peer.messages))
        assert message.payload == b"done"
    counters = link.counters
    assert counters.connections_accepted == 1
    # CONNECT, SUBSCRIBE, PUBACK, PUBLISH, DISCONNECT up; CONNACK, SUBACK, PUBLISH, PUBACK down.
    assert counters.packets_forwarded[TO_BROKER] >= 5 and counters.packets_forwarded[TO_DEVICE] >= 4
    assert counters.framing_errors == counters.packets_discarded[TO_BROKER] == 0


async def test_every_socket_of_the_relay_has_tcp_nodelay(link: NetworkTwin) -> None:
    peer = await RawMqttPeer.connect(link.host, link.port, "device")
    try:
        (relay,) = link._relays
        sockets = [e.transport.get_extra_info("socket") for e in relay.out.values()]  # type: ignore[union-attr]
        assert [s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets] == [1, 1]
    finally:
        await peer.close()


async def test_back_to_back_round_trips_through_the_relay_all_come_back(link: NetworkTwin) -> None:
    # What the relay adds per round trip (measured ~30 µs) is a benchmark's figure, not this test's claim.
    async with mqtt_client(link.host, link.port, identifier="relayed") as relayed:
        assert len(await echo_round_trips(relayed, 100)) == 100
    assert link.counters.packets_forwarded[TO_DEVICE] >= 100


async def test_latency_delays_each_direction_and_keeps_packet_order(broker: AmqttBroker) -> None:
    clock = ManualClock()  # lab time: moved on by exactly the delays the link waits out
    async with NetworkTwin(broker.host, broker.port, name="dev-1", seed=1, clock=clock) as link, \
            mqtt_client(link.host, link.port, identifier="device") as device:
        link.set_latency(0.05)
        assert link.latency(TO_DEVICE) == link.latency(TO_BROKER) == (0.05, 0.0)
        round_trips = await echo_round_trips(device, 3, clock=clock.now)
        assert round_trips == pytest.approx([0.1] * 3)  # one 50 ms delay each way
        link.set_latency(0.02, 0.02, direction=TO_DEVICE)
        link.set_latency(0.0)
        assert link.latency(TO_BROKER) == (0.0, 0.0)
        await device.subscribe("seq", qos=0)
        for i in range(30):
            await device.publish("seq", str(i).encode(), qos=0)
        received = []
        async with asyncio.timeout(5):
            async for message in device.messages:
                received.append(int(message.payload))  # type: ignore[arg-type]
                if len(received) == 30:
                    break
        assert received == list(range(30))  # jitter never reorders one TCP stream


async def test_latencies_held_for_different_reasons_add_up(link: NetworkTwin) -> None:
    link.set_latency(0.01, reason="cable")
    link.set_latency(0.02, 0.005, direction=TO_DEVICE, reason="wifi")
    assert link.latency(TO_BROKER) == (0.01, 0.0)
    assert link.latency(TO_DEVICE) == pytest.approx((0.03, 0.005))
    link.set_latency(0.0, reason="cable")
    assert link.latency(TO_DEVICE) == pytest.approx((0.02, 0.005))
    with pytest.raises(ValueError):
        link.set_latency(-1.0)
    with pytest.raises(ValueError):
        link.set_latency(0.1, direction="sideways")  # type: ignore[arg-type]


async def test_black_hole_is_noticed_only_by_keepalive(broker: AmqttBroker, link: NetworkTwin) -> None:
    async with mqtt_client(broker.host, broker.port, identifier="watcher") as watcher:
        await watcher.subscribe("dev/status", qos=1)
        will = aiomqtt.Will("dev/status", b"offline", qos=1)
        async with mqtt_client(link.host, link.port, identifier="device", keepalive=1, will=will) as device:
            await device.subscribe("anything", qos=1)
            link.black_hole()
            # paho pings after one keepalive of silence and gives up one keepalive later.
            with pytest.raises(aiomqtt.MqttError):
                async with asyncio.timeout(30):
                    async for _ in device.messages:
                        pass
        # The device's close was lost in the hole: the broker still holds its connection (amqtt
        # 0.12.1 enforces no keepalive), until the healed network resets it and the will goes out.
        assert link.open_connections == 1
        await watcher.publish("dev/status", b"marker", qos=1)  # no will came before it
        async with asyncio.timeout(30):
            assert (await anext(aiter(watcher.messages))).payload == b"marker"
        link.black_hole(False)
        async with asyncio.timeout(30):
            message = await anext(aiter(watcher.messages))
        assert message.payload == b"offline"
    assert link.counters.packets_discarded[TO_BROKER] >= 1  # at least the PINGREQ
    assert link.open_connections == 0


@pytest.mark.slow
@needs_mosquitto
async def test_black_hole_lets_the_brokers_keepalive_publish_the_will(tmp_path: Path) -> None:
    async with MosquittoBroker(work_dir=tmp_path) as broker, \
            NetworkTwin(broker.host, broker.port, name="d") as link, \
            mqtt_client(broker.host, broker.port, identifier="watcher") as watcher:
        await watcher.subscribe("dev/status", qos=1)
        will = aiomqtt.Will("dev/status", b"offline", qos=1)
        async with mqtt_client(link.host, link.port, identifier="device", keepalive=1, will=will):
            link.black_hole()
            # mosquitto 2.0.11 checks keepalives coarsely: measured 5.2 s for a 1 s keepalive.
            async with asyncio.timeout(60):
                message = await anext(aiter(watcher.messages))
            assert message.payload == b"offline"
            link.black_hole(False)


async def test_connections_made_during_a_black_hole_are_held_then_reset(link: NetworkTwin) -> None:
    link.black_hole()
    reader, writer = await asyncio.open_connection(link.host, link.port)
    try:
        writer.write(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")  # CONNECT: lost in the hole
        await wait_until(lambda: link.counters.packets_discarded[TO_BROKER] == 1, "the CONNECT was swallowed")
        assert link.open_connections == 1 and link.counters.packets_forwarded[TO_BROKER] == 0
        link.black_hole(False)
        with pytest.raises(ConnectionResetError):  # held, never answered: nothing came before the reset
            async with asyncio.timeout(30):
                await reader.read(1)
    finally:
        writer.close()
    assert link.open_connections == 0


async def test_drop_resets_connections_and_refusal_keeps_reconnects_out(link: NetworkTwin) -> None:
    async with mqtt_client(link.host, link.port, identifier="device") as device:
        await device.subscribe("x", qos=1)
        link.refuse_connections()
        assert await link.drop_connections() == 1
        with pytest.raises(aiomqtt.MqttError):
            async with asyncio.timeout(2):
                async for _ in device.messages:
                    pass
    await expect_reset_at_once(link)
    link.refuse_connections(False)
    async with mqtt_client(link.host, link.port, identifier="device"):
        pass
    counters = link.counters
    assert (counters.connections_dropped, counters.connections_refused, counters.connections_accepted) == (1, 1, 2)


async def test_refusal_with_a_condition_lifts_once_it_holds(link: NetworkTwin) -> None:
    wifi_up = False
    link.refuse_connections(until=lambda: wifi_up)
    assert link.refusing
    wifi_up = True
    assert not link.refusing
    async with mqtt_client(link.host, link.port, identifier="device"):
        pass


async def test_duplicated_publishes_reach_the_device_twice_the_copy_with_dup(
        broker: AmqttBroker, link: NetworkTwin) -> None:
    link.duplicate_publishes(TO_DEVICE)
    device = await RawMqttPeer.connect(link.host, link.port, "device")
    try:
        await device.subscribe("lab/cmd", qos=1)
        await device.subscribe("lab/chatter", qos=0)  # amqtt delivers at the subscription's QoS
        async with mqtt_client(broker.host, broker.port, identifier="peer") as peer:
            await peer.publish("lab/cmd", b"once", qos=1)
            first, second = await device.next_packet(), await device.next_packet()
            device.puback(first.packet_id or 0)
            device.puback(second.packet_id or 0)
            await peer.publish("lab/chatter", b"fire and forget", qos=0)
            plain = await device.next_packet()
            await peer.publish("lab/chatter", b"marker", qos=0)
            after = await device.next_packet()  # QoS 0 is never duplicated: no copy came before it
        assert first.is_publish and second.is_publish and first.body == second.body
        assert (first.dup, second.dup, first.packet_id) == (False, True, second.packet_id)
        assert plain.qos == 0 and plain.body.endswith(b"fire and forget")
        assert after.qos == 0 and after.body.endswith(b"marker")
    finally:
        await device.close()
    assert link.counters.publishes_duplicated == {TO_BROKER: 0, TO_DEVICE: 1}


async def test_duplicated_publishes_towards_the_broker_are_delivered_twice(
        broker: AmqttBroker, link: NetworkTwin) -> None:
    link.duplicate_publishes(TO_BROKER)
    async with mqtt_client(broker.host, broker.port, identifier="peer") as peer:
        await peer.subscribe("lab/res", qos=1)
        async with mqtt_client(link.host, link.port, identifier="device") as device:
            await device.publish("lab/res", b"result", qos=1)
            async with asyncio.timeout(3):
                payloads = [(await anext(aiter(peer.messages))).payload for _ in range(2)]
    assert payloads == [b"result", b"result"]


async def run_duplication_pattern(seed: int) -> list[bytes]:
    """Which of 20 commands a link with p=0.5 duplicates, seen by a bare device."""
    async with AmqttBroker() as broker, NetworkTwin(broker.host, broker.port, name="d", seed=seed) as link:
        link.duplicate_publishes(TO_DEVICE, 0.5)
        device = await RawMqttPeer.connect(link.host, link.port, "device")
        try:
            await device.subscribe("cmd", qos=1)
            async with mqtt_client(broker.host, broker.port, identifier="peer") as peer:
                for i in range(20):
                    await peer.publish("cmd", b"%d" % i, qos=1)
                await peer.publish("cmd", b"end", qos=1)
                duplicated = []
                while True:  # a copy goes right behind its original: all are in once "end" is
                    packet = await device.next_packet(timeout=30)
                    device.puback(packet.packet_id or 0)
                    if packet.body.endswith(b"end"):
                        break
                    if packet.dup:
                        duplicated.append(packet.body[-2:])
        finally:
            await device.close()
    return duplicated


async def test_duplication_decisions_are_reproducible_from_the_seed() -> None:
    first, again, other = [await run_duplication_pattern(seed) for seed in (3, 3, 4)]
    assert first == again and 0 < len(first) < 20
    assert first != other


async def test_malformed_framing_closes_only_that_connection(link: NetworkTwin) -> None:
    async with mqtt_client(link.host, link.port, identifier="healthy") as healthy:
        reader, writer = await asyncio.open_connection(link.host, link.port)
        writer.write(b"\x10\xff\xff\xff\xff\x01")  # a five-byte remaining length
        async with asyncio.timeout(2):
            with contextlib.suppress(ConnectionResetError):  # closed with our bytes unread: a reset
                assert await reader.read() == b""
        writer.close()
        assert link.counters.framing_errors == 1
        assert len(await echo_round_trips(healthy, 1)) == 1  # the other connection still relays


async def test_an_unreachable_broker_resets_the_device_connection() -> None:
    async with NetworkTwin("127.0.0.1", free_port("127.0.0.1"), name="d") as link:
        await expect_reset_at_once(link)
        assert link.counters.upstream_failures == 1


async def test_stop_closes_connections_and_delayed_packets_without_leaking_tasks(
        broker: AmqttBroker) -> None:
    clock = SignallingClock()
    link = NetworkTwin(broker.host, broker.port, name="d", clock=clock)
    await link.start()
    port = link.port
    device = await RawMqttPeer.connect(link.host, link.port, "device")
    link.set_latency(5.0)
    device.publish("slow", b"still in flight", qos=0)
    await asyncio.wait_for(clock.sleeping.wait(), 30)  # the packet waits out its delay in the link
    await link.stop()
    with pytest.raises((EOFError, ConnectionError)):
        await device.next_packet(timeout=2)
    await device.close()
    assert link.open_connections == 0 and not link.running
    await link.start()  # the same port again, for devices configured with it
    assert link.port == port
    await link.stop()
