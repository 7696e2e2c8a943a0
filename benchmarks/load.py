"""Load benchmark: N simulated boards x T tasks each through one broker.

Starts a TwinLab with N boards (one MicroPython VM process each) on one broker, then every
board's orchestrator client runs its T tasks, all boards at once. A board's tasks alternate
get_device_status and read_sensor(sensor_pin=26) (the second goes through the board's hardware
bus to its ADC model) and run back to back, one at a time per board (``--pipeline K``: K in
flight per board); ``--interval S`` paces each board to one task start every S seconds instead
(at a random phase per board). Every result is checked (device_id, sensor pin and voltage).

Reported: lost calls (no result: timeout or error, by reason), wrong results, p50/p90/p99/max
latency, throughput, CPU seconds and % of one core over the task phase for the broker process
(the Mosquitto child; amqtt is embedded in the lab process), all VM processes together and the
lab process (orchestrator clients, hardware buses, board models, embedded amqtt), the whole
machine's CPU use, peak RSS totals, lab boot and shutdown times, and the load average.

    python benchmarks/load.py [--broker mosquitto|amqtt|both] [--boards 100] [--tasks 100]
    python benchmarks/load.py --find-max [--broker both] [--steps 100,200,400,700,1000]
    python benchmarks/load.py --find-max --broker mosquitto --workers 1,2   # the lab in 1, then 2 worker processes

``--workers N[,M...]`` boots the boards in N worker processes (``TwinLab(workers=N)``: the lab process
keeps the broker and the orchestrator clients); with several counts, each is measured in turn in the
same run, and find-max prints the ratio of the largest passing counts to the first.

``--find-max`` grows the board count step by step (paced load: 10 tasks per board, one per
second per board, unless --tasks/--interval say otherwise) until a step fails the criterion
printed with the results, and reports the largest passing count per broker.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psutil

from labtwin.errors import LabtwinError
from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.scenarios.labs.twin_lab_options import BENCH_SENSOR_VOLTS
from labtwin.twin.brokers import mosquitto_available

SENSOR_PIN = 26  # GP26: ADC channel 0 on the default bench
SENSOR_VOLTS = BENCH_SENSOR_VOLTS[0]
P99_LIMIT_MS = 1000.0
BOOT_BUDGET_S = 420.0
MEMORY_HEADROOM = 0.8  # a find-max step may plan to use this share of the available memory
RSS_SAMPLE_EVERY_S = 2.0
CRITERION = (f"a step passes if every board boots (lab up within {BOOT_BUDGET_S:g} s), no call is lost, "
             f"every result is right and p99 latency <= {P99_LIMIT_MS:g} ms")


def percentile(samples: list[float], q: float) -> float:
    """The q-quantile of samples (nearest rank); NaN without samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def progress(message: str) -> None:
    """One line per phase of long work, timestamped, on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_average() -> str:
    """The machine's 1/5/15-minute load average, for the record next to every figure."""
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


@dataclass
class Tally:
    """What the boards' tasks came back with."""

    latencies_ms: list[float] = field(default_factory=list)
    lost: Counter[str] = field(default_factory=Counter)
    lost_examples: dict[str, str] = field(default_factory=dict)
    wrong: int = 0
    wrong_example: str = ""

    def record_lost(self, error: BaseException) -> None:
        """Count a call that got no result, by exception type."""
        reason = type(error).__name__
        self.lost[reason] += 1
        self.lost_examples.setdefault(reason, str(error))

    def record_wrong(self, description: str) -> None:
        """Count a result that came back but is not what the board should have answered."""
        self.wrong += 1
        self.wrong_example = self.wrong_example or description


@dataclass
class Usage:
    """CPU seconds of a group of processes over the task phase, and its peak RSS."""

    cpu_s: float = 0.0
    peak_rss: int = 0


