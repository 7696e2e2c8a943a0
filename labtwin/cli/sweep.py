"""``labtwin sweep SCENARIO --seeds A:B``: a property scenario over many seeds, in parallel on Dask distributed.

Each seed is one ``labtwin run SCENARIO --seed N`` (``labtwin.cli.sweep_seed``) on a Dask worker, with
twin labs of its own; a local cluster of one worker process per core by default, or the scheduler
``--cluster`` names. The sweep prints its progress and each failure as it comes, then a summary, and
writes one report (JSON and Markdown) with every seed's outcome and each failure's minimal example and
replay command (docs/sweeps.md). Dask is imported only when a sweep starts: ``labtwin --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from labtwin import __version__
from labtwin.cli.run import _positive_int, _speed, _twin_options
from labtwin.cli.sweep_seed import SeedTask, find_property_scenario, run_arguments, scenario_budget
from labtwin.errors import ConfigError
from labtwin.scenarios.engine.discovery import split_scenario_reference
from labtwin.scenarios.engine.runner import DEFAULT_STATE_DIR, Budget
from labtwin.scenarios.labs.lab_file import load_lab_config
from labtwin.tools.sweep import SeedResult, SweepResult, dashboard_link, dask_client, parse_seed_range, run_sweep
from labtwin.tools.sweep_report import write_sweep_report
from labtwin.twin.lab_time.speed import Speed

__all__ = ["SweepProgress", "add_sweep_parser", "run_sweep_command"]

_PLAIN_EVERY_S = 10.0
_LIVE_EVERY_S = 0.25


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def add_sweep_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sweep`` to the labtwin command line."""
    sweep = commands.add_parser(
        "sweep", help="run a property scenario over a range of seeds, in parallel on Dask",
        description="Run SCENARIO once per seed (as `labtwin run SCENARIO --seed N`), each seed a Dask task with "
                    "twin labs of its own, on a local cluster or on --cluster; then one report. Needs "
                    "`pip install 'labtwin[sweep]'` (docs/sweeps.md). Exits 1 if a seed failed.")
    sweep.add_argument("scenario", help="a property scenario's name, or path/to/file.py::NAME")
    sweep.add_argument("--seeds", required=True, metavar="A:B", help="the seeds A to B-1 (0:1000 is a thousand)")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive_int, metavar="N",
                       help=f"worker processes of the local cluster (default: the cores, {_cores()} here)")
    where.add_argument("--cluster", metavar="ADDRESS",
                       help="a running Dask scheduler (tcp://HOST:8786, from `dask scheduler`) instead of a local "
                            "cluster; its workers need labtwin installed")
    sweep.add_argument("--lab", type=Path, metavar="LAB.toml", help="the twin of this lab file (its boards, firmware, "
                                                                     "parts and scenarios), whatever its mode")
    sweep.add_argument("--broker", default=None, choices=("amqtt", "mosquitto"),
                       help="each twin lab's broker: embedded amqtt (default) or a Mosquitto of its own (an "
                            "external broker would be shared by every seed)")
    sweep.add_argument("--speed", type=_speed, default=Speed.parse("max"), metavar="N|max",
                       help="how fast the twin labs' time runs (default: max, docs/time.md)")
    budget = sweep.add_argument_group("each seed's budget (default: the scenario's)")
    budget.add_argument("--examples", type=_positive_int, help="Hypothesis examples per seed")
    budget.add_argument("--steps", type=_positive_int, help="steps per example")
    budget.add_argument("--max-time", type=float, metavar="SECONDS",
                        help="stop starting new examples of a seed after this (its examples then run in chunks "
                             "seeded N, N+1, ...: docs/scenarios.md)")
    sweep.add_argument("--report-dir", type=Path, default=DEFAULT_STATE_DIR / "reports",
                       help="where the sweep's JSON and Markdown report go (default: .labtwin/reports)")
    sweep.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                       help="each seed's log and failure report go under STATE_DIR/sweeps "
                            "(default: .labtwin)")
    sweep.add_argument("--no-dashboard", action="store_true",
                       help="do not start the local cluster's Dask dashboard (it needs bokeh)")


class SweepProgress:
    """Seeds done, failures so far and seeds per second; each failure on a line of its own as it comes.

    On a terminal the count is one line rewritten in place (a few times a second at most); elsewhere
    (a CI log, a pipe) it is a plain line every ~10 s.
    """

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self._stream = stream if stream is not None else sys.stdout
        self._live = self._stream.isatty()
        self._started = time.perf_counter()
        self._shown_at = 0.0 if self._live else self._started
        self._width = 0

    def line(self) -> str:
        """``seeds 12/1000, 1 failed, 0.85 seeds/s [14 s]``."""
        elapsed = time.perf_counter() - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        return f"  seeds {self.done}/{self.total}, {self.failed} failed, {rate:.2f} seeds/s  [{elapsed:.0f} s]"

    def seed_done(self, result: SeedResult) -> None:
        """Count a finished seed; print it if it failed."""
        self.done += 1
        if not result.passed:
            self.failed += 1
            self.clear()
            what = "CRASHED" if result.crashed else "FAILED"
            print(f"  seed {result.seed} {what}: {result.failure}", file=self._stream)
            if result.replay_command:
                print(f"    replay: {result.replay_command}", file=self._stream)
            elif result.log:
                print(f"    log: {result.log}", file=self._stream)
        now = time.perf_counter()
        if now - self._shown_at >= (_LIVE_EVERY_S if self._live else _PLAIN_EVERY_S) or self.done == self.total:
            self._shown_at = now
            self._show(self.line())
        self._stream.flush()

    def _show(self, text: str) -> None:
        if self._live:
            self._stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            print(text, file=self._stream)

    def interrupted(self, finished: int) -> None:
        """Say that a Ctrl-C stops the sweep, and what happens next (cancelling can take a few seconds)."""
        self.clear()
        print(f"interrupted: {finished} of {self.total} seeds finished; cancelling the others, then the report "
              "(Ctrl-C again to quit at once, without it)", file=self._stream, flush=True)

    def clear(self) -> None:
        """Clear the live line (before anything else is printed)."""
        if self._live and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._width = 0


