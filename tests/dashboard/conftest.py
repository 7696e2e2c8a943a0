"""A twin lab with its dashboard, and a headless Chromium page on it (Debian's ``chromium``; .ci/run installs it)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from labtwin.dashboard.live_lab import LiveLab
from labtwin.dashboard.server import DashboardServer
from labtwin.scenarios.labs.twin_lab import TwinLab

DEVICE = "pico-w-lab-001"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
async def dashboard(tmp_path: Path) -> AsyncIterator[DashboardServer]:
    """One Pico W twin behind a network twin, its dashboard on an ephemeral loopback port."""
    async with (TwinLab(devices=[DEVICE], network_twin=True, work_dir=tmp_path, timeout=5.0) as lab,
                DashboardServer(LiveLab(lab, topic_prefix=lab.topic_prefix, interval=0.1)) as server):
        yield server


@pytest.fixture
async def ot2_dashboard(tmp_path: Path) -> AsyncIterator[DashboardServer]:
    """A Pico W twin and the OT-2 twin (task server), the dashboard on an ephemeral loopback port."""
    async with (TwinLab(devices=[DEVICE], ot2=True, work_dir=tmp_path, timeout=5.0) as lab,
                DashboardServer(LiveLab(lab, topic_prefix=lab.topic_prefix, interval=0.1)) as server):
        yield server


@pytest.fixture
async def page(dashboard: DashboardServer) -> AsyncIterator[Any]:
    """The dashboard open in headless Chromium, its first snapshot shown."""
    async with open_page(dashboard) as opened:
        yield opened


@contextlib.asynccontextmanager
async def open_page(dashboard: DashboardServer) -> AsyncIterator[Any]:
    """``dashboard`` open in headless Chromium (skips without the executable), its first snapshot shown."""
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium executable (apt-get install chromium; .ci/run does)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            opened = await browser.new_page()
            assert dashboard.url is not None
            await opened.goto(dashboard.url)
            await opened.wait_for_function("window.labtwinStats && window.labtwinStats.snapshots > 0")
            yield opened
        finally:
            await browser.close()
