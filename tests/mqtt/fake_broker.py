"""A scripted fake MQTT broker for testing the firmware client, after Mosquitto's test/lib.

The broker listens on 127.0.0.1:0 and plays a list of steps, in order, across
the connections the client makes:

    accept()                 wait for the next TCP connection (the first, or a reconnect)
    expect(match)            next packet from the client: exact bytes, or a predicate /
                             checker called with a Packet (False or AssertionError = fail);
                             that the client sent nothing else is shown this way too, by the
                             next packet being a later one (never by waiting a while)
    send(data)               write hand-built bytes (or a callable(ctx) -> bytes)
    drop()                   close the current connection from the broker side
    expect_disconnect()      the client closes the connection (EOF) within a timeout
    call(fn)                 run fn(ctx) (bookkeeping, assertions on saved packets)

Packets are framed with this module's own remaining-length decoder, and the
builders below make the broker's replies by hand, so nothing here depends on
firmware/mqtt_codec.py. Every event is time-stamped in ``broker.events`` for the
transcript a failure shows; how long the client took is judged by its own clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Self

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14


# ------------------------------------------------------------ hand-built packets


def varint(n: int) -> bytes:
    """Encode a remaining length (no range check: tests also build invalid ones)."""
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + varint(len(body)) + body


def connack(rc: int = 0, session_present: bool = False) -> bytes:
    return bytes([0x20, 0x02, 1 if session_present else 0, rc])


def suback(pid: int, *codes: int) -> bytes:
    return packet(0x90, struct.pack(">H", pid) + bytes(codes))


def puback(pid: int) -> bytes:
    return bytes([0x40, 0x02]) + struct.pack(">H", pid)


def pingresp() -> bytes:
    return b"\xd0\x00"


def unsuback(pid: int) -> bytes:
    return bytes([0xB0, 0x02]) + struct.pack(">H", pid)


def mqtt_str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def publish(topic: str | bytes, payload: bytes = b"", qos: int = 0, pid: int = 0,
            retain: bool = False, dup: bool = False) -> bytes:
    first = 0x30 | (qos << 1) | (8 if dup else 0) | (1 if retain else 0)
    body = mqtt_str(topic) + (struct.pack(">H", pid) if qos else b"") + payload
    return packet(first, body)


def connect_bytes(client_id: str, keepalive: int, *, will: tuple[str, bytes, bool, int] | None = None,
                  user: str | None = None, password: str | None = None, clean: bool = True) -> bytes:
    """The CONNECT a correct 3.1.1 client must send for these options, built by hand."""
    flags = (0x02 if clean else 0)
    payload = mqtt_str(client_id)
    if will is not None:
        topic, msg, retain, qos = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += mqtt_str(topic) + mqtt_str(msg)
    if user is not None:
        flags |= 0x80
        payload += mqtt_str(user)
    if password is not None:
        flags |= 0x40
        payload += mqtt_str(password)
    return packet(0x10, b"\x00\x04MQTT\x04" + bytes([flags]) + struct.pack(">H", keepalive) + payload)


# ------------------------------------------------------------- parsed packets


@dataclass
class Packet:
    """One packet from the client: fixed header split off, plus a few decoded fields."""

    raw: bytes
    type: int
    flags: int
    body: bytes
    t: float

    @property
    def pid(self) -> int:
        """Packet id of a SUBSCRIBE / QoS>0 PUBLISH / PUBACK."""
        if self.type == PUBLISH:
            n = struct.unpack(">H", self.body[:2])[0]
            return struct.unpack(">H", self.body[2 + n:4 + n])[0]
        return struct.unpack(">H", self.body[:2])[0]

    @property
    def qos(self) -> int:
        return (self.flags >> 1) & 3

    @property
    def dup(self) -> bool:
        return bool(self.flags & 8)

    @property
    def retain(self) -> bool:
        return bool(self.flags & 1)

    @property
    def topic(self) -> str:
        n = struct.unpack(">H", self.body[:2])[0]
        return self.body[2:2 + n].decode()

    @property
    def payload(self) -> bytes:
        n = struct.unpack(">H", self.body[:2])[0]
        return self.body[2 + n + (2 if self.qos else 0):]

    def subscriptions(self) -> list[tuple[str, int]]:
        """(filter, qos) pairs of a SUBSCRIBE."""
        out, i = [], 2
        while i < len(self.body):
            n = struct.unpack(">H", self.body[i:i + 2])[0]
            out.append((self.body[i + 2:i + 2 + n].decode(), self.body[i + 2 + n]))
            i += 3 + n
        return out


async def read_packet(reader: asyncio.StreamReader) -> Packet:
    """Read one packet; the remaining length is decoded here, not by the firmware codec."""
    first = await reader.readexactly(1)
    head = bytearray(first)
    length, shift = 0, 0
    for _ in range(4):
        b = (await reader.readexactly(1))[0]
        head.append(b)
        length |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    else:
        raise AssertionError(f"client sent a remaining length longer than 4 bytes: {bytes(head).hex()}")
    body = await reader.readexactly(length)
    return Packet(bytes(head) + body, first[0] >> 4, first[0] & 0x0F, body, time.monotonic())


# ------------------------------------------------------------------ the script


Matcher = bytes | Callable[[Packet], Any]
Data = bytes | Callable[[dict[str, Any]], bytes]


class ScriptError(AssertionError):
    """The client did not follow the script."""


@dataclass
class _Conn:
    n: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    t: float


@dataclass
class Step:
    kind: str
    run: Callable[[ScriptedBroker], Awaitable[None]]
    label: str = ""


# Step timeouts are deadlines against a hung script, never what a test claims: generous on purpose.
STEP_TIMEOUT_S = 10.0


def accept(timeout: float = STEP_TIMEOUT_S, *, close_previous: bool = True) -> Step:
    """Wait for the client's next TCP connection (first connect or reconnect)."""
    async def run(b: ScriptedBroker) -> None:
        if close_previous and b.conn is not None:
            await b._close(b.conn)
        try:
            conn = await asyncio.wait_for(b._incoming.get(), timeout)
        except TimeoutError:
            raise ScriptError(f"no (re)connect within {timeout:g} s") from None
        b.conn = conn
        b.log("accept", f"connection {conn.n}")
    return Step("accept", run)