def _checked(args: argparse.Namespace) -> tuple[str, Path | None, str, Budget]:
    """The scenario reference and lab file with absolute paths (workers have other working directories),
    the scenario's name and each seed's budget; checked here, so a mistake is one line before any worker starts."""
    if args.lab is not None and not args.lab.is_file():
        raise ConfigError(f"--lab {args.lab}: no such file")
    lab = args.lab.resolve() if args.lab is not None else None
    config = load_lab_config(lab) if lab is not None else None
    reference = split_scenario_reference(args.scenario)
    scenario = args.scenario if reference is None else f"{reference[0].resolve()}::{reference[1]}"
    spec = find_property_scenario(scenario, config)
    budget = scenario_budget(spec, args.examples, args.steps, args.max_time)
    _twin_options(spec, run_arguments(scenario, lab, str(args.speed), args.broker, 0), config)  # checks the options
    return scenario, lab, spec.name, budget


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _writable_dir(path: Path, option: str) -> None:
    """Create ``path`` if need be; a ConfigError naming ``option`` if it cannot be made or written to."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{option} {path}: cannot create it ({e.strerror or e})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: not writable")


def _print_summary(result: SweepResult, reports: dict[str, Path]) -> None:
    ran = len(result.results)
    slowest = result.slowest
    print(f"sweep of {result.scenario!r}" + (f" INTERRUPTED after {ran} seeds" if result.interrupted else "")
          + f": {ran - len(result.failed)} passed, {len(result.failed)} failed of "
          f"{len(result.seeds)} seeds in {result.wall_s:.1f} s on {result.cluster} ({_plural(result.cores, 'core')}): "
          f"{result.seeds_per_hour_per_core:.0f} seeds per hour per core"
          + (f"; slowest seed {slowest.seed} ({slowest.wall_s:.1f} s)" if slowest is not None else ""))
    for kind, seeds in result.failure_groups():
        shortest = seeds[0]
        print(f"FAILED: {kind}: seed{'s' if len(seeds) > 1 else ''} {', '.join(str(r.seed) for r in seeds)}")
        for line in shortest.minimal_example:
            print(f"  {line}")
        if shortest.replay_command:
            print(f"  replay (seed {shortest.seed}): {shortest.replay_command}")
        elif shortest.log:
            print(f"  log (seed {shortest.seed}): {shortest.log}")
    print(f"report: {reports['markdown']}  {reports['json']}")


def run_sweep_command(args: argparse.Namespace) -> int:
    """``labtwin sweep``: returns the exit code (0 every seed passed, 1 one failed, 130 interrupted)."""
    seeds = parse_seed_range(args.seeds)
    if args.cluster is not None and not args.cluster.strip():
        raise ConfigError("--cluster: give the scheduler's address, e.g. tcp://HOST:8786")
    scenario, lab, name, budget = _checked(args)
    _writable_dir(args.report_dir, "--report-dir")  # here, not after the last seed
    if args.cluster is None:  # a scheduler's workers write theirs on their own machines
        _writable_dir(args.state_dir, "--state-dir")
    sweep_dir = (args.state_dir / "sweeps" / f"{name}-{seeds.start}-{seeds.stop}").resolve()
    task = SeedTask(scenario=scenario, lab=lab, speed=str(args.speed), broker=args.broker, examples=args.examples,
                    steps=args.steps, max_time=args.max_time, sweep_dir=sweep_dir)
    workers = args.workers or _cores()
    where = f"the scheduler at {args.cluster}" if args.cluster else f"a local cluster of {_plural(workers, 'worker')}"
    settings = {"speed": str(args.speed), "examples": budget.examples, "steps": budget.steps,
                "max_time": budget.max_time}
    print(f"labtwin {__version__}: sweep of {name!r}, seeds {seeds.start} to {seeds.stop - 1} ({len(seeds)}), up to "
          f"{budget.examples} examples x {budget.steps} steps each, --speed {args.speed}, on {where}", flush=True)
    with dask_client(workers=None if args.cluster else workers, address=args.cluster,
                     dashboard=not args.no_dashboard) as client:
        link = dashboard_link(client)
        if link is not None:
            print(f"  Dask dashboard: {link}", flush=True)
        elif not args.no_dashboard:
            print("  (no Dask dashboard: pip install bokeh to get one)", flush=True)
        progress = SweepProgress(len(seeds))
        result = run_sweep(client, task, seeds, scenario=name, on_result=progress.seed_done,
                           on_interrupt=progress.interrupted)
        progress.clear()
        result.settings = {key: value for key, value in settings.items() if value is not None}
        # Before the cluster closes (which takes a while): a second Ctrl-C then still leaves the report.
        reports = write_sweep_report(result, args.report_dir)
        _print_summary(result, reports)
    if result.interrupted:
        return 130
    return 0 if result.passed else 1
