"""Relaying one device connection to the broker, MQTT packet by MQTT packet.

The mechanics under :class:`labtwin.twin.network.network_twin.NetworkTwin`: a :class:`Relay`
pairs the socket a device opened with an upstream socket to the broker,
frames what each side sends into whole MQTT packets, and hands every packet to
its owner (the link), which decides its fate and calls :meth:`Relay.send`
with a delay. Packets go out straight from the protocol callback when no delay
applies; a pacing task per direction exists only while delayed packets wait,
and packets leave in arrival order. Closing one side closes the other after
what it sent before closing has been delivered, except while the link is
black-holed: then the close is lost in the hole too (the relay is *severed*).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, Protocol

from labtwin.errors import ProtocolError
from labtwin.twin.clock import Clock
from labtwin.twin.network.mqtt_framing import MqttFramer, MqttPacket

__all__ = ["DIRECTIONS", "TO_BROKER", "TO_DEVICE", "Direction", "Endpoint", "LinkCounters", "Relay", "RelayOwner"]

log = logging.getLogger("labtwin.twin.network")

Direction = Literal["to_device", "to_broker"]
TO_DEVICE: Final = "to_device"
TO_BROKER: Final = "to_broker"
DIRECTIONS: Final[tuple[Direction, Direction]] = (TO_BROKER, TO_DEVICE)
UPSTREAM_CONNECT_TIMEOUT_S = 5.0


def _per_direction(value: int) -> dict[Direction, int]:
    return {TO_BROKER: value, TO_DEVICE: value}


@dataclass
class LinkCounters:
    """What a :class:`NetworkTwin` did so far (a snapshot; counts never go down).

    ``packets_forwarded`` counts every packet written onward, duplicates included;
    ``packets_discarded`` those a black hole (or a severed connection) swallowed.
    """

    packets_forwarded: dict[Direction, int] = field(default_factory=lambda: _per_direction(0))
    packets_discarded: dict[Direction, int] = field(default_factory=lambda: _per_direction(0))
    publishes_duplicated: dict[Direction, int] = field(default_factory=lambda: _per_direction(0))
    connections_accepted: int = 0
    connections_refused: int = 0
    connections_dropped: int = 0
    upstream_failures: int = 0
    framing_errors: int = 0

    def snapshot(self) -> LinkCounters:
        """An independent copy."""
        return replace(self, packets_forwarded=dict(self.packets_forwarded),
                       packets_discarded=dict(self.packets_discarded),
                       publishes_duplicated=dict(self.publishes_duplicated))


class RelayOwner(Protocol):
    """What a relay needs from the link that owns it (implemented by NetworkTwin)."""

    name: str
    clock: Clock
    upstream_host: str
    upstream_port: int
    _counters: LinkCounters

    @property
    def black_holed(self) -> bool: ...

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]: ...

    def _accept(self, endpoint: Endpoint) -> Relay | None: ...

    def _route(self, relay: Relay, direction: Direction, packet: MqttPacket) -> None: ...

    def _forget(self, relay: Relay) -> None: ...


def _set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _reset(transport: asyncio.Transport) -> None:
    # Linger 0 makes close() send RST instead of FIN: the peer sees ECONNRESET, as on a real reset.
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # already torn down by the kernel: abort() alone is enough
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class Endpoint(asyncio.Protocol):
    """One socket of a relayed connection; what it reads travels in direction ``inbound``.

    The device's endpoint is made by the link's server (``relay`` None: it asks
    the link to accept it); the broker's is made for an existing relay.
    """

    def __init__(self, link: RelayOwner, inbound: Direction, relay: Relay | None = None) -> None:
        self.link = link
        self.inbound = inbound
        self.relay = relay
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        _set_nodelay(transport)
        if self.relay is None:
            self.relay = self.link._accept(self)
        else:
            self.relay.broker_connected(self)

    def refuse(self) -> None:
        """Reset this socket at once: a connection the link does not take."""
        if self.transport is not None:
            _reset(self.transport)

    def data_received(self, data: bytes) -> None:
        if self.relay is not None:
            self.relay.received(self.inbound, data)

    def eof_received(self) -> bool:
        if self.relay is not None:
            self.relay.input_ended(self)
        return True  # the relay decides when this socket closes

    def connection_lost(self, exc: Exception | None) -> None:
        if self.relay is not None:
            self.relay.input_ended(self)

    def pause_writing(self) -> None:
        if self.relay is not None:
            self.relay.throttle(self, paused=True)

    def resume_writing(self) -> None:
        if self.relay is not None:
            self.relay.throttle(self, paused=False)


@dataclass
class _Hop:
    """One direction of one relayed connection."""

    framer: MqttFramer = field(default_factory=MqttFramer)
    queue: deque[tuple[float, MqttPacket]] = field(default_factory=deque)  # (departure time, packet)
    last_departure: float = 0.0
    pacer: asyncio.Task[None] | None = None
    ended: bool = False  # the sending side closed; close the relay once the queue is flushed


class Relay:
    """One device connection and the upstream connection made for it.

    Args:
        link: the owner: it routes packets and keeps the counters.
        number: the connection's ordinal on the link (for logs and task names).
        device: the accepted device endpoint.
    """

    def __init__(self, link: RelayOwner, number: int, device: Endpoint) -> None:
        self.link = link
        self.number = number
        # Endpoint each direction is written to; the broker's appears once upstream connects.
        self.out: dict[Direction, Endpoint | None] = {TO_DEVICE: device, TO_BROKER: None}
        self.hops: dict[Direction, _Hop] = {d: _Hop() for d in DIRECTIONS}
        self.connecting: asyncio.Task[None] | None = None
        self.closed = False
        # Cut by a black hole: no upstream, or one side closed while the hole was open.
        # Nothing is relayed any more; the connection is reset when the hole lifts.
        self.severed = False

    def tasks(self) -> list[asyncio.Task[None]]:
        """The relay's unfinished tasks: the upstream connect, and a pacer per direction while one waits."""
        found = [self.connecting] + [hop.pacer for hop in self.hops.values()]
        return [t for t in found if t is not None and not t.done()]

    def _connect_upstream(self) -> None:
        self.connecting = self.link._spawn(self._connect(), f"network twin {self.link.name}#{self.number} upstream")

    async def _connect(self) -> None:
        link = self.link
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(UPSTREAM_CONNECT_TIMEOUT_S):
                await loop.create_connection(lambda: Endpoint(link, TO_DEVICE, self),
                                             link.upstream_host, link.upstream_port)
        except (OSError, TimeoutError) as e:
            # The device sees its connection reset, as it would if the broker refused it directly.
            link._counters.upstream_failures += 1
            log.debug("network twin %s: upstream %s:%d unreachable (%s)", link.name,
                      link.upstream_host, link.upstream_port, e)
            self.reset()
        finally:
            self.connecting = None

    def broker_connected(self, endpoint: Endpoint) -> None:
        """The upstream connection is up: send what the device said meanwhile."""
        assert endpoint.transport is not None
        if self.closed:
            endpoint.transport.abort()
            return
        self.out[TO_BROKER] = endpoint
        if self.hops[TO_BROKER].queue:
            self._start_pacer(TO_BROKER)

    def received(self, direction: Direction, data: bytes) -> None:
        """Bytes arrived going ``direction``: hand each whole packet to the link to route."""
        if self.closed:
            return
        try:
            packets = self.hops[direction].framer.feed(data)
        except ProtocolError as e:
            # Like a broker: a stream that is not MQTT cannot be resynchronised; close it.
            self.link._counters.framing_errors += 1
            log.warning("network twin %s: closing connection #%d: %s", self.link.name, self.number, e)
            self.close()
            return
        for packet in packets:
            self.link._route(self, direction, packet)

    def send(self, direction: Direction, packet: MqttPacket, delay: float) -> None:
        """Write ``packet`` onward after ``delay`` seconds, never before packets sent earlier."""
        hop = self.hops[direction]
        if delay <= 0 and not hop.queue and self._writable(direction):
            self._write(direction, packet)
            return
        departure = max(self.link.clock.now() + delay, hop.last_departure)
        hop.last_departure = departure
        hop.queue.append((departure, packet))
        if self.out[direction] is None:
            # Only the broker's side can be missing: it is connected on the device's first packet,
            # so a connection that never speaks MQTT never reaches the broker.
            if self.connecting is None:
                self._connect_upstream()
        elif hop.pacer is None:
            self._start_pacer(direction)

    def _start_pacer(self, direction: Direction) -> None:
        self.hops[direction].pacer = self.link._spawn(
            self._pace(direction), f"network twin {self.link.name}#{self.number} {direction}")

    async def _pace(self, direction: Direction) -> None:
        hop = self.hops[direction]
        clock = self.link.clock
        while hop.queue and not self.closed:
            departure, packet = hop.queue[0]
            wait = departure - clock.now()
            if wait > 0:
                await clock.sleep(wait)
            hop.queue.popleft()
            self._write(direction, packet)
        hop.pacer = None
        if hop.ended:
            self.close()

    def _writable(self, direction: Direction) -> bool:
        endpoint = self.out[direction]
        return endpoint is not None and endpoint.transport is not None and not endpoint.transport.is_closing()

    def _write(self, direction: Direction, packet: MqttPacket) -> None:
        # Checked again at departure: a packet still in flight when a hole opens is lost too.
        if self.link.black_holed or self.severed or not self._writable(direction):
            self.link._counters.packets_discarded[direction] += 1
            return
        endpoint = self.out[direction]
        assert endpoint is not None and endpoint.transport is not None
        endpoint.transport.write(packet.raw)
        self.link._counters.packets_forwarded[direction] += 1

    def input_ended(self, endpoint: Endpoint) -> None:
        """``endpoint``'s peer closed (or reset): close the relay once what it sent is delivered."""
        if self.closed:
            return
        if self.link.black_holed or self.severed:
            # The FIN or RST is lost in the hole too: the other side keeps waiting for its keepalive.
            self.severed = True
            if endpoint.transport is not None:
                endpoint.transport.abort()
            if all(e is None or e.transport is None or e.transport.is_closing() for e in self.out.values()):
                self._forget()
            return
        hop = self.hops[endpoint.inbound]
        hop.ended = True
        # Packets still queued in this direction were sent before the close: deliver them first.
        if not hop.queue or hop.pacer is None:
            self.close()

    def throttle(self, endpoint: Endpoint, *, paused: bool) -> None:
        """``endpoint``'s socket is backed up (or drained): pause (resume) reading what feeds it."""
        feeder = self.out[TO_BROKER] if endpoint.inbound == TO_BROKER else self.out[TO_DEVICE]
        if feeder is None or feeder.transport is None or feeder.transport.is_closing():
            return
        if paused:
            feeder.transport.pause_reading()
        else:
            feeder.transport.resume_reading()

    def close(self) -> None:
        """Close both sockets after flushing what was already written to them (FIN)."""
        self._end(lambda transport: transport.close())

    def reset(self) -> None:
        """Close both sockets at once with a TCP reset, dropping anything unsent."""
        self._end(_reset)

    def _end(self, how: Callable[[asyncio.Transport], None]) -> None:
        if self.closed:
            return
        self.closed = True
        current = asyncio.current_task()
        for task in self.tasks():
            if task is not current:
                task.cancel()
        for endpoint in self.out.values():
            if endpoint is not None and endpoint.transport is not None and not endpoint.transport.is_closing():
                how(endpoint.transport)
        self._forget()

    def _forget(self) -> None:
        self.closed = True
        self.link._forget(self)


