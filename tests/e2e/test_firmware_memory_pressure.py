"""A MemoryError in a task or in publishing its result costs one request, never the device.

The board runs on a tight heap (a quarter of the Pico W's withheld, docs/performance.md, "Memory") with a test-only
task module added to a copy of the firmware: one task asks for more memory than there is, the
other fills the heap and keeps it full for a moment after returning, so building and publishing
its result run out of memory inside the device service itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labtwin.board_firmware import STOCK_FIRMWARE_DIR
from labtwin.errors import TaskError, TaskTimeout
from labtwin.scenarios.experiments.firmware_variant import firmware_with_tasks
from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.twin.board.profiles import PICO_W

DEVICE = "pico-w-lab-001"
# The smallest heap that boots and serves is ~132.5 KB (docs/performance.md, "Memory"); like the heap guard in
# test_lab_failures.py, keep a margin so firmware growth does not turn this into a boot failure.
TIGHT_HEAP = PICO_W.heap_bytes * 3 // 4

PRESSURE_TASKS = '''
# Test-only tasks that put the heap under pressure (tests/e2e/test_firmware_memory_pressure.py).
import asyncio
import gc

from task_registry import task

_ballast = None


async def _release_after(ms):
    global _ballast
    await asyncio.sleep_ms(ms)
    _ballast = None
    gc.collect()


@task(params={"size": int}, doc="test: allocate size bytes")
def allocate(size):
    return len(bytearray(size))


@task(params={"hold_ms": int}, doc="test: fill the heap, keep it full hold_ms after returning")
def starve(hold_ms):
    global _ballast
    asyncio.create_task(_release_after(hold_ms))  # created first: it cannot be once the heap is full
    held = None
    size = 1024
    while size:
        try:
            held = (bytearray(size), held)  # a chain: no list to outgrow the heap first
        except MemoryError:
            size //= 2
    _ballast = held
    return "starved"
'''


def pressure_firmware(tmp_path: Path) -> Path:
    return firmware_with_tasks(STOCK_FIRMWARE_DIR, tmp_path / "firmware", {"pressure_tasks": PRESSURE_TASKS})


@pytest.fixture
async def tight_lab(tmp_path: Path):
    async with TwinLab(firmware_dir=pressure_firmware(tmp_path), work_dir=tmp_path / "lab",
                       heap_bytes=TIGHT_HEAP, timeout=3.0) as lab:
        yield lab


async def assert_serving(lab: TwinLab) -> None:
    status = await lab.client(DEVICE).get_device_status()
    assert status["device_id"] == DEVICE and 0 < status["free_memory"] < TIGHT_HEAP
    assert lab.board(DEVICE).running


async def test_a_task_that_runs_out_of_memory_fails_and_the_device_keeps_serving(tight_lab: TwinLab):
    client = tight_lab.client(DEVICE)
    with pytest.raises(TaskError) as info:
        await client.execute_task("allocate", size=TIGHT_HEAP * 2)
    assert info.value.code == "task_failed" and info.value.message.startswith("MemoryError")
    await assert_serving(tight_lab)
    assert await client.execute_task("allocate", size=1000) == 1000


async def test_running_out_of_memory_while_answering_costs_only_that_request(tight_lab: TwinLab):
    client = tight_lab.client(DEVICE)
    board = tight_lab.board(DEVICE)
    try:
        await client.execute_task("starve", hold_ms=300)
    except TaskError as e:  # the error result got out once memory came back
        assert e.code == "task_failed" and "MemoryError" in e.message
    except TaskTimeout:  # the heap was still full when the device tried to answer
        pass
    else:
        pytest.fail("a result was built on a full heap")
    # The worker survived: the device answers the next commands, in order, and never crashed.
    for _ in range(3):
        await assert_serving(tight_lab)
    assert await client.execute_task("allocate", size=1000) == 1000
    assert board.running and board.returncode is None
