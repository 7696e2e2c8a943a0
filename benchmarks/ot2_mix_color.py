"""OT-2 benchmark: one mix_color through the twin's HTTP server vs the same code on opentrons.simulate.

  * direct: ColorMixingRobot.mix_color called in this process on an opentrons.simulate context
            (the app's own code, run log included and written to a file as the twin's is:
            exactly what the task runs)
  * http:   HTTPOrchestratorClient.execute_task("mix_color") -> the OT-2 twin (the app in its own
            process behind its DeviceServer) -> result
Each sample is one two-dye mix into the next well, as in the hybrid experiment: 60 µL red and
60 µL yellow, each with a fresh tip, then 3 mixes of 60 µL (17 robot commands). A tip rack lasts
48 mixes; between racks the deck is reset (fresh plate and tips, reservoirs refilled), outside the
timed calls. The two paths take turns mix by mix (each goes first on every other well), so other
load on the machine falls on both alike and the ratio compares like with like. Also printed: the
twin's start-up time (process start to accepting requests), the task's own time inside the twin (its
run log's wall_s) and, call by call, the HTTP overhead outside the task (client time minus that).

    python benchmarks/ot2_mix_color.py [--racks 4] [--mixes 48]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# None of these imports opentrons: open_protocol_context does, once main() has set OT_API_CONFIG_DIR.
from labtwin.orchestrator.http_client import HTTPOrchestratorClient
from labtwin.ot2_app.color_mixing import STARTING_FILL_UL, ColorMixingRobot
from labtwin.ot2_app.protocol_context import open_protocol_context
from labtwin.ot2_app.run_log import RunLog
from labtwin.twin.ot2.task_twin import Ot2TaskServer

MIXES_PER_RACK = 48  # two tips per mix
WELLS = [f"{row}{column}" for column in range(1, 13) for row in "ABCDEFGH"][:MIXES_PER_RACK]


def percentile(samples: list[float], q: float) -> float:
    """The q-quantile of samples (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(mix: Callable[..., Any], well: str) -> float:
    """Milliseconds one mix_color into ``well`` takes."""
    started = time.perf_counter()
    mix(red_ul=60.0, yellow_ul=60.0, blue_ul=0.0, well=well)
    return (time.perf_counter() - started) * 1000


def direct_robot(run_log_path: Path) -> ColorMixingRobot:
    """The app's robot on an opentrons.simulate context in this process, set up as the app's main() does."""
    context = open_protocol_context(simulate=True)
    run_log = RunLog(run_log_path)
    run_log.attach(context)
    return ColorMixingRobot(context, run_log)


class TwinInThread:
    """The OT-2 twin with its own event loop in a thread, so blocking clients can call it."""

    def __init__(self, work_dir: Path) -> None:
        self.twin = Ot2TaskServer(work_dir=work_dir)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Ot2TaskServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.twin.start(), self._loop).result(60)
        return self.twin

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self.twin.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def measure(work_dir: Path, racks: int, wells: list[str]) -> dict[str, Any]:
    """Both paths, mix by mix; the samples, the twin's task wall times and its start-up time."""
    samples: dict[str, list[float]] = {"direct": [], "http": []}
    refill = {"plate": True, "tips": True, "reservoir_ul": dict(STARTING_FILL_UL)}
    started = time.perf_counter()
    with TwinInThread(work_dir / "twin") as twin:
        start_up_s = time.perf_counter() - started
        assert twin.url is not None
        robot = direct_robot(work_dir / "direct-run-log.jsonl")
        with HTTPOrchestratorClient(twin.url, twin.auth_token, timeout=30.0) as client:
            mixes = {"direct": robot.mix_color,
                     "http": lambda **parameters: client.execute_task("mix_color", **parameters)}
            for _ in range(racks):
                robot.reset_deck(**refill)
                client.execute_task("reset_deck", **refill)
                for index, well in enumerate(wells):
                    for path in ("direct", "http") if index % 2 == 0 else ("http", "direct"):
                        samples[path].append(timed(mixes[path], well))
        task_ms = [entry["wall_s"] * 1000 for entry in twin.run_log() if entry["task"] == "mix_color"]
    return {**samples, "task": task_ms, "start_up_s": start_up_s}


def report(figures: dict[str, Any]) -> list[str]:
    """The printed figures."""
    direct, http, task = figures["direct"], figures["http"], figures["task"]
    if len(task) != len(http):
        raise RuntimeError(f"the twin's run log holds {len(task)} mix_color calls, the client made {len(http)}")
    outside = [client_ms - task_ms for client_ms, task_ms in zip(http, task, strict=True)]
    lines = [
        f"{len(direct)} mixes per path, alternating; OT-2 twin start-up (process start to accepting "
        f"requests): {figures['start_up_s']:.2f} s",
        "| path | mix_color median | p99 |",
        "|---|---|---|",
    ]
    for label, samples in (("direct on opentrons.simulate", direct), ("HTTP through the OT-2 twin", http),
                           ("the task inside the twin (its run log)", task)):
        lines.append(f"| {label} | {statistics.median(samples):.2f} ms | {percentile(samples, 0.99):.2f} ms |")
    ratio = statistics.median(http) / statistics.median(direct)
    lines.append(f"HTTP / direct (median): {ratio:.2f}x; HTTP overhead "
                 f"{statistics.median(http) - statistics.median(direct):.2f} ms")
    lines.append(f"HTTP overhead outside the task, call by call: median {statistics.median(outside):.2f} ms, "
                 f"p90 {percentile(outside, 0.9):.2f} ms")
    return lines


def main() -> None:
    """Run the benchmark the command line asks for."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--racks", type=int, default=4, help="tip racks per path (default: 4)")
    parser.add_argument("--mixes", type=int, default=MIXES_PER_RACK,
                        help=f"mixes per rack, 1-{MIXES_PER_RACK} (default: {MIXES_PER_RACK})")
    args = parser.parse_args()
    if args.racks < 1 or not 1 <= args.mixes <= MIXES_PER_RACK:
        parser.error(f"--racks must be at least 1 and --mixes 1-{MIXES_PER_RACK}")
    work_dir = Path(tempfile.mkdtemp(prefix="labtwin-bench-"))
    # opentrons writes settings files from its own exit handlers, after main() returns. atexit runs
    # handlers last-registered first, and this one is registered before opentrons is imported (the
    # direct path imports it), so the directory outlives them.
    atexit.register(shutil.rmtree, work_dir, ignore_errors=True)
    os.environ["OT_API_CONFIG_DIR"] = str(work_dir / "direct-config")  # this process's opentrons only
    (work_dir / "direct-config").mkdir()
    for line in report(measure(work_dir, args.racks, WELLS[:args.mixes])):
        print(line)


if __name__ == "__main__":
    main()
