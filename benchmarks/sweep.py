"""Seed sweep benchmark (issue #18): seeds per hour per core, and the speed-up from 1 to 2 Dask workers.

The same seeds of one property scenario are swept on a local Dask cluster of each size in turn (1
worker, then 2; ``--workers`` changes the list), each seed as ``labtwin sweep`` runs it (a
``SeedTask``: its own twin labs and its own state directory, fresh for every cluster size so no
Hypothesis database carries a failure from one run to the next). A sweep's time is from its first
task submitted to its last result; starting the cluster is printed apart.

    python benchmarks/sweep.py [--scenario chaos] [--seeds 0:8] [--workers 1,2] [--examples N] [--steps N]
                               [--speed max]

Needs the sweep extra (``pip install 'labtwin[sweep]'``). Progress goes to stderr, figures to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from labtwin.cli.sweep_seed import SeedTask, find_property_scenario, scenario_budget
from labtwin.tools.sweep import SweepResult, dask_client, parse_seed_range, run_sweep


def progress(message: str) -> None:
    """One line per phase, timestamped, on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sweep_once(task: SeedTask, seeds: range, workers: int, name: str) -> tuple[SweepResult, float]:
    """One sweep on a fresh local cluster of ``workers``; its result and the cluster's start time."""
    started = time.perf_counter()
    with dask_client(workers=workers, dashboard=False) as client:
        up_s = time.perf_counter() - started
        progress(f"{workers} worker(s) up in {up_s:.1f} s; sweeping {len(seeds)} seeds")
        result = run_sweep(client, task, seeds, scenario=name,
                           on_result=lambda r: progress(f"  seed {r.seed}: {'ok' if r.passed else 'FAILED'} "
                                                        f"in {r.wall_s:.1f} s"))
    return result, up_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="chaos", help="a property scenario (default: chaos)")
    parser.add_argument("--seeds", default="0:8", help="the seeds A:B (default: 0:8)")
    parser.add_argument("--workers", default="1,2", help="cluster sizes, in order (default: 1,2)")
    parser.add_argument("--examples", type=int, default=None, help="examples per seed (default: the scenario's)")
    parser.add_argument("--steps", type=int, default=None, help="steps per example (default: the scenario's)")
    parser.add_argument("--speed", default="max", help="the labs' speed (default: max)")
    args = parser.parse_args()
    seeds = parse_seed_range(args.seeds)
    sizes = [int(size) for size in args.workers.split(",")]
    spec = find_property_scenario(args.scenario, None)
    budget = scenario_budget(spec, args.examples, args.steps, None)
    cores = len(os.sched_getaffinity(0))
    print(f"sweep benchmark: {spec.name}, seeds {args.seeds} ({len(seeds)}), up to {budget.examples} examples x "
          f"{budget.steps} steps each, --speed {args.speed}, on a machine with {cores} cores")
    walls: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="labtwin-sweep-bench-") as scratch:
        for workers in sizes:
            task = SeedTask(scenario=spec.name, lab=None, speed=args.speed, broker=None, examples=budget.examples,
                            steps=budget.steps, max_time=None, sweep_dir=Path(scratch) / f"workers-{workers}")
            result, up_s = sweep_once(task, seeds, workers, spec.name)
            walls[workers] = result.wall_s
            per_seed = sorted(r.wall_s for r in result.results)
            label = f"{workers} worker{'s' if workers > 1 else ''}"
            print(f"{label}: {len(result.results)} seeds in {result.wall_s:.1f} s, "
                  f"{result.seeds_per_hour_per_core:.0f} seeds per hour per core; {len(result.failed)} failed; "
                  f"median seed {per_seed[len(per_seed) // 2]:.1f} s; cluster start {up_s:.1f} s")
    if 1 in walls:
        for workers in sizes:
            if workers > 1:
                print(f"speed-up 1 -> {workers} workers: {walls[1] / walls[workers]:.2f}x (same seeds, wall time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
