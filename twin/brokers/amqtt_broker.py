"""An embedded amqtt broker on loopback, in the current asyncio loop.

amqtt (pinned to 0.12.1) needs no binary, so it is the default broker of the
testbed. Known amqtt 0.12.1 behaviours that callers must tolerate (not fixed
here): it delivers at the subscription's QoS rather than min(publish,
subscription); on CONNECT it may push retained messages matching any
client's subscriptions, and a later subscriber may get a retained message
twice; with anonymous access sessions are never persistent.

With ``acl=DeviceAcl(...)`` (opt-in, needs ``users``) amqtt's per-user topic
lists confine each board to its own topics, as far as amqtt can: see
:func:`amqtt_acl_lists` and docs/security.md ("amqtt") for what it does not
cover.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtwin.twin.brokers.acl import AmqttAclLists, DeviceAcl, amqtt_acl_lists
from labtwin.twin.brokers.base import LoopbackBroker, check_port_free

from labtwin.errors import BrokerUnavailable

__all__ = ["AmqttBroker", "quiet_amqtt_logging"]

_AUTH_ANON = "amqtt.plugins.authentication.AnonymousAuthPlugin"
_AUTH_FILE = "amqtt.plugins.authentication.FileAuthPlugin"
# Resolved by amqtt's import_string() through this module's __getattr__ (amqtt is imported lazily).
_TOPIC_ACL = f"{__name__}.AmqttTopicAclPlugin"


@functools.cache
def _topic_acl_plugin_class() -> type[Any]:
    """amqtt's TopicAccessControlListPlugin, configurable from the ``plugins`` section.

    In amqtt 0.12.1 that plugin's ``Config`` dataclass only has ``publish_acl`` and
    the deprecated ``acl`` (a DeprecationWarning when set), so ``subscribe-acl`` and
    ``receive-acl`` cannot be given (amqtt builds the Config with dacite, strict).
    This subclass only declares all three; the matching is amqtt's own.
    """
    from amqtt.plugins.topic_checking import TopicAccessControlListPlugin

    class AmqttTopicAclPlugin(TopicAccessControlListPlugin):  # type: ignore[misc]
        @dataclass
        class Config:
            publish_acl: dict[str, list[str]] = field(default_factory=dict)
            subscribe_acl: dict[str, list[str]] = field(default_factory=dict)
            receive_acl: dict[str, list[str]] = field(default_factory=dict)

    AmqttTopicAclPlugin.__module__ = __name__
    AmqttTopicAclPlugin.__qualname__ = "AmqttTopicAclPlugin"
    return AmqttTopicAclPlugin


def __getattr__(name: str) -> Any:
    if name == "AmqttTopicAclPlugin":
        return _topic_acl_plugin_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


class _SnapshotList(list):  # type: ignore[type-arg]
    """A topic filter's subscriber list whose loops walk a copy.

    amqtt 0.12.1 delivers a message in a loop over this list with awaits inside; a client leaving
    meanwhile pops from it, which shifted the rest and skipped the next subscriber. Only the lists
    a loop actually walks get copied (a delivery walks those of the matching filters only).
    """

    def __iter__(self) -> Any:
        return iter(list.copy(self))


class _SnapshotDict(dict):  # type: ignore[type-arg]
    """Topic filter -> subscribers, whose loops walk a copy, so it may change while a loop awaits.

    amqtt 0.12.1 loops over its subscriptions with awaits inside the loops (when a client
    connects, when it delivers a message, when a client leaves); a client subscribing or leaving
    meanwhile made the loop raise "dictionary changed size during iteration", failing that
    client's connect or dropping that message. The subscriber lists
    amqtt stores become :class:`_SnapshotList`.
    """

    def __setitem__(self, topic_filter: str, subscribers: Any) -> None:
        if type(subscribers) is list:
            subscribers = _SnapshotList(subscribers)
        dict.__setitem__(self, topic_filter, subscribers)

    def __iter__(self) -> Any:
        return iter(list(dict.keys(self)))

    def keys(self) -> Any:
        return list(dict.keys(self))

    def values(self) -> Any:
        return list(dict.values(self))

    def items(self) -> Any:
        return list(dict.items(self))


@functools.cache
def _closing_broker_class() -> type[Any]:
    """amqtt's Broker, but every client connection's writer is closed once amqtt is done with it.

    amqtt 0.12.1 returns from some error paths (a client that closes before sending CONNECT,
    as a network twin does when it drops a link) without closing the writer, which leaks the
    socket until garbage collection (a ResourceWarning). Its subscriptions are a
    :class:`_SnapshotDict`. Built lazily: amqtt is a slow import.
    """
    from amqtt.broker import Broker

    class ClosingBroker(Broker):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.client_writers: set[asyncio.StreamWriter] = set()
            self._subscriptions = _SnapshotDict()  # its own: amqtt's loops over it may await

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

        async def cancel_background_tasks(self) -> None:
            """End the broadcast loop and the session monitor that a hung shutdown left running."""
            # amqtt's own way to end the broadcast loop, which also ends the broadcast it awaits.
            await self._shutdown_broadcast_loop()
            monitor = self._session_monitor_task
            if monitor is not None:
                monitor.cancel()
                await asyncio.wait([monitor], timeout=_SHUTDOWN_TIMEOUT_S)

    return ClosingBroker


class AmqttBroker(LoopbackBroker):
    """amqtt broker bound to ``host:port`` (0 = an ephemeral port), in this process.

    With ``users`` anonymous access is off and only those user/password pairs
    may connect (amqtt's FileAuthPlugin with argon2 hashes); otherwise anyone
    may connect. With ``acl`` (needs ``users``) each user may only publish and
    subscribe to the topics :func:`amqtt_acl_lists` derives from the
    :class:`DeviceAcl` for those users (amqtt's limits: docs/security.md).
    Must be started and stopped from the same running loop.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, users: Mapping[str, str] | None = None,
                 acl: DeviceAcl | None = None) -> None:
        super().__init__(host=host, port=port, users=users)
        if acl is not None and users is None:
            raise ValueError("an ACL needs users: anonymous clients have no user name to match")
        self.acl = acl
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
            if self.acl is not None:
                plugins[_TOPIC_ACL] = self.acl_lists().plugin_config()
        # No $SYS or packet-logger plugins: less noise and less work per packet.
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": plugins,
        }

    def acl_lists(self) -> AmqttAclLists:
        """The per-user topic lists the broker enforces (empty without ``acl``)."""
        if self.acl is None or self.users is None:
            return AmqttAclLists()
        return amqtt_acl_lists(self.acl, self.users)

    async def _start(self) -> None:
        from amqtt.errors import BrokerError, PluginError, PluginLoadError

        Broker = _closing_broker_class()

        quiet_amqtt_logging()
        if self.port:
            check_port_free(self.host, self.port)
        try:
            broker = Broker(self._config())
            await broker.start()
        except (BrokerError, PluginError, PluginLoadError, OSError, ValueError) as e:
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
                # Then reset every client, as a dying broker process would. amqtt's shutdown() could
                # hang when a packet reached a client handler just as it cancelled that handler's
                # reader (docs/faults.md); with every connection reset first none can, and the
                # clients see a crash: no wills (Mosquitto sends them on a clean shutdown).
                broker.abort_client_connections()
                try:
                    async with asyncio.timeout(_SHUTDOWN_TIMEOUT_S):
                        await broker.shutdown()
                except TimeoutError:
                    # Not seen since the reset above, kept as a bound: end its background loops, or
                    # they would outlive it.
                    await broker.cancel_background_tasks()
                    logger.warning("amqtt broker on port %s did not shut down within %g s; abandoned it "
                                   "and reset its client connections", self.port, _SHUTDOWN_TIMEOUT_S)
        finally:
            self._cleanup_tmp()

    def _cleanup_tmp(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
