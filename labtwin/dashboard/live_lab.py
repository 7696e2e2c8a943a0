"""The lab as the dashboard shows it, kept up to date: a snapshot for a new page, then frames of changes.

:class:`LiveLab` watches a running lab from the lab's own event loop:

- its MQTT traffic, as the orchestrator's user (every lab: this is all a bench shows);
- on a twin (``Capability.HARDWARE``), its board models, read where they are;
- its OT-2 task server's deck and run log, through the server's read-only tasks;
- on a twin (``Capability.FAULTS``), a fault control per kind and target from the lab's fault menu.

Every ``interval`` seconds it builds one frame (what changed since the previous one) and hands it
to every subscriber; a page that subscribes gets the whole state first. Times are the lab clock's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Self

from labtwin.dashboard.hardware_view import board_hardware, new_trace_samples
from labtwin.dashboard.mqtt_view import MqttView
from labtwin.errors import ConfigError, LabtwinError
from labtwin.scenarios.labs.fault_menu import BROKER_TARGET, fault_menu
from labtwin.scenarios.labs.lab import Capability, Lab, TwinHardware, twin_hardware
from labtwin.twin.faults.fault import Fault

__all__ = ["LiveLab"]

logger = logging.getLogger("labtwin.dashboard")

_KINDS = ("status", "command", "result")
_OT2_POLL_S = 2.0
_HISTORY = 600  # samples per plot a page gets when it opens a board
_RUN_LOG_SHOWN = 8
_SUBSCRIBER_BACKLOG = 64


class LiveLab:
    """A running lab's live state for the dashboard; an async context manager around its watchers.

    Args:
        lab: an entered lab (twin or bench).
        topic_prefix: the first topic segment of the lab's devices.
        interval: seconds between frames.
        stale_after: seconds a command to an online board may wait for its result before the board is
            shown as stale (online by its status, yet not answering).
    """

    def __init__(self, lab: Lab, *, topic_prefix: str, interval: float = 0.25, stale_after: float = 10.0) -> None:
        if interval <= 0:
            raise ConfigError(f"the dashboard's update interval must be positive, got {interval}")
        self.lab = lab
        self.topic_prefix = topic_prefix
        self.interval = interval
        self.stale_after = stale_after
        self.mqtt = MqttView(list(lab.device_ids))
        self.mqtt_connected = False
        self.faults: list[tuple[str, Fault]] = []
        """Every fault a control started, with its kind from the fault menu, oldest first."""
        self.ot2: dict[str, Any] | None = None
        self._twin: TwinHardware | None = (
            twin_hardware(lab) if Capability.HARDWARE in lab.capabilities else None)
        self._trace_sent: dict[str, dict[str, float]] = {}  # device -> signal -> newest sample time sent
        self._series_sent: dict[str, dict[str, float]] = {}  # the same for MQTT result series
        self._boards_sent: dict[str, dict[str, Any]] = {}
        self._faults_sent: list[dict[str, Any]] = []
        self._ot2_sent: dict[str, Any] | None = None
        self._subscribers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._fault_lock = asyncio.Lock()  # two clicks at once start one fault
        self._ot2_seen = 0  # the OT-2 run log's newest sequence number shown

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._follow_mqtt(), name="dashboard-mqtt"),
                       loop.create_task(self._tick(), name="dashboard-frames")]
        if self.lab.ot2_url is not None:
            self._tasks.append(loop.create_task(self._follow_ot2(), name="dashboard-ot2"))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for queue in self._subscribers:
            queue.put_nowait(None)  # the page's stream ends now, not at its next keep-alive
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    # ------------------------------------------------------------------ what the page reads
    @property
    def twin(self) -> bool:
        """Whether the lab's hardware can be looked into (a twin), rather than only its MQTT traffic."""
        return self._twin is not None

    def device_ids(self) -> list[str]:
        """The lab's boards, then any other board the broker shows under the lab's prefix."""
        listed = list(self.lab.device_ids)
        return listed + [device_id for device_id in self.mqtt.boards if device_id not in listed]

    def snapshot(self) -> dict[str, Any]:
        """The whole state but the plots' history (:meth:`series`): what a page shows when it opens."""
        now = self.lab.clock.now()
        return {
            "kind": "snapshot", "now": now, "description": self.lab.description, "twin": self.twin,
            "stale_after": self.stale_after, "mqtt_connected": self.mqtt_connected,
            "topic_prefix": self.topic_prefix,
            "boards": {device_id: self._board(device_id, now) for device_id in self.device_ids()},
            "traffic": [entry.as_json() for entry in self.mqtt.traffic],
            "faults": self._faults(),
            "fault_menu": self.fault_menu(),
            "ot2": self.ot2,
        }

    def series(self, device_id: str) -> dict[str, list[tuple[float, float]]]:
        """The history of one board's plots: its result series and, on a twin, its trace (newest 600 each).

        Raises:
            ConfigError: no such board.
        """
        if device_id not in self.device_ids():
            raise ConfigError(f"no board {device_id!r} in {self.lab.description}")
        series = {f"mqtt:{name}": list(samples) for name, samples in self.mqtt.series.get(device_id, {}).items()}
        if self._twin is not None and device_id in self.lab.device_ids:
            trace = self._twin.board(device_id).model.trace
            series.update({signal: trace.tail(signal, _HISTORY) for signal in trace.signals()})
        return series

    def frame(self) -> dict[str, Any]:
        """What changed since the previous frame (boards, new samples, traffic, faults, OT-2)."""
        now = self.lab.clock.now()
        boards = {}
        for device_id in self.device_ids():
            board = self._board(device_id, now)
            if board != self._boards_sent.get(device_id):
                boards[device_id] = self._boards_sent[device_id] = board
        series: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for device_id in self.device_ids():
            new = self._new_mqtt_samples(device_id)
            if self._twin is not None and device_id in self.lab.device_ids:
                sent = self._trace_sent.setdefault(device_id, {})
                new.update(new_trace_samples(self._twin.board(device_id).model, sent))
            if new:
                series[device_id] = new
        frame: dict[str, Any] = {"kind": "frame", "now": now, "mqtt_connected": self.mqtt_connected,
                                 "boards": boards, "series": series,
                                 "traffic": [entry.as_json() for entry in self.mqtt.take_changed_traffic()]}
        faults = self._faults()
        if faults != self._faults_sent:
            frame["faults"] = self._faults_sent = faults
        if self.ot2 != self._ot2_sent:
            frame["ot2"] = self._ot2_sent = self.ot2
        return frame

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[tuple[dict[str, Any], asyncio.Queue[dict[str, Any] | None]]]:
        """The snapshot now and a queue of the frames after it, until the block ends; None in the queue:
        the dashboard is closing.

        A subscriber that falls ``_SUBSCRIBER_BACKLOG`` frames behind (a page in a background tab) is
        sent a new snapshot instead of the frames it missed.
        """
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        snapshot = self.snapshot()
        self._subscribers.add(queue)
        try:
            yield snapshot, queue
        finally:
            self._subscribers.discard(queue)

    # ------------------------------------------------------------------ fault controls
    def fault_menu(self) -> dict[str, list[str]]:
        """Target -> the fault kinds a control can start there (empty on a lab that cannot be faulted)."""
        if Capability.FAULTS not in self.lab.capabilities:
            return {}
        lab = twin_hardware(self.lab, Capability.FAULTS)
        menu = {target: sorted(fault_menu(lab, target)) for target in self.lab.device_ids}
        broker = sorted(fault_menu(lab, BROKER_TARGET))
        return {**menu, BROKER_TARGET: broker} if broker else menu

    async def start_fault(self, target: str, kind: str) -> Fault:
        """Start a ``kind`` fault on ``target``, or return the one of that kind already active there.

        Raises:
            ConfigError: the lab cannot be faulted, or has no such target or kind.
        """
        async with self._fault_lock:
            return await self._start_fault(target, kind)

    async def _start_fault(self, target: str, kind: str) -> Fault:
        active = self._active(target, kind)
        if active is not None:
            return active
        lab = twin_hardware(self.lab, Capability.FAULTS)
        if target != BROKER_TARGET and target not in self.lab.device_ids:
            raise ConfigError(f"no fault target {target!r}; targets: {', '.join(self.fault_menu())}")
        makers = fault_menu(lab, target)
        if kind not in makers:
            raise ConfigError(f"no fault {kind!r} on {target}; it offers: {', '.join(sorted(makers)) or 'none'}")
        fault = makers[kind]()
        await fault.start()
        self.faults.append((kind, fault))
        logger.info("dashboard: started %s", fault.describe())
        return fault

    async def clear_fault(self, target: str, kind: str) -> bool:
        """Clear the active ``kind`` fault on ``target``; False when there was none."""
        async with self._fault_lock:
            fault = self._active(target, kind)
            if fault is None:
                return False
            await fault.clear()
        logger.info("dashboard: cleared %s", fault.describe())
        return True

    def _active(self, target: str, kind: str) -> Fault | None:
        return next((f for k, f in self.faults if f.target == target and k == kind and f.active), None)

    def _faults(self) -> list[dict[str, Any]]:
        return [{"target": f.target, "kind": kind, "active": f.active, "describe": f.describe(),
                 "windows": [list(w) for w in f.windows]} for kind, f in self.faults]

    # ------------------------------------------------------------------ building blocks
    def _board(self, device_id: str, now: float) -> dict[str, Any]:
        board = self.mqtt.board(device_id).as_json()
        if self._twin is not None and device_id in self.lab.device_ids:
            board["hardware"] = board_hardware(self._twin.board(device_id).model, now)
        return board

    def _new_mqtt_samples(self, device_id: str) -> dict[str, list[tuple[float, float]]]:
        sent = self._series_sent.setdefault(device_id, {})
        new: dict[str, list[tuple[float, float]]] = {}
        for name, samples in self.mqtt.series.get(device_id, {}).items():
            after = sent.get(name, float("-inf"))
            fresh = _samples_after(samples, after)
            if fresh:
                new[f"mqtt:{name}"] = fresh
                sent[name] = fresh[-1][0]
        return new

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                frame = self.frame()  # also with nobody to send it to: the change cursors move on
                for queue in list(self._subscribers):
                    if queue.qsize() >= _SUBSCRIBER_BACKLOG:
                        while not queue.empty():
                            queue.get_nowait()
                        queue.put_nowait(self.snapshot())
                    else:
                        queue.put_nowait(frame)
            except Exception:  # a page that stops updating without a word is what this is for
                logger.exception("dashboard: building a frame failed; the next one is tried in %g s", self.interval)

    async def _follow_mqtt(self) -> None:
        """Subscribe to every board's status, command and result; reconnect (1 s apart) when the broker goes."""
        import aiomqtt

        address = self.lab.broker_address
        if address is None:
            raise LabtwinError("the dashboard needs an entered lab (its broker address is not known yet)")
        topics = [(f"{self.topic_prefix}/+/{kind}", 1) for kind in _KINDS]
        while True:
            try:
                async with aiomqtt.Client(address.host, address.port, username=address.username,
                                          password=address.password, clean_session=True,
                                          identifier=f"labtwin-dashboard-{uuid.uuid4().hex[:8]}") as client:
                    await client.subscribe(topics)
                    self.mqtt_connected = True
                    async for message in client.messages:
                        payload = message.payload if isinstance(message.payload, (bytes, str)) else b""
                        self.mqtt.receive(message.topic.value, payload, self.lab.clock.now(), retained=message.retain)
            except aiomqtt.MqttError as e:
                logger.info("dashboard: MQTT broker %s:%s lost (%s); reconnecting", address.host, address.port, e)
            except Exception:
                logger.exception("dashboard: following the MQTT traffic failed; reconnecting")
            finally:
                self.mqtt_connected = False
            await asyncio.sleep(1.0)

    async def _follow_ot2(self) -> None:
        """The OT-2's deck and its newest run log entries, through its read-only tasks, every 2 s."""
        client = self.lab.ot2_client()
        shown: list[dict[str, Any]] = []
        while True:
            try:
                deck = await client.call("deck_state", timeout=10.0)
                # Only what is new since the last poll: the run log holds every robot command of every task.
                log = await client.call("run_log", {"since": self._ot2_seen}, timeout=10.0)
                new = [_run_entry(entry) for entry in log] if isinstance(log, list) else []
                shown = (shown + new)[-_RUN_LOG_SHOWN:]
                self._ot2_seen = max([self._ot2_seen, *(int(e.get("seq", 0)) for e in new)])
                self.ot2 = {"url": self.lab.ot2_url, "deck": deck, "run_log": shown, "error": None}
            except Exception as e:  # shown on the page; the next poll tries again
                self.ot2 = {**(self.ot2 or {"url": self.lab.ot2_url}), "error": str(e) or type(e).__name__}
            await asyncio.sleep(_OT2_POLL_S)


def _samples_after(samples: deque[tuple[float, float]], after: float) -> list[tuple[float, float]]:
    """The samples newer than ``after``, oldest first, found from the newest end."""
    newer: list[tuple[float, float]] = []
    for sample in reversed(samples):
        if sample[0] <= after:
            break
        newer.append(sample)
    newer.reverse()
    return newer


def _run_entry(entry: object) -> dict[str, Any]:
    """A run log entry without its robot commands (the page shows the task, outcome and timing)."""
    if not isinstance(entry, dict):
        return {"entry": str(entry), "seq": 0}
    return {key: value for key, value in entry.items() if key != "commands"}

