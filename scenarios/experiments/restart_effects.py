"""Broker restarts in the middle of a stream of non-idempotent commands: lost and duplicated effects.

Every board runs firmware with one extra task, ``dispense``: a single pulse on a GPIO (a pump
dose, a valve shot), so repeating it is a second dose. Each board serves several dispensing
*slots*, one pin each; every slot sends its doses one after another while the broker is
stopped and started again. The doses are then counted where they physically happened: the
rising edges the board model recorded on each pin.

Attribution: a slot's calls never overlap, so a successful call's dose is a rising edge inside
its own call window. Every other edge may be the late dose of an earlier failed call (a failed
call may have dosed once, late, or not at all), each failed call owning at most one.

* lost = successful calls without an edge in their window, plus failed calls no spare edge
  can be given to;
* duplicated = spare edges left over once every failed call has had its one.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from labtwin.board_firmware import STOCK_FIRMWARE_DIR
from labtwin.errors import ConfigError, LabtwinError
from labtwin.orchestrator.protocol import DeviceStatus
from labtwin.scenarios.experiments.firmware_variant import firmware_with_tasks
from labtwin.scenarios.labs.twin_lab import TwinLab

__all__ = ["DISPENSE_MODULE", "DISPENSE_PINS", "CallRecord", "RestartEffectsReport", "run_restart_effects"]

DISPENSE_MODULE = {"dispense_tasks": '''
# One dose per call: a pulse on a GPIO. Not idempotent: a repeat is a second dose.
import asyncio

from machine import Pin

from task_registry import BadParameters, task


@task(params={"pin": int, "width_ms": int}, doc="Dispense one dose: a width_ms pulse on pin")
async def dispense(pin, width_ms):
    if width_ms < 1 or width_ms > 1000:
        raise BadParameters("width_ms must be 1-1000, got %d" % width_ms)
    valve = Pin(pin, Pin.OUT, value=0)
    valve.value(1)
    await asyncio.sleep_ms(width_ms)
    valve.value(0)
    return "dosed"
'''}
"""Firmware modules to add with :func:`labtwin.scenarios.experiments.firmware_variant.firmware_with_tasks`."""

DISPENSE_PINS = (2, 3, 4, 5, 6, 7, 8, 9)
"""GPIOs the slots dose on (free on the default bench wiring)."""


@dataclass(frozen=True)
class CallRecord:
    """One ``dispense`` call, timed on the lab clock."""

    device_id: str
    pin: int
    started: float
    ended: float
    outcome: str
    """``"ok"``, or the name of the error the orchestrator raised."""


@dataclass
class RestartEffectsReport:
    """Calls made, broker restarts done and the doses the board models counted."""

    broker: str
    calls: list[CallRecord] = field(default_factory=list)
    edges: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    """Rising-edge times per (device, pin), from the board models' traces."""
    restarts: int = 0
    outage_s: list[float] = field(default_factory=list)
    """How long each restart kept the broker down (stop to accepting again)."""
    duplicates_absorbed: int = 0
    """Repeated deliveries the firmware recognised by request_id and did not run again."""

    @property
    def failed(self) -> Counter[str]:
        """Failed calls by error name."""
        return Counter(c.outcome for c in self.calls if c.outcome != "ok")

    def _attribution(self) -> tuple[int, int]:
        lost = duplicated = 0
        for key, edges in self.edges.items():
            calls = [c for c in self.calls if (c.device_id, c.pin) == key]
            lost_here, duplicated_here = _attribute(calls, edges)
            lost += lost_here
            duplicated += duplicated_here
        return lost, duplicated

    @property
    def lost(self) -> int:
        """Calls whose dose never happened."""
        return self._attribution()[0]

    @property
    def silently_lost(self) -> int:
        """Successful calls whose dose never happened: a loss the caller could not know of."""
        lost = 0
        for key, edges in self.edges.items():
            ok = [c for c in self.calls if (c.device_id, c.pin) == key and c.outcome == "ok"]
            lost += sum(not any(c.started <= t <= c.ended for t in edges) for c in ok)
        return lost

    @property
    def duplicated(self) -> int:
        """Doses beyond one per call."""
        return self._attribution()[1]

    @property
    def doses(self) -> int:
        """Rising edges counted on all dispensing pins."""
        return sum(len(e) for e in self.edges.values())

    def summary_lines(self) -> list[str]:
        """Human-readable figures."""
        latencies = sorted(c.ended - c.started for c in self.calls if c.outcome == "ok")
        failed = ", ".join(f"{n} {name}" for name, n in sorted(self.failed.items())) or "none"
        lines = [
            f"broker {self.broker}: {self.restarts} restart(s), outage median "
            f"{statistics.median(self.outage_s) * 1000 if self.outage_s else 0:.0f} ms",
            f"  {len(self.calls)} dispense calls, failed: {failed}",
            f"  {self.doses} doses counted on the board models: lost {self.lost} "
            f"({self.silently_lost} of them by a call that succeeded), duplicated {self.duplicated}",
            f"  {self.duplicates_absorbed} repeated deliveries absorbed by the firmware's request_id dedup",
        ]
        if latencies:
            lines.append(f"  call latency: median {statistics.median(latencies) * 1000:.0f} ms, "
                         f"max {latencies[-1] * 1000:.0f} ms")
        return lines


