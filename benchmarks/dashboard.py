"""Dashboard benchmark: is the live page responsive with many boards? (issue #17: figures in docs/dashboard.md)

Starts a twin lab of ``--boards`` Pico W twins (Mosquitto when installed, else amqtt) with its
dashboard, opens the page in headless Chromium (Debian's ``chromium``), and drives traffic: every
board is asked ``--rate`` tasks a second (an LED switch or a sensor read, alternately) for
``--seconds``. It prints:

- the page's update rate (frames the page received and drew per second; the server sends 4),
- the page's draw time per frame (median and max, ms, measured in the page),
- the browser's CPU (all Chromium processes, % of one core over the measurement),
- the server's cost of building a frame (median ms) and the frame's size on the wire,
- the task calls made and answered.

    python benchmarks/dashboard.py [--boards 100] [--seconds 20] [--rate 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from labtwin.dashboard.live_lab import LiveLab
from labtwin.dashboard.server import DashboardServer
from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.twin.brokers import mosquitto_available

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class _TimedLiveLab(LiveLab):
    """LiveLab that records how long each frame took to build and how big it was."""

    build_ms: list[float]
    frame_bytes: list[int]

    def frame(self) -> dict[str, Any]:
        started = time.perf_counter()
        frame = super().frame()
        self.build_ms.append((time.perf_counter() - started) * 1000)
        self.frame_bytes.append(len(json.dumps(frame, separators=(",", ":"))))
        return frame


async def _drive(lab: TwinLab, rate: float, seconds: float) -> tuple[int, int]:
    """Every board gets ``rate`` calls a second for ``seconds``; returns (calls made, calls answered ok)."""
    made = answered = 0
    deadline = time.monotonic() + seconds

    async def board(device_id: str, offset: float) -> None:
        nonlocal made, answered
        await asyncio.sleep(offset)
        state = False
        while time.monotonic() < deadline:
            state = not state
            task, parameters = (("control_led", {"pin": "LED", "state": state}) if state
                                else ("read_sensor", {"sensor_pin": 26}))
            made += 1
            try:
                await lab.client(device_id).call(task, parameters, timeout=10.0)
                answered += 1
            except Exception:
                pass
            await asyncio.sleep(1 / rate)

    await asyncio.gather(*(board(d, i / len(lab.device_ids) / rate) for i, d in enumerate(lab.device_ids)))
    return made, answered


def _browser_cpu_seconds(root: psutil.Process) -> float:
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


async def main(boards: int, seconds: float, rate: float) -> int:
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        print("dashboard: no chromium executable (apt-get install chromium)", file=sys.stderr)
        return 1
    broker = "mosquitto" if mosquitto_available() else "amqtt"
    devices = [f"pico-{i:03d}" for i in range(boards)]
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        async with TwinLab(devices=devices, broker=broker, work_dir=Path(work), timeout=10.0) as lab:
            print(f"lab: {boards} boards on {broker} up in {time.perf_counter() - started:.1f} s", flush=True)
            live = _TimedLiveLab(lab, topic_prefix=lab.topic_prefix)
            live.build_ms, live.frame_bytes = [], []
            async with DashboardServer(live) as server, async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                try:
                    page = await browser.new_page(viewport={"width": 1600, "height": 1000})
                    assert server.url is not None
                    await page.goto(server.url)
                    await page.wait_for_function("window.labtwinStats.snapshots > 0")
                    await page.click(f'.board[data-board="{devices[0]}"]')  # its plots drawn too, as a user would
                    browser_root = _chromium_root()
                    frames_before = await page.evaluate("window.labtwinStats.frames")
                    cpu_before, wall_before = _browser_cpu_seconds(browser_root), time.monotonic()
                    live.build_ms.clear()
                    live.frame_bytes.clear()
                    made, answered = await _drive(lab, rate, seconds)
                    wall = time.monotonic() - wall_before
                    cpu = _browser_cpu_seconds(browser_root) - cpu_before
                    frames = await page.evaluate("window.labtwinStats.frames") - frames_before
                    draws: list[float] = await page.evaluate(f"window.labtwinStats.drawTimes.slice(-{frames})")
                    shown = await page.locator(".board.online").count()
                finally:
                    await browser.close()
    print(f"page: {frames / wall:.1f} frames/s over {wall:.1f} s (the server sends {1 / live.interval:g}/s); "
          f"{shown} of {boards} boards shown online")
    print(f"page draw per frame: median {statistics.median(draws or [0]):.1f} ms, max {max(draws or [0]):.1f} ms")
    print(f"browser CPU: {cpu / wall * 100:.0f} % of one core")
    print(f"server frame: median {statistics.median(live.build_ms or [0]):.1f} ms to build, "
          f"median {statistics.median(live.frame_bytes or [0]) / 1024:.1f} KiB")
    print(f"tasks: {made} calls, {answered} answered ok ({rate:g}/s per board)")
    return 0


def _chromium_root() -> psutil.Process:
    """The Chromium browser process this benchmark started (the newest one that is ours)."""
    me = psutil.Process()
    candidates = [p for p in me.children(recursive=True) if "chrom" in p.name().lower()]
    return min(candidates, key=lambda p: len(p.parents()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boards", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=0.5, help="task calls per second per board")
    options = parser.parse_args()
    sys.exit(asyncio.run(main(options.boards, options.seconds, options.rate)))
