"""The network between one device and its broker, as a loopback TCP relay that can misbehave.

A :class:`NetworkTwin` listens on loopback; the device's config points at it
instead of the broker (``mqtt_host``/``mqtt_port`` = ``link.host``/``link.port``).
Each connection it accepts gets its own upstream connection to the broker, and
MQTT packets are relayed whole (framed by :mod:`labtwin.twin.network.mqtt_framing`), so every
fault acts on packets, never on half a header:

- latency and jitter per direction (packet order is kept, as on one TCP stream);
- dropping every connection now, with a TCP reset on both sides;
- refusing new connections;
- a black hole: sockets stay open, traffic both ways silently disappears, and
  a close on one side never reaches the other, so only keepalives can notice;
- duplicated QoS 1 PUBLISHes (a DUP=1 copy right behind the original), which
  is how a broker's or device's redelivery looks on the wire.

The relaying itself lives in :mod:`labtwin.twin.network.mqtt_relay`; this module decides each
packet's fate. Randomness (jitter, which PUBLISHes are duplicated) comes from
seeded numpy generators, one per direction and purpose, so the same seed and
the same traffic give the same decisions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from types import TracebackType
from typing import Any, Final, Self

import numpy as np

from labtwin.twin.clock import Clock, WallClock
from labtwin.twin.network.mqtt_framing import MqttPacket, with_dup_flag
from labtwin.twin.network.mqtt_relay import DIRECTIONS, TO_BROKER, TO_DEVICE, Direction, Endpoint, LinkCounters, Relay

__all__ = ["DIRECTIONS", "MANUAL", "TO_BROKER", "TO_DEVICE", "Direction", "LinkCounters", "NetworkTwin"]

MANUAL: Final = "manual"
"""The reason a control is held for when the caller names none (a test, a person at a prompt)."""

_JITTER, _DUPLICATE = 0, 1  # generator purposes: one stream of draws each


class NetworkTwin:
    """A misbehaving network link between ONE device and its MQTT broker.

    Args:
        upstream_host: the broker's address.
        upstream_port: the broker's port.
        name: names the link in logs and tasks (the device id, typically).
        clock: lab clock for delays (a :class:`~labtwin.twin.clock.WallClock` if omitted).
        seed: seeds jitter and duplication decisions.
        host: address to listen on (loopback).
        port: port to listen on; 0 picks a free one at the first start and keeps it.
    """

    def __init__(self, upstream_host: str, upstream_port: int, *, name: str, clock: Clock | None = None,
                 seed: int = 0, host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.name = name
        self.clock: Clock = clock or WallClock()
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._relays: set[Relay] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepted = 0
        self._counters = LinkCounters()
        # Each control is held per reason (a fault object, or MANUAL), so overlapping faults
        # clear independently: refusals and black holes are unions, delays add up, and the
        # highest duplication probability wins.
        self._latency: dict[Hashable, tuple[Direction, float, float]] = {}
        self._duplicate: dict[Hashable, tuple[Direction, float]] = {}
        self._refusals: dict[Hashable, Callable[[], bool] | None] = {}
        self._holes: set[Hashable] = set()
        self._rng = {(d, purpose): np.random.default_rng([seed, i, purpose])
                     for i, d in enumerate(DIRECTIONS) for purpose in (_JITTER, _DUPLICATE)}

    # ----------------------------------------------------------------- lifecycle
    @property
    def running(self) -> bool:
        """Whether the link is listening."""
        return self._server is not None

    async def start(self) -> None:
        """Start listening (idempotent); the port stays the same across stop/start."""
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Endpoint(self, TO_BROKER), self.host, self.port,
                                                reuse_address=True)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening, close every connection and end every task of the link (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for relay in list(self._relays):
            relay.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    # ----------------------------------------------------------------- state
    @property
    def counters(self) -> LinkCounters:
        """A snapshot of what the link did so far."""
        return self._counters.snapshot()

    @property
    def open_connections(self) -> int:
        """Device connections currently relayed (or held by a black hole)."""
        return len(self._relays)

    @property
    def black_holed(self) -> bool:
        """Whether traffic currently disappears."""
        return bool(self._holes)

    @property
    def refusing(self) -> bool:
        """Whether a new connection would be refused now."""
        self._lift_satisfied_refusals()
        return bool(self._refusals)

    def latency(self, direction: Direction) -> tuple[float, float]:
        """``(delay_s, jitter_s)`` applied to packets going ``direction``: the sum over every reason."""
        self._check(direction)
        held = [(delay, jitter) for d, delay, jitter in self._latency.values() if d == direction]
        return sum(delay for delay, _ in held), sum(jitter for _, jitter in held)

    def duplicate_probability(self, direction: Direction) -> float:
        """Probability that a QoS 1 PUBLISH going ``direction`` is duplicated (the highest held)."""
        self._check(direction)
        return max((p for d, p in self._duplicate.values() if d == direction), default=0.0)

    # ----------------------------------------------------------------- controls
    def set_latency(self, delay_s: float, jitter_s: float = 0.0, *, direction: Direction | None = None,
                    reason: Hashable = MANUAL) -> None:
        """One-way delay for each packet: ``delay_s`` ± up to ``jitter_s`` (uniform), never below 0.

        ``direction`` None sets both directions (a round trip then takes twice
        ``delay_s`` more). Delays held for different reasons add up, like two
        slow segments in series; ``set_latency(0, reason=r)`` removes ``r``'s.
        Packets never overtake each other: one delayed by jitter holds back
        those behind it, as on a single TCP stream.
        """
        if delay_s < 0 or jitter_s < 0:
            raise ValueError(f"latency needs delay_s >= 0 and jitter_s >= 0, got {delay_s}, {jitter_s}")
        for d in DIRECTIONS if direction is None else (self._check(direction),):
            if delay_s or jitter_s:
                self._latency[(reason, d)] = (d, float(delay_s), float(jitter_s))
            else:
                self._latency.pop((reason, d), None)

    async def drop_connections(self) -> int:
        """Reset every open connection on both sides now; returns how many were dropped."""
        relays = list(self._relays)
        tasks = [task for relay in relays for task in relay.tasks()]
        for relay in relays:
            relay.reset()
        self._counters.connections_dropped += len(relays)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        return len(relays)

    def refuse_connections(self, refuse: bool = True, *, reason: Hashable = MANUAL,
                           until: Callable[[], bool] | None = None) -> None:
        """Refuse (reset at once) new connections while any reason holds; open ones are left alone.

        With ``until``, ``reason``'s refusal lifts by itself at the first
        connection attempt for which ``until()`` is true (e.g. "the board
        rejoined WiFi").
        """
        if refuse:
            self._refusals[reason] = until
        else:
            self._refusals.pop(reason, None)

    def black_hole(self, on: bool = True, *, reason: Hashable = MANUAL) -> None:
        """Silently discard all traffic both ways while any reason holds a hole; sockets stay open.

        Connections made while the hole is open are held without an upstream
        connection. When the last hole closes, every connection a hole cut
        (held ones, and those one side of which closed meanwhile) is reset,
        like the RST a peer sends for a connection it no longer knows.
        """
        if on:
            self._holes.add(reason)
            return
        self._holes.discard(reason)
        if not self._holes:
            for relay in [r for r in self._relays if r.severed]:
                relay.reset()

    def duplicate_publishes(self, direction: Direction = TO_DEVICE, probability: float = 1.0, *,
                            reason: Hashable = MANUAL) -> None:
        """Follow each QoS 1 PUBLISH going ``direction`` with a DUP=1 copy, with ``probability``.

        0 removes ``reason``'s duplication. QoS 0 (at most once) and QoS 2
        PUBLISHes are never duplicated.
        """
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be within 0..1, got {probability}")
        key = (reason, self._check(direction))
        if probability:
            self._duplicate[key] = (direction, float(probability))
        else:
            self._duplicate.pop(key, None)

    # ----------------------------------------------------------------- internals
    @staticmethod
    def _check(direction: str) -> Direction:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be {TO_DEVICE!r} or {TO_BROKER!r}, got {direction!r}")
        return direction

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _lift_satisfied_refusals(self) -> None:
        for reason, until in list(self._refusals.items()):
            if until is not None and until():
                del self._refusals[reason]

    def _accept(self, endpoint: Endpoint) -> Relay | None:
        assert endpoint.transport is not None
        if self.refusing or self._server is None:
            self._counters.connections_refused += 1
            endpoint.refuse()
            return None
        self._accepted += 1
        self._counters.connections_accepted += 1
        relay = Relay(self, self._accepted, endpoint)
        self._relays.add(relay)
        # Made inside a hole, its packets are lost: it never gets an upstream connection.
        relay.severed = bool(self._holes)
        return relay

    def _forget(self, relay: Relay) -> None:
        self._relays.discard(relay)

    def _route(self, relay: Relay, direction: Direction, packet: MqttPacket) -> None:
        if self._holes or relay.severed:
            self._counters.packets_discarded[direction] += 1
            return
        delay, jitter = self.latency(direction) if self._latency else (0.0, 0.0)
        if jitter > 0:
            delay = max(0.0, delay + jitter * float(self._rng[direction, _JITTER].uniform(-1.0, 1.0)))
        relay.send(direction, packet, delay)
        probability = self.duplicate_probability(direction) if self._duplicate else 0.0
        if (probability > 0 and packet.is_publish and packet.qos == 1
                and (probability >= 1.0 or self._rng[direction, _DUPLICATE].random() < probability)):
            relay.send(direction, with_dup_flag(packet), delay)
            self._counters.publishes_duplicated[direction] += 1

    def __repr__(self) -> str:
        return (f"<NetworkTwin {self.name} {self.host}:{self.port} -> {self.upstream_host}:{self.upstream_port}"
                f" {'running' if self.running else 'stopped'}>")