async def run_restart_effects(
    work_dir: Path,
    *,
    broker: str = "amqtt",
    persistence: bool = False,
    boards: int = 2,
    slots: int = 2,
    restarts: int = 3,
    min_calls: int = 20,
    width_ms: int = 20,
    up_s: float = 1.0,
    down_s: float = 0.3,
    call_timeout: float = 30.0,
    settle_s: float = 2.0,
    report: Callable[[str], None] = print,
) -> RestartEffectsReport:
    """Stream doses on ``boards`` twin boards while the lab's ``broker`` restarts ``restarts`` times.

    ``persistence`` runs Mosquitto with its persistence database (retained messages and
    sessions saved at shutdown and loaded at start).

    Each board serves ``slots`` dispensing pins; each slot keeps calling until the restarts
    are done and it made ``min_calls`` calls. The broker stays up ``up_s`` between restarts
    and down ``down_s`` each time; for ``settle_s`` after the last call, late doses still count.
    The lab (firmware copy, broker files, board flash) lives in ``work_dir``.
    """
    if not 1 <= slots <= len(DISPENSE_PINS):
        raise ConfigError(f"slots must be 1-{len(DISPENSE_PINS)}, got {slots}")
    if boards < 1 or restarts < 0 or min_calls < 1:
        raise ConfigError("boards and min_calls must be at least 1, restarts at least 0")
    result = RestartEffectsReport(f"{broker} with persistence" if persistence else broker)

    def on_output(device_id: str, line: str) -> None:
        if "] duplicate " in line:  # device_service.py logs each repeat it does not run again
            result.duplicates_absorbed += 1

    firmware = firmware_with_tasks(STOCK_FIRMWARE_DIR, work_dir / "firmware", DISPENSE_MODULE)
    devices = [f"doser-{n:03d}" for n in range(1, boards + 1)]
    report(f"restart experiment on {result.broker}: {boards} board(s) x {slots} slot(s), {restarts} restart(s)")
    async with TwinLab(devices=devices, broker=broker, broker_persistence=persistence, firmware_dir=firmware,
                       work_dir=work_dir / "lab", timeout=call_timeout, on_output=on_output) as lab:
        await _stream_through_restarts(lab, result, slots=slots, restarts=restarts, min_calls=min_calls,
                                       width_ms=width_ms, up_s=up_s, down_s=down_s,
                                       call_timeout=call_timeout, report=report)
        await asyncio.sleep(settle_s)
        for device_id in lab.device_ids:
            trace = lab.board(device_id).model.trace
            for pin in DISPENSE_PINS[:slots]:
                result.edges[(device_id, pin)] = _rising_edges(trace.samples(f"pin.GPIO{pin}"))
    return result


async def _stream_through_restarts(
    lab: TwinLab, result: RestartEffectsReport, *, slots: int, restarts: int, min_calls: int, width_ms: int,
    up_s: float, down_s: float, call_timeout: float, report: Callable[[str], None],
) -> None:
    broker = lab.broker
    assert broker is not None  # the lab runs its own broker
    restarting_done = asyncio.Event()

    async def restart_broker() -> None:
        try:
            for n in range(restarts):
                await asyncio.sleep(up_s)
                stopped = lab.clock.now()
                await broker.stop()
                await asyncio.sleep(down_s)
                await broker.start()
                result.outage_s.append(lab.clock.now() - stopped)
                result.restarts += 1
                report(f"  restart {n + 1}/{restarts}: broker down {result.outage_s[-1] * 1000:.0f} ms, "
                       f"{len(result.calls)} calls so far")
        finally:
            restarting_done.set()

    async def slot(device_id: str, pin: int) -> None:
        client = lab.client(device_id)
        made = 0
        while made < min_calls or not restarting_done.is_set():
            started = lab.clock.now()
            try:
                await client.call("dispense", {"pin": pin, "width_ms": width_ms}, timeout=call_timeout)
                outcome = "ok"
            except LabtwinError as e:
                outcome = type(e).__name__
            result.calls.append(CallRecord(device_id, pin, started, lab.clock.now(), outcome))
            made += 1
            if isinstance(client.status, DeviceStatus) and not client.status.online:
                # What a lab script does: wait for the board to be back before the next dose.
                await client.wait_for_status("online", timeout=call_timeout)

    workers = [slot(d, DISPENSE_PINS[i]) for d in lab.device_ids for i in range(slots)]
    await asyncio.gather(restart_broker(), *workers)


def _attribute(calls: list[CallRecord], edges: list[float]) -> tuple[int, int]:
    """(lost, duplicated) for one slot's sequential calls and the rising edges on its pin."""
    windows = sorted((c.started, c.ended) for c in calls if c.outcome == "ok")
    credited = [False] * len(windows)
    spare = []  # edges that are not the one dose of a successful call's window
    for t in sorted(edges):
        i = bisect.bisect_right(windows, (t, math.inf)) - 1
        if i >= 0 and windows[i][0] <= t <= windows[i][1] and not credited[i]:
            credited[i] = True
        else:
            spare.append(t)
    # Each failed call may own one spare edge after its start; greedy in time order matches the most.
    failed_starts = sorted(c.started for c in calls if c.outcome != "ok")
    available = matched = duplicated = n = 0
    for t in spare:
        while n < len(failed_starts) and failed_starts[n] <= t:
            available += 1
            n += 1
        if available:
            available -= 1
            matched += 1
        else:
            duplicated += 1
    return credited.count(False) + len(failed_starts) - matched, duplicated


def _rising_edges(samples: list[tuple[float, float]]) -> list[float]:
    edges, level = [], 0.0
    for t, value in samples:
        if value and not level:
            edges.append(t)
        level = value
    return edges