async def _next_packet(b: ScriptedBroker, conn: Any, deadline: float, skip: set[int],
                       pong: bool = False) -> Packet | None:
    """The client's next packet whose type is not in ``skip`` (all are logged); None when it closed.

    With ``pong``, a skipped PINGREQ is answered, as a live broker would.

    Raises:
        TimeoutError: nothing (unskipped) arrived before ``deadline``.
    """
    while True:
        try:
            p = await asyncio.wait_for(read_packet(conn.reader), max(0.0, deadline - time.monotonic()))
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        b.log("recv", p.raw.hex(), p)
        if p.type not in skip:
            return p
        if pong and p.type == PINGREQ:
            conn.writer.write(pingresp())
            b.log("send", pingresp().hex())


def expect(match: Matcher, *, timeout: float = STEP_TIMEOUT_S, save: str | None = None,
           ignore: Iterable[int] = (), label: str = "", pong: bool = False) -> Step:
    """Next packet from the client must match (exact bytes or a checker); ``ignore``: types skipped.

    ``pong``: answer the PINGREQs skipped meanwhile (the connection stays alive however long it takes).
    """
    skip = set(ignore)

    async def run(b: ScriptedBroker) -> None:
        try:
            p = await _next_packet(b, b._need_conn(), time.monotonic() + timeout, skip, pong)
        except TimeoutError:
            raise ScriptError(f"expected {label or match!r}: nothing within {timeout:g} s") from None
        if p is None:
            raise ScriptError(f"expected {label or match!r}: the client closed the connection")
        if isinstance(match, (bytes, bytearray)):
            if p.raw != bytes(match):
                raise ScriptError(f"expected {bytes(match).hex()}, got {p.raw.hex()}")
        else:
            try:
                ok = match(p)
            except AssertionError as e:
                raise ScriptError(f"packet {p.raw.hex()} failed {label or 'check'}: {e}") from None
            if ok is False:
                raise ScriptError(f"packet {p.raw.hex()} failed {label or 'check'}")
        if save:
            b.ctx[save] = p
    return Step("expect", run, label)


def expect_type(ptype: int, *, save: str | None = None, timeout: float = STEP_TIMEOUT_S,
                ignore: Iterable[int] = ()) -> Step:
    def check(p: Packet) -> bool:
        assert p.type == ptype, f"packet type {p.type}, want {ptype}"
        return True
    return expect(check, save=save, timeout=timeout, ignore=ignore, label=f"packet type {ptype}")


