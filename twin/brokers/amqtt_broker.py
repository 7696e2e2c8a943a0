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

Everything that reaches into amqtt's internals (the patched ``Broker``, the
ACL plugin, the log filter) lives in :mod:`labtwin.twin.vendor_patches`,
behind its check of the installed amqtt version.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtwin.errors import BrokerUnavailable
from labtwin.twin import vendor_patches
from labtwin.twin.brokers.acl import AmqttAclLists, DeviceAcl, amqtt_acl_lists
from labtwin.twin.brokers.base import LoopbackBroker, check_port_free

__all__ = ["AmqttBroker", "quiet_amqtt_logging"]

_AUTH_ANON = "amqtt.plugins.authentication.AnonymousAuthPlugin"
_AUTH_FILE = "amqtt.plugins.authentication.FileAuthPlugin"


def quiet_amqtt_logging(level: int = logging.WARNING) -> None:
    """Raise amqtt's loggers to ``level`` unless the application set them itself.

    amqtt logs every connection and packet at INFO/DEBUG; a test run or a CLI
    wants warnings only. Levels already set explicitly are left alone. The warning
    amqtt 0.12.1 logs about its own QoS bug is dropped at every level.
    """
    for name in ("amqtt", "transitions"):  # transitions drives amqtt's state machines
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(level)
    vendor_patches.filter_known_amqtt_warnings()


def _argon2_line(user: str, password: str) -> str:
    # Cheap argon2id parameters on purpose: amqtt verifies the hash inside the
    # event loop on every CONNECT, and the defaults cost ~90 ms each. This
    # broker only ever listens on loopback with throwaway test credentials.
    from pwdlib.hashers.argon2 import Argon2Hasher

    return f"{user}:{Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1).hash(password)}\n"


_SHUTDOWN_TIMEOUT_S = 5.0
logger = logging.getLogger(__name__)


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
                plugins[vendor_patches.AMQTT_TOPIC_ACL_PLUGIN] = self.acl_lists().plugin_config()
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
        Broker = vendor_patches.amqtt_broker_class()  # first: it checks the amqtt version
        from amqtt.errors import BrokerError, PluginError, PluginLoadError

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
            self.port = broker.bound_port()
        # No TCP probe here: asyncio.start_server() has already called listen(),
        # and a probe that sends no CONNECT makes amqtt 0.12.1 log an error and
        # leak its side of the socket (a ResourceWarning later).

    async def _stop(self) -> None:
        broker, self._broker = self._broker, None
        try:
            if broker is not None:
                # Stop listening first: if amqtt's shutdown then hangs (below), the port is still
                # free for a restart on the same port (BrokerOutage clears that way).
                broker.close_listeners()
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
                    await broker.cancel_background_tasks(_SHUTDOWN_TIMEOUT_S)
                    logger.warning("amqtt broker on port %s did not shut down within %g s; abandoned it "
                                   "and reset its client connections", self.port, _SHUTDOWN_TIMEOUT_S)
        finally:
            self._cleanup_tmp()

    def _cleanup_tmp(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
