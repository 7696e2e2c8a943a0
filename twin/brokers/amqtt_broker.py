"""An embedded amqtt broker on loopback, in the current asyncio loop.

amqtt (pinned to 0.12.1) needs no binary, so it is the default broker of the
testbed. Known amqtt 0.12.1 behaviours that callers must tolerate (not fixed
here): it delivers at the subscription's QoS rather than min(publish,
subscription); on CONNECT it may push retained messages matching any
client's subscriptions, and a later subscriber may get a retained message
twice; with anonymous access sessions are never persistent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtwin.errors import BrokerUnavailable

from ._base import LoopbackBroker, check_port_free

__all__ = ["AmqttBroker", "quiet_amqtt_logging"]

_AUTH_ANON = "amqtt.plugins.authentication.AnonymousAuthPlugin"
_AUTH_FILE = "amqtt.plugins.authentication.FileAuthPlugin"


class _KnownAmqttBugFilter(logging.Filter):
    """Drops the warning amqtt 0.12.1 logs about its own QoS bug.

    amqtt delivers at the subscription's QoS instead of min(publish, subscription) and does
    not track those upgraded deliveries, so a client's correct PUBACK for one is "unknown"
    to it. The client is right; the warning is noise (README, "Known broker limitations").
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Received PUBACK for unknown pending message Id")


_KNOWN_BUG_FILTER = _KnownAmqttBugFilter()


def quiet_amqtt_logging(level: int = logging.WARNING) -> None:
    """Raise amqtt's loggers to ``level`` unless the application set them itself.

    amqtt logs every connection and packet at INFO/DEBUG; a test run or a CLI
    wants warnings only. Levels already set explicitly are left alone.
    """
    for name in ("amqtt", "transitions"):  # transitions drives amqtt's state machines
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(level)
    handler_logger = logging.getLogger("amqtt.mqtt.protocol.handler")
    if _KNOWN_BUG_FILTER not in handler_logger.filters:
        handler_logger.addFilter(_KNOWN_BUG_FILTER)


def _argon2_line(user: str, password: str) -> str:
    # Cheap argon2id parameters on purpose: amqtt verifies the hash inside the
    # event loop on every CONNECT, and the defaults cost ~90 ms each. This
    # broker only ever listens on loopback with throwaway test credentials.
    from pwdlib.hashers.argon2 import Argon2Hasher

    return f"{user}:{Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1).hash(password)}\n"


_SHUTDOWN_TIMEOUT_S = 5.0
logger = logging.getLogger(__name__)


@functools.cache
def _closing_broker_class() -> type[Any]:
    """amqtt's Broker, but every client connection's writer is closed once amqtt is done with it.

    amqtt 0.12.1 returns from some error paths (a client that closes before sending CONNECT,
    as a network twin does when it drops a link) without closing the writer, which leaks the
    socket until garbage collection (a ResourceWarning). Built lazily: amqtt is a slow import.
    """
    from amqtt.broker import Broker

    class ClosingBroker(Broker):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.client_writers: set[asyncio.StreamWriter] = set()

        async def stream_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                   listener_name: str) -> None:
            self.client_writers.add(writer)
            try:
                await super().stream_connected(reader, writer, listener_name)
            finally:
                self.client_writers.discard(writer)
                if not writer.is_closing():
                    writer.close()

        def abort_client_connections(self) -> None:
            """Reset every client connection now, as a dying broker process would."""
            for writer in list(self.client_writers):
                writer.transport.abort()

    return ClosingBroker


class AmqttBroker(LoopbackBroker):
    """amqtt broker bound to ``host:port`` (0 = an ephemeral port), in this process.

    With ``users`` anonymous access is off and only those user/password pairs
    may connect (amqtt's FileAuthPlugin with argon2 hashes); otherwise anyone
    may connect. Must be started and stopped from the same running loop.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, users: Mapping[str, str] | None = None) -> None:
        super().__init__(host=host, port=port, users=users)
        self._broker: Any = None
        self._tmp: str | None = None

    def _config(self) -> dict[str, Any]:
        if self.users is None:
            plugins: dict[str, Any] = {_AUTH_ANON: {"allow_anonymous": True}}
        else:
            if self._tmp is None:
                self._tmp = tempfile.mkdtemp(prefix="labtwin-amqtt-")
            pw_file = Path(self._tmp) / "passwd"
            pw_file.write_text("".join(_argon2_line(u, p) for u, p in self.users.items()), encoding="utf-8")
            plugins = {_AUTH_FILE: {"password_file": str(pw_file)}}
        # No $SYS or packet-logger plugins: less noise and less work per packet.
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": plugins,
        }

    async def _start(self) -> None:
        from amqtt.errors import BrokerError

        Broker = _closing_broker_class()

        quiet_amqtt_logging()
        if self.port:
            check_port_free(self.host, self.port)
        try:
            broker = Broker(self._config())
            await broker.start()
        except (BrokerError, OSError, ValueError) as e:
            self._cleanup_tmp()
            raise BrokerUnavailable(f"amqtt broker could not start on {self.host}:{self.port}: {e}") from e
        self._broker = broker
        if not self.port:
            # amqtt exposes no bound address; its asyncio.Server is the only source of the port.
            server = broker._servers["default"].instance
            self.port = int(server.sockets[0].getsockname()[1])
        # No TCP probe here: asyncio.start_server() has already called listen(),
        # and a probe that sends no CONNECT makes amqtt 0.12.1 log an error and
        # leak its side of the socket (a ResourceWarning later).

    async def _stop(self) -> None:
        broker, self._broker = self._broker, None
        try:
            if broker is not None:
                # Stop listening first: if amqtt's shutdown then hangs (below), the port is still
                # free for a restart on the same port (BrokerOutage clears that way).
                for server in broker._servers.values():
                    if server.instance is not None:
                        server.instance.close()
                try:
                    async with asyncio.timeout(_SHUTDOWN_TIMEOUT_S):
                        await broker.shutdown()
                except TimeoutError:
                    # amqtt 0.12.1 can hang here when a packet lands as a session is cancelled.
                    # Reset its clients, or they would keep talking to a half-dead broker.
                    broker.abort_client_connections()
                    logger.warning("amqtt broker on port %s did not shut down within %g s; abandoned it "
                                   "and reset its client connections", self.port, _SHUTDOWN_TIMEOUT_S)
        finally:
            self._cleanup_tmp()

    def _cleanup_tmp(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