def send(data: Data, *, chunk: int = 0, delay: float = 0.0) -> Step:
    """Write bytes; with ``chunk`` > 0, in pieces of that size ``delay`` s apart (a trickling peer)."""
    async def run(b: ScriptedBroker) -> None:
        conn = b._need_conn()
        raw = bytes(data(b.ctx) if callable(data) else data)
        b.log("send", raw.hex() if len(raw) <= 64 else f"{raw[:32].hex()}... ({len(raw)} bytes)")
        pieces = [raw[i:i + chunk] for i in range(0, len(raw), chunk)] if chunk else [raw]
        for i, piece in enumerate(pieces):
            if i and delay:
                await asyncio.sleep(delay)
            conn.writer.write(piece)
            with contextlib.suppress(ConnectionError):
                await conn.writer.drain()
    return Step("send", run)


def drop() -> Step:
    async def run(b: ScriptedBroker) -> None:
        conn = b._need_conn()
        await b._close(conn)
        b.log("drop", f"connection {conn.n}")
        b.conn = None
    return Step("drop", run)


def expect_disconnect(timeout: float = STEP_TIMEOUT_S, *, ignore: Iterable[int] = (PINGREQ,),
                      allow_disconnect_packet: bool = True) -> Step:
    """The client closes the connection within ``timeout`` (packets of ``ignore`` types may come first)."""
    skip = set(ignore) | ({DISCONNECT} if allow_disconnect_packet else set())

    async def run(b: ScriptedBroker) -> None:
        conn = b._need_conn()
        try:
            p = await _next_packet(b, conn, time.monotonic() + timeout, skip)
        except TimeoutError:
            raise ScriptError(f"client did not close the connection within {timeout:g} s") from None
        if p is not None:
            raise ScriptError(f"expected a disconnect, got {p.raw.hex()}")
        b.log("eof", f"connection {conn.n}")
        await b._close(conn)
        b.conn = None
    return Step("expect_disconnect", run)


def call(fn: Callable[[dict[str, Any]], Any]) -> Step:
    async def run(b: ScriptedBroker) -> None:
        fn(b.ctx)
    return Step("call", run)


def wait_for(fn: Callable[[], Awaitable[Any]]) -> Step:
    """Await something outside the broker (e.g. a VM output line) before the next step."""
    async def run(b: ScriptedBroker) -> None:
        await fn()
    return Step("wait_for", run)


@dataclass
class Event:
    t: float
    kind: str
    detail: str
    packet: Packet | None = None


@dataclass
class ScriptedBroker:
    """``async with ScriptedBroker(steps) as b:`` start the client on (b.host, b.port); ``await b.finished()``."""

    steps: list[Step]
    host: str = "127.0.0.1"
    port: int = 0
    ctx: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    conn: _Conn | None = None

    def __post_init__(self) -> None:
        self._incoming: asyncio.Queue[_Conn] = asyncio.Queue()
        self._conns: list[_Conn] = []
        self._server: asyncio.Server | None = None
        self._runner: asyncio.Task[None] | None = None

    def log(self, kind: str, detail: str, p: Packet | None = None) -> None:
        self.events.append(Event(time.monotonic(), kind, detail, p))

    def transcript(self) -> str:
        t0 = self.events[0].t if self.events else 0.0
        return "\n".join(f"{e.t - t0:8.3f} {e.kind:7} {e.detail}" for e in self.events)

    def received(self, ptype: int | None = None) -> list[Packet]:
        return [e.packet for e in self.events if e.packet is not None and (ptype is None or e.packet.type == ptype)]

    def _need_conn(self) -> _Conn:
        if self.conn is None:
            raise ScriptError("script step needs a connection: add accept() first")
        return self.conn

    async def _close(self, conn: _Conn) -> None:
        conn.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await conn.writer.wait_closed()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(len(self._conns) + 1, reader, writer, time.monotonic())
        self._conns.append(conn)
        self.log("tcp", f"connection {conn.n}")
        await self._incoming.put(conn)

    async def _play(self) -> None:
        for i, step in enumerate(self.steps):
            self.log("step", f"{i}: {step.kind} {step.label}".rstrip())
            try:
                await step.run(self)
            except ScriptError as e:
                raise ScriptError(f"step {i} ({step.kind}): {e}\ntranscript:\n{self.transcript()}") from None
        self.log("done", "script finished")

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._on_connect, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._runner = asyncio.create_task(self._play())
        return self

    async def finished(self, timeout: float = 30.0) -> None:
        """Wait for the script to complete; raises ScriptError with a transcript on deviation."""
        assert self._runner is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._runner), timeout)
        except TimeoutError:
            raise ScriptError(f"script not finished within {timeout:g} s\n{self.transcript()}") from None

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None and self._runner is not None
        self._runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._runner
        self._server.close()
        for conn in self._conns:
            await self._close(conn)
        await self._server.wait_closed()
