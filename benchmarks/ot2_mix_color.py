"""OT-2 benchmark: one mix_color through the twin's HTTP server vs the same code on opentrons.simulate.

  * direct: ColorMixingRobot.mix_color called in this process on an opentrons.simulate context
            (the app's own code, run log included: exactly what the task runs)
  * http:   HTTPOrchestratorClient.execute_task("mix_color") -> the OT-2 twin (the app in its own
            process behind its DeviceServer) -> result
Each sample is one two-dye mix into the next well, as in the hybrid experiment: 60 µL red and
60 µL yellow, each with a fresh tip, then 3 mixes of 60 µL (17 robot commands). A tip rack lasts
48 mixes; the deck is reset between racks, outside the timed calls. Also prints the twin's
start-up time (process start to accepting requests).

    python benchmarks/ot2_mix_color.py [--racks 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labtwin.orchestrator.http_client import HTTPOrchestratorClient
from labtwin.twin.ot2.task_twin import Ot2TaskServer

MIXES_PER_RACK = 48  # two tips per mix
WELLS = [f"{row}{column}" for column in range(1, 13) for row in "ABCDEFGH"][:MIXES_PER_RACK]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_racks(mix: Callable[..., Any], reset: Callable[[], Any], racks: int) -> list[float]:
    """Milliseconds per mix_color, a tip rack's worth of mixes at a time."""
    samples = []
    for _ in range(racks):
        reset()
        for well in WELLS:
            started = time.perf_counter()
            mix(red_ul=60.0, yellow_ul=60.0, blue_ul=0.0, well=well)
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def direct_samples(config_dir: Path, racks: int) -> list[float]:
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["OT_API_CONFIG_DIR"] = str(config_dir)  # before opentrons is imported
    from labtwin.ot2_app.color_mixing import ColorMixingRobot
    from labtwin.ot2_app.protocol_context import open_protocol_context
    from labtwin.ot2_app.run_log import RunLog

    context = open_protocol_context(simulate=True)
    run_log = RunLog()
    run_log.attach(context)
    robot = ColorMixingRobot(context, run_log)
    return time_racks(robot.mix_color, lambda: robot.reset_deck(plate=True, tips=True), racks)


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


def http_samples(work_dir: Path, racks: int) -> tuple[list[float], float]:
    started = time.perf_counter()
    with TwinInThread(work_dir) as twin:
        start_up_s = time.perf_counter() - started
        assert twin.url is not None
        with HTTPOrchestratorClient(twin.url, twin.auth_token, timeout=30.0) as client:
            samples = time_racks(lambda **kw: client.execute_task("mix_color", **kw),
                                  lambda: client.execute_task("reset_deck", plate=True, tips=True), racks)
    return samples, start_up_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--racks", type=int, default=4, help="tip racks of 48 mixes per path (default: 4)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="labtwin-bench-") as tmp:
        http, start_up_s = http_samples(Path(tmp) / "twin", args.racks)
        direct = direct_samples(Path(tmp) / "direct-config", args.racks)
    print(f"{len(direct)} mixes per path; OT-2 twin start-up (process start to accepting requests): "
          f"{start_up_s:.2f} s")
    print("| path | mix_color median | p99 |")
    print("|---|---|---|")
    for label, samples in (("direct on opentrons.simulate", direct), ("HTTP through the OT-2 twin", http)):
        print(f"| {label} | {statistics.median(samples):.2f} ms | {percentile(samples, 0.99):.2f} ms |")
    ratio = statistics.median(http) / statistics.median(direct)
    print(f"HTTP / direct (median): {ratio:.2f}x; HTTP overhead {statistics.median(http) - statistics.median(direct):.2f} ms")


if __name__ == "__main__":
    main()
