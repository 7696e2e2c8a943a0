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
        await asyncio.sleep(0.05)  # let tasks that were cancelled on teardown run their finally blocks
    leaked = pending()
    assert not leaked, f"test leaked asyncio tasks: {[t.get_name() for t in leaked]}"
