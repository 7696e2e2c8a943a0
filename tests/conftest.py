"""Shared test setup: firmware modules importable from CPython, and a leaked-task check."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STOCK_FIRMWARE_DIR = REPO / "firmware"

# Firmware files are flat modules on the board; unit tests import them the same way.
if str(STOCK_FIRMWARE_DIR) not in sys.path:
    sys.path.insert(0, str(STOCK_FIRMWARE_DIR))


@pytest.fixture(autouse=True)
async def fail_on_leaked_asyncio_tasks() -> AsyncIterator[None]:
    """Every task a test (or what it started) creates must be finished when the test ends."""
    yield
    current = asyncio.current_task()

    def pending() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() if t is not current and not t.done()]

    if pending():
        # Tasks cancelled on teardown still run their finally blocks: wait for them to end (the
        # deadline only guards against hanging). A task nobody cancelled that is still running is a leak.
        cancelled = [t for t in pending() if t.cancelling()]
        if cancelled:
            await asyncio.wait(cancelled, timeout=10)
        for _ in range(3):
            await asyncio.sleep(0)  # what is already due (a closed transport's callbacks) runs
    leaked = pending()
    assert not leaked, f"test leaked asyncio tasks: {[t.get_name() for t in leaked]}"
