"""Broker restarts in a stream of non-idempotent doses: lost and duplicated doses per broker configuration.

Runs scenarios/experiments/restart_effects.py on the embedded amqtt and, when installed, on Mosquitto without
and with its persistence database, and prints one table (docs/reliability.md).

    python benchmarks/restart_effects.py [--boards 4] [--slots 4] [--restarts 10] [--min-calls 50]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from labtwin.scenarios.experiments.restart_effects import RestartEffectsReport, run_restart_effects
from labtwin.twin.brokers import mosquitto_available


async def measure(args: argparse.Namespace) -> list[RestartEffectsReport]:
    configurations = [("amqtt", False)]
    if mosquitto_available():
        configurations += [("mosquitto", False), ("mosquitto", True)]
    else:
        print("mosquitto is not installed: amqtt only")
    reports = []
    for broker, persistence in configurations:
        with tempfile.TemporaryDirectory(prefix="labtwin-restarts-") as work:
            report = await run_restart_effects(
                Path(work), broker=broker, persistence=persistence, boards=args.boards, slots=args.slots,
                restarts=args.restarts, min_calls=args.min_calls, report=print)
        for line in report.summary_lines():
            print(line)
        reports.append(report)
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=4)
    parser.add_argument("--slots", type=int, default=4, help="dispensing pins per board, each a sequential stream")
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--min-calls", type=int, default=50, help="calls per slot at least")
    args = parser.parse_args()
    reports = asyncio.run(measure(args))
    print()
    print(f"{'broker':<28} {'restarts':>8} {'calls':>6} {'failed':>6} {'doses':>6} {'lost':>5} {'dup':>4} "
          f"{'dedup':>6}")
    for r in reports:
        print(f"{r.broker:<28} {r.restarts:>8} {len(r.calls):>6} {sum(r.failed.values()):>6} {r.doses:>6} "
              f"{r.lost:>5} {r.duplicated:>4} {r.duplicates_absorbed:>6}")


if __name__ == "__main__":
    main()
