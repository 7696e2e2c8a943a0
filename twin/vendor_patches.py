"""Every place labtwin reaches into another package's internals, each behind a version guard.

labtwin patches packages where their public API cannot do what the twin needs:

- amqtt (the embedded broker): subscriptions that survive changes while amqtt's loops await,
  client connections it closes and can reset, listeners it can close and ports it reports, an
  ACL plugin whose ``Config`` declares every list, and a filter for a warning about its own bug.
- opentrons (the robot API twin's engine): protocol delays at a chosen speed, engine commands
  that can be made to fail, and the door switch of the hardware simulator.
- paho-mqtt and aiomqtt (the orchestrator's MQTT client, on a lab loop): the keepalive on the
  loop's clock, and the clients' once-a-second housekeeping on whole seconds (an optimisation,
  applied only to the aiomqtt it was written for, :data:`AIOMQTT_WRITTEN_FOR`; any other runs
  without it, only slower at ``--speed max``).

Each patch was written against one exact version, the one pinned in ``pyproject.toml``
(:data:`WRITTEN_FOR`). Before a patch touches anything it checks the installed version and
raises :class:`~labtwin.errors.UnsupportedVendorVersion` (naming the package, the version found
and the version the patch was written for) on any other: a patch of private code is only known
to be right for the code it was read against.

Neither package is imported here at import time (opentrons alone takes about a second): each
patch imports what it needs when it is applied.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.metadata
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labtwin.errors import UnsupportedVendorVersion

__all__ = [
    "AMQTT_TOPIC_ACL_PLUGIN",
    "AIOMQTT_WRITTEN_FOR",
    "WRITTEN_FOR",
    "aiomqtt_housekeeping_on_whole_seconds",
    "amqtt_broker_class",
    "filter_known_amqtt_warnings",
    "install_delay_speedup",
    "installed_version",
    "intercept_engine_commands",
    "paho_reads_loop_time",
    "require",
    "switch_door",
]

WRITTEN_FOR: dict[str, str] = {"amqtt": "0.12.1", "opentrons": "9.0.0"}
"""Package -> the version every patch of it was written for (pinned exactly in pyproject.toml)."""


@functools.cache
def installed_version(package: str) -> str | None:
    """The installed version of ``package`` from its metadata (no import), or None if it is not installed."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def require(package: str, patch: str) -> None:
    """Refuse to apply ``patch`` unless ``package`` is installed at the version it was written for.

    Raises:
        UnsupportedVendorVersion: another version (or none) is installed.
    """
    written_for = WRITTEN_FOR[package]
    found = installed_version(package)
    if found != written_for:
        raise UnsupportedVendorVersion(package, found, written_for, patch)


# ================================================================= amqtt

AMQTT_TOPIC_ACL_PLUGIN = f"{__name__}.AmqttTopicAclPlugin"
"""Dotted path of :class:`AmqttTopicAclPlugin` for amqtt's ``plugins`` configuration.

amqtt resolves it with its ``import_string``, through this module's ``__getattr__``, so the
class (and amqtt) is only built when a broker loads the plugin.
"""


@functools.cache
def _topic_acl_plugin_class() -> type[Any]:
    from amqtt.plugins.topic_checking import TopicAccessControlListPlugin

    class AmqttTopicAclPlugin(TopicAccessControlListPlugin):  # type: ignore[misc]
        """amqtt's TopicAccessControlListPlugin, configurable from the ``plugins`` section.

        In amqtt 0.12.1 that plugin's ``Config`` dataclass only has ``publish_acl`` and the
        deprecated ``acl`` (a DeprecationWarning when set), so ``subscribe-acl`` and
        ``receive-acl`` cannot be given (amqtt builds the Config with dacite, strict). This
        subclass only declares all three; the matching is amqtt's own.
        """

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
        require("amqtt", "the topic ACL plugin's Config")
        return _topic_acl_plugin_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _KnownAmqttBugFilter(logging.Filter):
    """Drops the warning amqtt 0.12.1 logs about its own QoS bug.

    amqtt delivers at the subscription's QoS instead of min(publish, subscription) and does
    not track those upgraded deliveries, so a client's correct PUBACK for one is "unknown"
    to it. The client is right; the warning is noise (docs/brokers.md).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Received PUBACK for unknown pending message Id")


_KNOWN_BUG_FILTER = _KnownAmqttBugFilter()


def filter_known_amqtt_warnings() -> None:
    """Drop amqtt's warning about PUBACKs for its own QoS-upgraded deliveries (idempotent)."""
    require("amqtt", "the filter of its PUBACK warning")
    handler_logger = logging.getLogger("amqtt.mqtt.protocol.handler")
    if _KNOWN_BUG_FILTER not in handler_logger.filters:
        handler_logger.addFilter(_KNOWN_BUG_FILTER)


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


