"""What the loopback broker runners share: address bookkeeping, readiness, lifecycle."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Self

from labtwin.errors import BrokerUnavailable

__all__ = ["LoopbackBroker", "free_port", "check_port_free", "wait_accepting"]

READY_TIMEOUT_S = 5.0


def free_port(host: str) -> int:
    """Return a TCP port on ``host`` that was free a moment ago (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def check_port_free(host: str, port: int) -> None:
    """Raise BrokerUnavailable if ``host:port`` cannot be bound.

    Binds with SO_REUSEADDR like both brokers do, so a port held only by
    TIME_WAIT connections of a previous run counts as free.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise BrokerUnavailable(
                f"cannot listen on {host}:{port}: {e.strerror or e}; pick another port or use port=0"
            ) from e


async def wait_accepting(
    host: str,
    port: int,
    *,
    timeout: float = READY_TIMEOUT_S,
    failed: Callable[[], str | None] = lambda: None,
) -> None:
    """Retry a TCP connect to ``host:port`` until it is accepted.

    ``failed`` is polled between tries and returns a reason once the broker
    can no longer come up (its process exited), which ends the wait early.
    """
    deadline = time.monotonic() + timeout
    last: OSError | None = None
    while True:
        reason = failed()
        if reason:
            raise BrokerUnavailable(reason)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 0.5)
        except (OSError, TimeoutError) as e:
            last = e if isinstance(e, OSError) else OSError("connect timed out")
        else:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:  # the broker may reset a connection that sent nothing
                pass
            return
        if time.monotonic() >= deadline:
            raise BrokerUnavailable(f"broker on {host}:{port} did not accept connections within {timeout:g} s ({last})")
        await asyncio.sleep(0.005)


class LoopbackBroker:
    """Base of the runners: ``host``, ``port``, ``url``, ``users`` and the lifecycle.

    Subclasses implement ``_start`` (bind ``self.port``, or a free port when
    it is 0, and return once connections are accepted) and ``_stop``.
    """

    def __init__(self, *, host: str, port: int, users: Mapping[str, str] | None) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port}")
        self.host = host
        self.port = port
        for user, password in (users or {}).items():
            # Both brokers keep "user:hash" lines: these cannot be stored.
            if not user or ":" in user or "\n" in user or "\n" in password:
                raise ValueError(f"user name {user!r} or its password cannot be stored in a password file")
        self.users: dict[str, str] | None = dict(users) if users is not None else None
        self._running = False

    @property
    def url(self) -> str:
        """``mqtt://HOST:PORT`` (the real port once started)."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True between a successful start() and stop()."""
        return self._running

    async def start(self) -> None:
        """Start the broker; returns once it accepts TCP connections."""
        if self._running:
            return
        await self._start()
        self._running = True

    async def stop(self) -> None:
        """Stop the broker and release its port (idempotent)."""
        if not self._running:
            return
        self._running = False
        await self._stop()

    async def restart(self) -> None:
        """Stop and start again on the same port (for reconnect tests)."""
        await self.stop()
        await self.start()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _start(self) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<{type(self).__name__} {self.url} {state}>"