@dataclass
class LoadResult:
    """One load run: the workload, what came back, and what it cost."""

    broker: str
    boards: int
    tasks: int
    workers: int
    boot_s: float
    wall_s: float
    stop_s: float
    tally: Tally
    usage: dict[str, Usage]
    machine_cpu_percent: float
    memory_used: int  # USS of all the lab's processes after the tasks
    load_before: str
    load_after: str

    @property
    def completed(self) -> int:
        """Calls that returned a result (right or wrong)."""
        return len(self.tally.latencies_ms)

    @property
    def lost(self) -> int:
        """Calls that returned no result."""
        return sum(self.tally.lost.values())

    @property
    def cores_per_board(self) -> float:
        """CPU the lab's processes (broker, VMs, lab process, workers) spent per board, in cores."""
        return sum(usage.cpu_s for usage in self.usage.values()) / self.wall_s / self.boards

    def ceiling(self) -> int | None:
        """How many boards at this run's cost per board would fill every core of the machine at 100 %.

        An upper bound no lab layout reaches (latency grows long before the cores are full), and
        what any worker count is judged against: workers move work between processes, they do not
        remove it. None for a run too short for the CPU clock's ticks.
        """
        if self.cores_per_board <= 0:
            return None
        return int(round((psutil.cpu_count() or 1) / self.cores_per_board))

    def describe_ceiling(self, baseline: LoadResult | None = None) -> str:
        """ceiling() in words, and as a multiple of the boards `baseline` held, if given."""
        ceiling = self.ceiling()
        if ceiling is None:
            return "an unknown number of boards (too little CPU to measure in this run)"
        if baseline is None:
            return f"at most {ceiling} boards"
        return f"at most {ceiling} boards ({ceiling / baseline.boards:.2f}x the boards of {baseline.workers} worker(s))"

    def failures(self) -> list[str]:
        """Why this run fails the find-max criterion (empty if it passes)."""
        reasons = []
        if self.lost:
            reasons.append(f"{self.lost} lost")
        if self.tally.wrong:
            reasons.append(f"{self.tally.wrong} wrong results")
        p99 = percentile(self.tally.latencies_ms, 0.99)
        if not p99 <= P99_LIMIT_MS:
            reasons.append(f"p99 {p99:.0f} ms > {P99_LIMIT_MS:g} ms")
        return reasons


def check_result(device_id: str, task: str, result: Any) -> str | None:
    """What is wrong with a task's result, or None if it is what the board should answer."""
    if not isinstance(result, dict):
        return f"{device_id} {task}: not an object: {result!r}"
    if task == "get_device_status":
        ok = result.get("device_id") == device_id
    else:
        voltage = result.get("voltage")
        ok = (result.get("sensor_pin") == SENSOR_PIN and isinstance(voltage, float)
              and abs(voltage - SENSOR_VOLTS) < 0.1)
    return None if ok else f"{device_id} {task}: {result!r}"


async def run_task(lab: TwinLab, device_id: str, i: int, tally: Tally) -> None:
    """Run the board's i-th task and record its latency, or why it got no (right) result."""
    client = lab.client(device_id)
    task, params = ("get_device_status", {}) if i % 2 == 0 else ("read_sensor", {"sensor_pin": SENSOR_PIN})
    started = time.perf_counter()
    try:
        result = await client.call(task, params)
    except (LabtwinError, OSError) as e:
        tally.record_lost(e)
        return
    tally.latencies_ms.append((time.perf_counter() - started) * 1000)
    problem = check_result(device_id, task, result)
    if problem is not None:
        tally.record_wrong(problem)


async def drive_board(lab: TwinLab, device_id: str, tasks: int, pipeline: int, interval: float,
                      tally: Tally) -> None:
    """All of one board's tasks: `pipeline` sequential workers, or paced one per `interval` s."""
    if interval > 0:
        await asyncio.sleep(random.uniform(0, interval))
        start = time.perf_counter()
        pending = []
        for i in range(tasks):
            await asyncio.sleep(max(0.0, start + i * interval - time.perf_counter()))
            pending.append(asyncio.create_task(run_task(lab, device_id, i, tally)))
        await asyncio.gather(*pending)
        return

    async def worker(first: int) -> None:
        for i in range(first, tasks, pipeline):
            await run_task(lab, device_id, i, tally)

    await asyncio.gather(*(worker(first) for first in range(pipeline)))


