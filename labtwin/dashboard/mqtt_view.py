"""What the lab's MQTT traffic says about its boards: the part of the dashboard every lab has.

A bench shows nothing else, so everything here comes from the wire as the orchestrator's user sees
it: each board's retained status (online, or offline from its last will), when it was last heard
from, since when a command to it has waited for its result, its firmware and catalogue, its free
heap from the last ``get_device_status`` result, the commands and their results paired by request id
with their latency, and the numbers in results as series (``read_sensor.voltage``) for live plots.

The firmware publishes its status when it connects and sends nothing while idle, so silence alone
says nothing: a board is *stale* when it is online by its status yet a command has waited longer
than the dashboard's ``stale_after`` for its result. A retained status handed over on subscribing
is old news: it sets the state but not ``last_seen``.

It is plain state fed one message at a time (:meth:`MqttView.receive`), so it is tested without a
broker; :class:`~labtwin.dashboard.live_lab.LiveLab` feeds it from aiomqtt.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from labtwin.errors import ProtocolError
from labtwin.orchestrator.protocol import DeviceStatus, Result

__all__ = ["BoardSeen", "MqttView", "TrafficEntry"]

_TRAFFIC_KEPT = 300
_SERIES_KEPT = 600
_SHORT = 160


@dataclass
class BoardSeen:
    """One board as the broker shows it."""

    device_id: str
    online: bool | None = None
    """From the retained status or the last will; None until a status has been seen."""
    last_seen: float | None = None
    """When the board last published anything (the dashboard's clock; a retained status does not count)."""
    waiting_since: float | None = None
    """When the oldest command still waiting for its result was sent (None: none waits)."""
    firmware: str | None = None
    board: str | None = None
    boot: str | None = None
    tasks: dict[str, Any] = field(default_factory=dict)
    free_memory: int | None = None
    """Free heap in bytes from the board's last ``get_device_status`` result."""
    errors: int = 0
    """Error results so far."""

    def as_json(self) -> dict[str, Any]:
        """The board for the page (its catalogue as task names only)."""
        return {"id": self.device_id, "online": self.online, "last_seen": self.last_seen,
                "waiting_since": self.waiting_since,
                "firmware": self.firmware, "board": self.board, "boot": self.boot,
                "tasks": sorted(self.tasks), "free_memory": self.free_memory, "errors": self.errors}


@dataclass
class TrafficEntry:
    """A command and, once it came, its result."""

    seq: int
    device_id: str
    task: str
    request_id: str
    parameters: dict[str, Any]
    sent: float | None
    """When the command was seen; None for a result whose command was not (sent before the dashboard started)."""
    answered: float | None = None
    ok: bool | None = None
    outcome: str = ""
    """The result (shortened JSON) or ``[code] message`` of an error."""

    @property
    def latency_ms(self) -> float | None:
        """From command to result, when both were seen."""
        if self.sent is None or self.answered is None:
            return None
        return round((self.answered - self.sent) * 1000, 1)

    def as_json(self) -> dict[str, Any]:
        """The entry for the page."""
        return {"seq": self.seq, "device": self.device_id, "task": self.task, "request_id": self.request_id,
                "parameters": self.parameters, "sent": self.sent, "answered": self.answered, "ok": self.ok,
                "outcome": self.outcome, "latency_ms": self.latency_ms}


class MqttView:
    """Boards, paired traffic and result series, from ``{prefix}/{device}/status|command|result`` messages."""

    def __init__(self, device_ids: list[str] | tuple[str, ...] = ()) -> None:
        self.boards: dict[str, BoardSeen] = {d: BoardSeen(d) for d in device_ids}
        self.traffic: deque[TrafficEntry] = deque(maxlen=_TRAFFIC_KEPT)
        self.series: dict[str, dict[str, deque[tuple[float, float]]]] = {}
        """Device id -> ``task.field`` -> ``(time, value)`` samples of numbers in ok results."""
        self.changed_traffic: dict[int, TrafficEntry] = {}
        """Entries added or answered since :meth:`take_changed_traffic` last ran."""
        self._pending: dict[str, TrafficEntry] = {}
        self._seq = itertools.count(1)

    def board(self, device_id: str) -> BoardSeen:
        """The board ``device_id``, added when the broker shows one the lab file did not list."""
        seen = self.boards.get(device_id)
        if seen is None:
            seen = self.boards[device_id] = BoardSeen(device_id)
        return seen

    def receive(self, topic: str, payload: bytes | str, now: float, *, retained: bool = False) -> None:
        """Take one message seen at ``now`` (``retained``: handed over on subscribing, not sent now); a
        message that breaks the protocol is shown as an error in the traffic, never raised."""
        parts = topic.split("/")
        if len(parts) < 3:
            return
        device_id, kind = parts[-2], parts[-1]
        try:
            if kind == "status":
                self._status(device_id, DeviceStatus.decode(payload), None if retained else now)
            elif kind == "command":
                self._command(device_id, payload, now)
            elif kind == "result":
                self._result(device_id, Result.decode(payload), now)
        except (ProtocolError, ValueError, TypeError) as e:
            entry = TrafficEntry(next(self._seq), device_id, f"({kind})", "", {}, now, now, False,
                                 f"not a valid {kind} message: {e}")
            self._add(entry)

    def take_changed_traffic(self) -> list[TrafficEntry]:
        """Traffic entries added or answered since the last call, oldest first."""
        changed = sorted(self.changed_traffic.values(), key=lambda entry: entry.seq)
        self.changed_traffic.clear()
        return changed

    # ------------------------------------------------------------------ messages
    def _status(self, device_id: str, status: DeviceStatus, now: float | None) -> None:
        board = self.board(device_id)
        board.online = status.online
        if now is not None:
            board.last_seen = now
        if not status.online:  # its last will: nothing it was asked will be answered by this boot
            board.waiting_since = None
        if status.online:
            board.firmware, board.board, board.boot = status.firmware, status.board, status.boot
            board.tasks = dict(status.tasks)

    def _command(self, device_id: str, payload: bytes | str, now: float) -> None:
        message = json.loads(payload)
        if not isinstance(message, dict) or not isinstance(message.get("task"), str):
            raise ValueError("a command names its task")
        parameters = message.get("parameters")
        entry = TrafficEntry(next(self._seq), device_id, message["task"], str(message.get("request_id", "")),
                             parameters if isinstance(parameters, dict) else {}, now)
        self._pending[entry.request_id] = entry
        self._add(entry)
        board = self.board(device_id)
        if board.waiting_since is None:
            board.waiting_since = now

    def _result(self, device_id: str, result: Result, now: float) -> None:
        board = self.board(device_id)
        board.last_seen = now
        entry = self._pending.pop(result.request_id, None)
        # A board answers in order: commands sent before this one that are still unanswered were lost.
        waiting = [e.sent for e in self._pending.values() if e.device_id == device_id and e.sent is not None
                   and (entry is None or e.seq > entry.seq)]
        board.waiting_since = min(waiting, default=None)
        if entry is None:  # its command came before the dashboard subscribed
            entry = TrafficEntry(next(self._seq), device_id, result.task, result.request_id, {}, None)
            self._add(entry)
        entry.answered, entry.ok = now, result.ok
        if result.ok:
            entry.outcome = _short(json.dumps(result.result))
            self._numbers(device_id, result.task, result.result, now)
            if result.task == "get_device_status" and isinstance(result.result, dict):
                free = result.result.get("free_memory")
                board.free_memory = free if isinstance(free, int) else board.free_memory
        else:
            board.errors += 1
            entry.outcome = f"[{result.error_code}] {result.error_message}"
        self.changed_traffic[entry.seq] = entry

    def _add(self, entry: TrafficEntry) -> None:
        self.traffic.append(entry)
        self.changed_traffic[entry.seq] = entry
        if len(self._pending) > _TRAFFIC_KEPT:  # commands never answered (a board that died) are forgotten
            oldest = min(self._pending.values(), key=lambda e: e.seq)
            del self._pending[oldest.request_id]

    def _numbers(self, device_id: str, task: str, value: object, now: float) -> None:
        fields = value.items() if isinstance(value, dict) else [("value", value)]
        for name, number in fields:
            if isinstance(number, bool):
                number = int(number)
            if isinstance(number, (int, float)) and math.isfinite(number):
                series = self.series.setdefault(device_id, {})
                samples = series.get(f"{task}.{name}")
                if samples is None:
                    samples = series[f"{task}.{name}"] = deque(maxlen=_SERIES_KEPT)
                samples.append((now, float(number)))


def _short(text: str) -> str:
    return text if len(text) <= _SHORT else text[:_SHORT - 3] + "..."
