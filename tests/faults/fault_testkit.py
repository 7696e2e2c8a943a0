"""Helpers for the fault tests: MQTT clients on either side of a network twin, a firmware bench.

aiomqtt hides the DUP flag, so :class:`RawMqttPeer` is a bare MQTT 3.1.1
client over a plain socket that hands back every packet it receives, framed by
the twin's own framer. :func:`fault_bench` runs the real firmware on a
simulated Pico W whose MQTT traffic crosses a network twin.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt

from labtwin.board_firmware import STOCK_FIRMWARE_DIR
from labtwin.orchestrator.mqtt_client import AsyncMQTTOrchestratorClient
from labtwin.scenarios.labs.broker_url import BrokerAddress
from labtwin.scenarios.labs.device_config import device_config
from labtwin.scenarios.labs.twin_lab_options import wire_default_bench
from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.board.profiles import PICO_W
from labtwin.twin.brokers import AmqttBroker
from labtwin.twin.clock import WallClock
from labtwin.twin.network.mqtt_framing import MqttFramer, MqttPacket, encode_remaining_length
from labtwin.twin.network.network_twin import NetworkTwin

DEVICE_ID = "pico-w-fault-001"
LAB_SSID = "labtwin-ap"

NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def mqtt_client(host: str, port: int, **kwargs: object) -> aiomqtt.Client:
    """An aiomqtt client with TCP_NODELAY (Nagle would add ~40 ms to every small packet)."""
    return aiomqtt.Client(host, port, socket_options=NODELAY, **kwargs)  # type: ignore[arg-type]


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + encode_remaining_length(len(body)) + body


class RawMqttPeer:
    """One clean-session MQTT connection; ``packets`` receives every inbound packet."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.packets: asyncio.Queue[MqttPacket] = asyncio.Queue()
        self._framer = MqttFramer()

    @classmethod
    async def connect(cls, host: str, port: int, client_id: str, keepalive: int = 60) -> RawMqttPeer:
        reader, writer = await asyncio.open_connection(host, port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = cls(reader, writer)
        body = _string("MQTT") + bytes([4, 0x02]) + keepalive.to_bytes(2, "big") + _string(client_id)
        writer.write(_packet(0x10, body))
        connack = await peer.next_packet()
        assert connack.packet_type == 2 and connack.body[1] == 0, f"CONNACK refused: {connack.raw!r}"
        return peer

    async def next_packet(self, timeout: float = 3.0) -> MqttPacket:
        """The next inbound packet; reads the socket as needed."""
        async with asyncio.timeout(timeout):
            while self.packets.empty():
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError("connection closed")
                for packet in self._framer.feed(data):
                    self.packets.put_nowait(packet)
        return self.packets.get_nowait()

    async def subscribe(self, topic: str, qos: int = 1) -> None:
        self.writer.write(_packet(0x82, (1).to_bytes(2, "big") + _string(topic) + bytes([qos])))
        suback = await self.next_packet()
        assert suback.packet_type == 9, f"expected SUBACK, got {suback.raw!r}"

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, packet_id: int = 1) -> None:
        body = _string(topic) + (packet_id.to_bytes(2, "big") if qos else b"") + payload
        self.writer.write(_packet(0x30 | qos << 1, body))

    def puback(self, packet_id: int) -> None:
        self.writer.write(_packet(0x40, packet_id.to_bytes(2, "big")))

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):  # the relay may already have reset it
            await self.writer.wait_closed()


class LineWatch:
    """An ``on_output`` callback for a board: futures that resolve on the next matching line.

    Register with :meth:`expect` *before* causing the event, then await the future.
    """

    def __init__(self) -> None:
        self._waiting: list[tuple[re.Pattern[str], asyncio.Future[str]]] = []

    def __call__(self, line: str) -> None:
        for regex, future in list(self._waiting):
            if not future.done() and regex.search(line):
                future.set_result(line)
                self._waiting.remove((regex, future))

    def expect(self, pattern: str) -> asyncio.Future[str]:
        """A future for the next line matching ``pattern``."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.append((re.compile(pattern), future))
        return future


@dataclass
class FaultBench:
    """One simulated Pico W running the real firmware, through a network twin, to a broker."""

    clock: WallClock
    broker: AmqttBroker
    link: NetworkTwin
    board: SimulatedBoard
    client: AsyncMQTTOrchestratorClient
    lines: LineWatch


@contextlib.asynccontextmanager
async def fault_bench(work_dir: Path, *, device_id: str = DEVICE_ID, **config: Any) -> AsyncIterator[FaultBench]:
    """Broker (with per-run users, as TwinLab runs it) -> network twin -> board, and an orchestrator client.

    ``config`` overrides device.json keys (e.g. ``mqtt_keepalive=1``). Everything is stopped on exit.
    """
    clock = WallClock()
    passwords = {device_id: secrets.token_urlsafe(12), "orchestrator": secrets.token_urlsafe(12)}
    wifi_password = secrets.token_urlsafe(12)
    lines = LineWatch()
    async with contextlib.AsyncExitStack() as stack:
        broker = await stack.enter_async_context(AmqttBroker(users=passwords))
        link = await stack.enter_async_context(
            NetworkTwin(broker.host, broker.port, name=device_id, clock=clock, seed=1))
        login = BrokerAddress(link.host, link.port, device_id, passwords[device_id])
        settings = {**device_config(device_id=device_id, board=PICO_W.name, broker=login, topic_prefix="ot2",
                                    wifi=(LAB_SSID, wifi_password)), **config}
        board = SimulatedBoard(device_id=device_id, profile=PICO_W, firmware_dir=STOCK_FIRMWARE_DIR,
                               device_config=settings, work_dir=work_dir, seed=0, clock=clock,
                               on_output=lines, wifi_ssid=LAB_SSID, wifi_password=wifi_password)
        wire_default_bench(board.model)
        client = await stack.enter_async_context(AsyncMQTTOrchestratorClient(
            broker.host, device_id, broker.port, timeout=5.0,
            username="orchestrator", password=passwords["orchestrator"]))
        online = lines.expect("online as")
        await stack.enter_async_context(board)
        await asyncio.wait_for(online, 15)
        await client.wait_for_status("online", timeout=5)
        yield FaultBench(clock, broker, link, board, client, lines)