class ProcessGroups:
    """The lab's processes by role: broker (Mosquitto child, if any), VMs, and this lab process."""

    def __init__(self, lab: TwinLab) -> None:
        me = psutil.Process()
        workers = [psutil.Process(pid) for pid in lab.worker_pids]
        vms = ([vm for worker in workers for vm in worker.children()] if workers else
               [psutil.Process(pid) for d in lab.device_ids if (pid := lab.board(d).pid) is not None])
        self.groups: dict[str, list[psutil.Process]] = {
            "broker": [p for p in me.children() if p.name() == "mosquitto"],
            "vms": vms,
            "lab": [me],
            "workers": workers,
        }
        self.usage = {name: Usage() for name in self.groups}

    @staticmethod
    def _total(processes: list[psutil.Process], read: Callable[[psutil.Process], float]) -> float:
        total = 0.0
        for process in processes:
            try:
                total += read(process)
            except psutil.NoSuchProcess:
                pass
        return total

    def cpu_seconds(self) -> dict[str, float]:
        """User + system CPU seconds so far, per group."""
        def busy(process: psutil.Process) -> float:
            times = process.cpu_times()
            return float(times.user + times.system)

        return {name: self._total(processes, busy) for name, processes in self.groups.items()}

    def sample_rss(self) -> None:
        """Update each group's peak total RSS."""
        for name, processes in self.groups.items():
            rss = int(self._total(processes, lambda p: float(p.memory_info().rss)))
            self.usage[name].peak_rss = max(self.usage[name].peak_rss, rss)

    def unique_memory(self) -> int:
        """Memory the processes hold on their own (USS: no shared library or file pages), summed."""
        return int(sum(self._total(processes, lambda p: float(p.memory_full_info().uss))
                       for processes in self.groups.values()))

    @contextmanager
    def measuring(self) -> Iterator[None]:
        """CPU seconds per group over the body (and the RSS it started with)."""
        self.sample_rss()
        before = self.cpu_seconds()
        yield
        after = self.cpu_seconds()
        self.sample_rss()
        for name in self.groups:
            self.usage[name].cpu_s = after[name] - before[name]


async def sample_rss_forever(groups: ProcessGroups) -> None:
    """Track peak RSS while the tasks run (every RSS_SAMPLE_EVERY_S s)."""
    while True:
        await asyncio.sleep(RSS_SAMPLE_EVERY_S)
        groups.sample_rss()


async def drive_all(lab: TwinLab, tasks: int, pipeline: int, interval: float) -> tuple[Tally, float, ProcessGroups]:
    """Every board's tasks at once; the tally, the wall time and the measured process groups."""
    tally = Tally()
    groups = ProcessGroups(lab)
    sampler = asyncio.create_task(sample_rss_forever(groups))
    psutil.cpu_percent()  # starts the machine-wide measurement
    try:
        with groups.measuring():
            started = time.perf_counter()
            await asyncio.gather(*(drive_board(lab, d, tasks, pipeline, interval, tally) for d in lab.device_ids))
            wall = time.perf_counter() - started
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
    return tally, wall, groups


async def run_load(broker: str, boards: int, tasks: int, *, pipeline: int = 1, interval: float = 0.0,
                   boot_concurrency: int = 16, timeout: float = 10.0, workers: int = 1) -> LoadResult:
    """Boot a lab of `boards` boards on `broker`, run the load, stop the lab; raise if it does not boot."""
    load_before = load_average()
    devices = [f"load-{i:04d}" for i in range(boards)]
    lab = TwinLab(devices=devices, broker=broker, timeout=timeout, boot_concurrency=boot_concurrency,
                  workers=workers)
    progress(f"{broker}: booting {boards} boards" + (f" in {workers} workers" if workers > 1 else "")
             + f" (load {load_before})")
    started = time.perf_counter()
    async with asyncio.timeout(BOOT_BUDGET_S):
        await lab.__aenter__()
    try:
        boot = time.perf_counter() - started
        progress(f"{broker}: {boards} boards online in {boot:.1f} s; running {tasks} tasks each")
        tally, wall, groups = await drive_all(lab, tasks, pipeline, interval)
        machine_cpu = psutil.cpu_percent()
        load_after = load_average()
        memory_used = groups.unique_memory()
        progress(f"{broker}: tasks done in {wall:.1f} s; stopping the lab")
    finally:
        stopping = time.perf_counter()
        await lab.__aexit__(None, None, None)
    stop = time.perf_counter() - stopping
    return LoadResult(broker, boards, tasks, workers, boot, wall, stop, tally, groups.usage, machine_cpu,
                      memory_used,
                      load_before, load_after)


