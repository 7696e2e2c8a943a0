"""The hardware bus: a loopback TCP server between a board's VM and its model.

The MicroPython shims (``machine``, ``network``) send each peripheral
operation as one line of JSON and block for the one-line reply; see
``docs/hardware-bus.md`` for the protocol. A connection must open with a
hello carrying the protocol version and the board's random token, so a
process cannot talk to another board's model by accident. A hello that names a
UART opens that UART's doorbell instead: the host writes a byte on it whenever
received bytes wait, so the VM's ``select.poll`` (and asyncio) wakes on a real
file descriptor. The **events** doorbell works the same way for pin edges waiting for the VM's
soft-IRQ scheduler; those edges also ride on the next reply (``[1, value, events]``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import secrets
import socket
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

from labtwin.twin.board.model import BoardModel, MicroPythonError
from labtwin.twin.lab_time import LabEventLoop
from labtwin.twin.server_shutdown import close_server

__all__ = ["PROTOCOL_VERSION", "HardwareBus"]

log = logging.getLogger("labtwin.twin.hwbus")

PROTOCOL_VERSION = 1
MAX_LINE = 64 * 1024
ENV_ADDRESS = "LABTWIN_HWBUS"
ENV_TOKEN = "LABTWIN_HWBUS_TOKEN"


def _encode(reply: list[Any]) -> bytes:
    return json.dumps(reply, separators=(",", ":")).encode() + b"\n"


class HardwareBus:
    """Serve one :class:`BoardModel` on ``127.0.0.1`` at an ephemeral port.

    Args:
        model: the board model requests are dispatched to.
        token: shared secret the VM must present (random if omitted).
    """

    def __init__(self, model: BoardModel, *, token: str | None = None) -> None:
        self.model = model
        self.token = token or secrets.token_hex(16)
        self._server: asyncio.AbstractServer | None = None
        self._address: tuple[str, int] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.requests = 0
        self.internal_errors: list[BaseException] = []

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the bus listens on (only after :meth:`start`)."""
        if self._address is None:
            raise RuntimeError("the hardware bus is not started")
        return self._address

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point a VM's shims at this bus."""
        host, port = self.address
        return {ENV_ADDRESS: f"{host}:{port}", ENV_TOKEN: self.token}

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._server is not None

    async def start(self) -> None:
        """Start listening (idempotent)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=MAX_LINE)
        self._address = self._server.sockets[0].getsockname()[:2]

    async def stop(self) -> None:
        """Stop listening and drop every connection (idempotent)."""
        server, self._server = self._server, None
        self._address = None
        await close_server(server, self._handlers)

    async def __aenter__(self) -> HardwareBus:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # One small request, one small reply: Nagle's algorithm would only add latency.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            channel = await self._hello(reader, writer)
            if channel == "requests":
                loop = asyncio.get_running_loop()
                if isinstance(loop, LabEventLoop):  # the VM blocks on each reply: no clock sync needed
                    loop.replies_only(writer.transport)
                await self._serve(reader, writer)
            elif channel == "events":
                await self._serve_doorbell(self.model.irq.serve_events, "pin events", reader, writer)
            elif isinstance(channel, int):
                uart = self.model.uart
                await self._serve_doorbell(lambda ring: uart.serve_doorbell(channel, ring), f"uart {channel}",
                                           reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._handlers.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, asyncio.CancelledError):
                pass

    async def _hello(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str | int | None:
        # "requests" for the VM's request connection, a UART handle for its doorbell, "events" for the
        # pin-events doorbell, None if refused.
        line = await reader.readline()
        try:
            msg = json.loads(line)
            ok_shape = isinstance(msg, list) and len(msg) >= 3 and msg[0] == "hello"
        except (ValueError, UnicodeDecodeError):
            ok_shape = False
        if not ok_shape:
            error = "labtwin hwbus: expected hello"
        elif msg[1] != PROTOCOL_VERSION:
            error = f"labtwin hwbus: protocol version {msg[1]!r} not supported (host speaks {PROTOCOL_VERSION})"
        elif not isinstance(msg[2], str) or not secrets.compare_digest(msg[2], self.token):
            error = "labtwin hwbus: bad token"
        elif len(msg) >= 5 and msg[3] == "uart_doorbell" and isinstance(msg[4], int):
            writer.write(_encode([1, None]))
            await writer.drain()
            return msg[4]
        elif len(msg) >= 4 and msg[3] == "events":
            writer.write(_encode([1, None]))
            await writer.drain()
            return "events"
        else:
            info = self.model.op_hello_info()
            info["version"] = PROTOCOL_VERSION
            writer.write(_encode([1, info]))
            await writer.drain()
            return "requests"
        log.warning("%s; closing connection", error)
        writer.write(_encode([0, "OSError", error]))
        await writer.drain()
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # a line longer than MAX_LINE
                writer.write(_encode([0, "OSError", "labtwin hwbus: request too long"]))
                return
            if not line:
                return
            writer.write(_encode(await self._reply(line)))
            await writer.drain()

    async def _serve_doorbell(self, serve: Callable[[Callable[[], None]], Coroutine[Any, Any, None]], name: str,
                              reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The VM never writes on a doorbell; EOF means it closed it (or exited).
        watcher = asyncio.create_task(serve(lambda: writer.write(b"!")), name=f"{name} doorbell")
        try:
            await reader.read()
        finally:
            watcher.cancel()
            for outcome in await asyncio.gather(watcher, return_exceptions=True):
                if isinstance(outcome, Exception):
                    log.warning("%s doorbell stopped: %s", name, outcome)

    async def _reply(self, line: bytes) -> list[Any]:
        self.requests += 1
        try:
            msg = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            return [0, "OSError", "labtwin hwbus: malformed request"]
        if not isinstance(msg, list) or not msg or not isinstance(msg[0], str):
            return [0, "OSError", "labtwin hwbus: malformed request"]
        try:
            value = self.model.dispatch(msg[0], msg[1:])
            if inspect.isawaitable(value):
                value = await value  # an operation that blocks on the board, in lab time
            if self.model.irq.pending:
                return [1, value, self.model.irq.take()]  # pin edges for the VM's soft IRQs
            return [1, value]
        except MicroPythonError as exc:
            return [0, exc.exc_type, exc.arg]
        except Exception as exc:  # a model bug must not kill the bus; the VM sees RuntimeError
            log.exception("hardware bus op %r failed inside the model", msg[0])
            self.internal_errors.append(exc)
            return [0, "RuntimeError", f"labtwin internal error in {msg[0]}: {exc}"]