def amqtt_broker_class() -> type[Any]:
    """amqtt's ``Broker``, patched (see the class's docstring); built on first use (amqtt is a slow import).

    Raises:
        UnsupportedVendorVersion: the installed amqtt is not the one the patch was written for.
    """
    require("amqtt", "the Broker's subscriptions, client connections and listeners")
    return _patched_broker_class()


@functools.cache
def _patched_broker_class() -> type[Any]:
    from amqtt.broker import Broker

    class PatchedBroker(Broker):  # type: ignore[misc]
        """amqtt's Broker with safe subscription loops, closed client sockets and a way to die.

        - Its subscriptions are a :class:`_SnapshotDict` (one per broker), so they may change
          while amqtt's loops over them await.
        - Every client connection's writer is closed once amqtt is done with it: amqtt 0.12.1
          returns from some error paths (a client that closes before sending CONNECT, as a
          network twin does when it drops a link) without closing it, which leaks the socket
          until garbage collection (a ResourceWarning).
        - The runner may close the listeners, reset every client and end the background loops
          that a hung shutdown left running, and read the port an ephemeral listener got,
          without touching amqtt's private attributes itself.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.client_writers: set[asyncio.StreamWriter] = set()
            self._subscriptions = _SnapshotDict()

        async def stream_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                   listener_name: str) -> None:
            self.client_writers.add(writer)
            try:
                await super().stream_connected(reader, writer, listener_name)
            finally:
                self.client_writers.discard(writer)
                if not writer.is_closing():
                    writer.close()

        def bound_port(self, listener: str = "default") -> int:
            """The TCP port ``listener`` listens on (amqtt exposes no bound address otherwise)."""
            return int(self._servers[listener].instance.sockets[0].getsockname()[1])

        def close_listeners(self) -> None:
            """Stop accepting connections (clients already connected stay)."""
            for server in self._servers.values():
                if server.instance is not None:
                    server.instance.close()

        def abort_client_connections(self) -> None:
            """Reset every client connection now, as a dying broker process would."""
            for writer in list(self.client_writers):
                writer.transport.abort()

        async def cancel_background_tasks(self, timeout: float) -> None:
            """End the broadcast loop and the session monitor that a hung shutdown left running."""
            # amqtt's own way to end the broadcast loop, which also ends the broadcast it awaits.
            await self._shutdown_broadcast_loop()
            monitor = self._session_monitor_task
            if monitor is not None:
                monitor.cancel()
                await asyncio.wait([monitor], timeout=timeout)

    return PatchedBroker


# ================================================================= paho-mqtt


def paho_reads_loop_time() -> None:
    """Make paho's keepalive clock the running event loop's time, process-wide (idempotent).

    paho (under aiomqtt, the orchestrator's MQTT client) times its keepalive pings with its module
    global ``time_func``, ``time.monotonic``. On a lab loop the broker counts the keepalive in lab
    time, so paho must too, or at ``--speed 100`` the broker drops a client that pings every 30 real
    seconds. Called from a loop's thread, the new ``time_func`` returns ``loop.time()``, which is
    ``time.monotonic()`` on a plain loop; from any other thread, ``time.monotonic()``.

    Raises:
        UnsupportedVendorVersion: the installed paho has no ``time_func`` to replace.
    """
    client: Any = importlib.import_module("paho.mqtt.client")
    current = getattr(client, "time_func", None)
    if getattr(current, "labtwin_loop_time", False):
        return
    if not callable(current):
        raise UnsupportedVendorVersion("paho-mqtt", installed_version("paho-mqtt"), "2.2.0",
                                       "paho's keepalive clock, for lab time")

    def loop_time() -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()

    loop_time.labtwin_loop_time = True  # type: ignore[attr-defined]
    client.time_func = loop_time


# ================================================================= aiomqtt

AIOMQTT_WRITTEN_FOR = "2.5.1"
"""The aiomqtt whose housekeeping task :func:`aiomqtt_housekeeping_on_whole_seconds` replaces."""


def aiomqtt_housekeeping_on_whole_seconds() -> bool:
    """Run every aiomqtt client's once-a-second housekeeping on whole seconds of its loop's clock.

    aiomqtt keeps a task per client that calls paho's ``loop_misc`` (keepalive pings, the ping
    response timeout) and then sleeps one second, so each client ticks at its own phase of the
    second. At ``--speed max`` each phase is a jump of the lab clock and a turn of the host loop:
    ten orchestrator clients, ten turns a lab second. On whole seconds they share one, and
    ``loop_misc`` still runs once a second. Process-wide and idempotent.

    An optimisation, not a fix: applied only to aiomqtt :data:`AIOMQTT_WRITTEN_FOR` (whose task it
    was read against); any other aiomqtt is left alone and runs as before.

    Returns:
        Whether the housekeeping runs on whole seconds now.
    """
    if installed_version("aiomqtt") != AIOMQTT_WRITTEN_FOR:
        return False
    client: Any = importlib.import_module("aiomqtt.client")
    if getattr(client.Client._misc_loop, "labtwin_whole_seconds", False):
        return True
    paho: Any = importlib.import_module("paho.mqtt.client")

    async def misc_loop_on_whole_seconds(self: Any) -> None:
        loop = asyncio.get_running_loop()
        while self._client.loop_misc() == paho.MQTT_ERR_SUCCESS:
            await asyncio.sleep(1.0 - loop.time() % 1.0)

    misc_loop_on_whole_seconds.labtwin_whole_seconds = True  # type: ignore[attr-defined]
    client.Client._misc_loop = misc_loop_on_whole_seconds
    return True


# ================================================================= opentrons


def install_delay_speedup(speedup: float) -> None:
    """Make every engine built from now on in this process run protocol delays ``speedup`` times faster.

    opentrons' engine sleeps for a ``waitForDuration`` command in real time (or not at all when
    its ``ignore_pause`` is set, which also skips ``protocol.pause()``). The twin wants delays
    shortened and pauses kept, so the engine's queue worker gets a run-control handler whose
    delay divides by the speed-up. Process-wide: the robot API twin serves one robot per
    process. ``speedup == 1`` restores opentrons' own handler.

    Raises:
        UnsupportedVendorVersion: the installed opentrons is not the one the patch was written for.
    """
    require("opentrons", "the engine's run-control handler, for shortened delays")
    # The submodule, not the function of the same name that the package re-exports.
    create_queue_worker: Any = importlib.import_module("opentrons.protocol_engine.execution.create_queue_worker")
    run_control: Any = importlib.import_module("opentrons.protocol_engine.execution.run_control")

    original = run_control.RunControlHandler
    if speedup == 1:
        create_queue_worker.RunControlHandler = original
        return

    class SpedUpRunControl(original):  # type: ignore[misc, valid-type]
        """opentrons' run control, with delays divided by the twin's speed-up."""

        async def wait_for_duration(self, seconds: float) -> None:
            if not self._state_store.config.ignore_pause:
                await asyncio.sleep(seconds / speedup)

    create_queue_worker.RunControlHandler = SpedUpRunControl


# The command executor's handlers: everything a command does to the robot goes through them.
_ENGINE_HANDLERS = ("_equipment", "_movement", "_gantry_mover", "_labware_movement", "_pipetting",
                    "_tip_handler", "_run_control", "_rail_lights", "_status_bar", "_task_handler")


class _InterceptedHandler:
    """Stands in for one engine handler: calls ``before_call``, then delegates."""

    def __init__(self, handler: Any, before_call: Callable[[], None]) -> None:
        self._handler = handler
        self._before_call = before_call

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._handler, name)
        if not callable(attribute):
            return attribute
        before_call = self._before_call
        if inspect.iscoroutinefunction(attribute):
            @functools.wraps(attribute)
            async def call_async(*args: Any, **kwargs: Any) -> Any:
                before_call()
                return await attribute(*args, **kwargs)
            return call_async

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            before_call()
            return attribute(*args, **kwargs)
        return call


def intercept_engine_commands(engine: Any, *, on_command: Callable[[], None],
                              before_handler_call: Callable[[], None]) -> None:
    """Hook into ``engine`` (a ProtocolEngine whose queue worker has started) command by command.

    ``on_command`` runs as each command starts executing (the engine executes a run's commands
    one at a time, in the order the run lists them); ``before_handler_call`` runs before every
    call into the engine's handlers (equipment, movement, pipetting, tips, run control...), where
    an exception fails the command exactly as a hardware error would.

    Raises:
        UnsupportedVendorVersion: the installed opentrons is not the one the patch was written for.
    """
    require("opentrons", "the engine's command executor and its handlers, for command faults")
    executor = engine._queue_worker._command_executor
    for name in _ENGINE_HANDLERS:
        if hasattr(executor, name):
            setattr(executor, name, _InterceptedHandler(getattr(executor, name), before_handler_call))
    execute = executor.execute

    async def execute_intercepted(command_id: str) -> None:
        on_command()
        await execute(command_id)

    executor.execute = execute_intercepted


def switch_door(hardware: Any, is_open: bool) -> None:
    """Flip the door switch of opentrons' simulated hardware controller ``hardware``.

    Calls the controller's door-switch callback (private: the simulator has no door to open),
    which on a robot runs in the hardware thread; engines' door watchers block in it until their
    loop handled the event, so call it from a worker thread, never on that loop's thread.

    Raises:
        UnsupportedVendorVersion: the installed opentrons is not the one the patch was written for.
    """
    require("opentrons", "the hardware controller's door switch")
    from opentrons.hardware_control.types import DoorState

    hardware._update_door_state(DoorState.OPEN if is_open else DoorState.CLOSED)