def describe(result: LoadResult) -> list[str]:
    """The figures of one run, one per line."""
    lat, tally, wall = result.tally.latencies_ms, result.tally, result.wall_s
    total = result.boards * result.tasks
    lines = [
        (f"## {result.broker}: {result.boards} boards x {result.tasks} tasks"
         + (f" in {result.workers} worker processes " if result.workers > 1 else " ")
         + f"(load average {result.load_before} before, {result.load_after} after)"),
        f"lost: {result.lost} of {total}" + "".join(
            f"\n  {reason}: {n} (e.g. {tally.lost_examples[reason]})" for reason, n in tally.lost.items()),
        f"wrong results: {tally.wrong}" + (f" (e.g. {tally.wrong_example})" if tally.wrong else ""),
        (f"latency ms: p50 {percentile(lat, 0.5):.1f}  p90 {percentile(lat, 0.9):.1f}  "
         f"p99 {percentile(lat, 0.99):.1f}  max {max(lat, default=float('nan')):.1f}"),
        f"throughput: {result.completed / wall:.0f} tasks/s over {wall:.1f} s",
        f"boot: {result.boot_s:.1f} s   stop: {result.stop_s:.1f} s",
    ]
    for name, label in (("broker", "broker (Mosquitto)"), ("vms", "all VMs"), ("lab", "lab process"),
                        ("workers", "lab workers")):
        usage = result.usage[name]
        if name == "workers" and result.workers == 1:
            continue
        if name == "broker" and result.broker != "mosquitto":
            lines.append("CPU broker: embedded in the lab process")
            continue
        lines.append(f"CPU {label}: {usage.cpu_s:.1f} s = {usage.cpu_s / wall * 100:.0f}% of a core; "
                     f"peak RSS {usage.peak_rss / 2**20:.0f} MiB")
    lines.append(f"memory held (USS, all processes): {result.memory_used / 2**20:.0f} MiB "
                 f"({result.memory_used / result.boards / 2**20:.1f} MiB per board)")
    lines.append(f"CPU whole machine: {result.machine_cpu_percent:.0f}% of {psutil.cpu_count()} cores")
    lines.append(f"CPU per board (all the lab's processes): {result.cores_per_board * 1000:.2f} ms per second; "
                 f"every core at 100 % would hold {result.describe_ceiling()} at that cost")
    return lines


async def measure(brokers: list[str], boards: int, tasks: int, pipeline: int, interval: float,
                  boot_concurrency: int, workers: list[int]) -> None:
    """One load run per broker and worker count, with its figures."""
    for broker in brokers:
        for count in workers:
            result = await run_load(broker, boards, tasks, pipeline=pipeline, interval=interval,
                                    boot_concurrency=boot_concurrency, workers=count)
            print("\n".join(describe(result)) + "\n", flush=True)


def memory_allows(boards: int, last: LoadResult | None) -> bool:
    """Whether `boards` boards fit in the available memory, extrapolated from the last step."""
    if last is None:
        return True
    per_board = last.memory_used / last.boards
    return boards * per_board <= psutil.virtual_memory().available * MEMORY_HEADROOM


async def find_max(broker: str, steps: list[int], tasks: int, interval: float, boot_concurrency: int,
                   workers: int = 1) -> LoadResult | None:
    """The run of the largest step that passes CRITERION on `broker` (None if none); stops at the first failing step."""
    best: LoadResult | None = None
    last: LoadResult | None = None
    label = broker if workers == 1 else f"{broker}, {workers} workers"
    for boards in steps:
        if not memory_allows(boards, last):
            print(f"| {label} | {boards} | not run: would not fit in memory | | | |", flush=True)
            break
        try:
            last = await run_load(broker, boards, tasks, interval=interval, boot_concurrency=boot_concurrency,
                                  workers=workers)
        except (LabtwinError, TimeoutError, OSError) as e:
            reason = f"boot over {BOOT_BUDGET_S:g} s" if isinstance(e, TimeoutError) else f"boot failed: {e}"
            print(f"| {label} | {boards} | FAIL: {reason.splitlines()[0]} | | | {load_average()} |", flush=True)
            break
        failures = last.failures()
        lat = last.tally.latencies_ms
        cpu = ", ".join(f"{name} {u.cpu_s / last.wall_s * 100:.0f}%" for name, u in last.usage.items()
                        if (name != "broker" or broker == "mosquitto") and (name != "workers" or workers > 1))
        verdict = "FAIL: " + "; ".join(failures) if failures else "pass"
        print(f"| {label} | {boards} | {verdict} | boot {last.boot_s:.0f} s, p50 {percentile(lat, 0.5):.0f} ms, "
              f"p99 {percentile(lat, 0.99):.0f} ms | {cpu}, machine {last.machine_cpu_percent:.0f}% | "
              f"{last.load_before} |", flush=True)
        if failures:
            break
        best = last
    return best


async def find_max_all(brokers: list[str], steps: list[int], tasks: int, interval: float,
                       boot_concurrency: int, workers: list[int]) -> None:
    """find_max per broker and worker count, then the largest passing count of each (and the ratios)."""
    print(f"criterion: {CRITERION}; {tasks} tasks per board, "
          + (f"one every {interval:g} s" if interval > 0 else "back to back") + "\n")
    print("| broker | boards | verdict | latency | CPU (% of a core) | load before |")
    print("|---|---|---|---|---|---|", flush=True)
    lines = []
    for broker in brokers:
        best = {count: await find_max(broker, steps, tasks, interval, boot_concurrency, count) for count in workers}
        first = best[workers[0]]
        for count, run in best.items():
            label = broker + (f" in {count} workers" if count > 1 else "")
            if run is None:
                lines.append(f"{label}: no step passed")
                continue
            lines.append(f"{label}: holds {run.boards} boards (largest passing step)")
            if count != workers[0] and first is not None:
                lines.append(f"{label}: {run.boards / first.boards:.2f}x the boards of {workers[0]} worker(s)")
            baseline = first if count != workers[0] else None
            lines.append(f"{label}: at its cost per board there, every core at 100 % would hold "
                         f"{run.describe_ceiling(baseline)}")
    print("\n" + "\n".join(lines))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line; find-max defaults (10 tasks, 1 s apart) apply unless --tasks/--interval say otherwise."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", choices=["amqtt", "mosquitto", "both"], default="both")
    parser.add_argument("--boards", type=int, default=100, help="boards (default 100)")
    parser.add_argument("--tasks", type=int, help="tasks per board (default 100; 10 with --find-max)")
    parser.add_argument("--pipeline", type=int, default=1, help="tasks in flight per board (default 1)")
    parser.add_argument("--interval", type=float,
                        help="seconds between a board's task starts (default 0: back to back; 1 with --find-max)")
    parser.add_argument("--boot-concurrency", type=int, default=16,
                        help="boards booting at once (default 16)")
    parser.add_argument("--find-max", action="store_true", help="grow the board count until a step fails")
    parser.add_argument("--steps", default="100,200,400,700,1000", help="board counts for --find-max")
    parser.add_argument("--workers", default="1", help="worker processes for the boards, e.g. 1,2 (default 1: the "
                                                       "boards in the lab process)")
    args = parser.parse_args(argv)
    if args.tasks is None:
        args.tasks = 10 if args.find_max else 100
    if args.interval is None:
        args.interval = 1.0 if args.find_max else 0.0
    try:
        args.steps = [int(step) for step in args.steps.split(",")]
        args.workers = [int(count) for count in args.workers.split(",")]
    except ValueError:
        parser.error(f"--steps and --workers must be comma-separated counts, got {args.steps!r}, {args.workers!r}")
    if min([args.boards, args.tasks, args.pipeline, args.boot_concurrency, *args.steps, *args.workers]) < 1:
        parser.error("--boards, --tasks, --pipeline, --boot-concurrency, --steps and --workers must be at least 1")
    if args.broker in ("mosquitto", "both") and not mosquitto_available():
        if args.broker == "mosquitto":
            parser.error("mosquitto is not installed (Debian: apt install mosquitto)")
        progress("mosquitto is not installed: amqtt only")
    return args


def main() -> None:
    """Run the benchmark the command line asks for."""
    args = parse_args()
    logging.getLogger("amqtt").setLevel(logging.ERROR)  # its shutdown warnings are not load figures
    brokers = ["mosquitto", "amqtt"] if args.broker == "both" else [args.broker]
    brokers = [b for b in brokers if b != "mosquitto" or mosquitto_available()]
    try:
        if args.find_max:
            asyncio.run(find_max_all(brokers, args.steps, args.tasks, args.interval, args.boot_concurrency,
                                     args.workers))
        else:
            asyncio.run(measure(brokers, args.boards, args.tasks, args.pipeline, args.interval,
                                args.boot_concurrency, args.workers))
    except (LabtwinError, TimeoutError) as e:
        sys.exit(f"load: {e}")


if __name__ == "__main__":
    main()
