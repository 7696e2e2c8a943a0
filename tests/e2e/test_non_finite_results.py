"""A task result holding inf or nan fails the call with task_failed, on the board as on the HTTP server.

MicroPython's json writes them as bare ``inf``/``nan``, which no JSON parser accepts: before, the
orchestrator dropped that result as malformed and the call timed out although the task had run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labtwin.board_firmware import STOCK_FIRMWARE_DIR
from labtwin.errors import TaskError
from labtwin.scenarios.experiments.firmware_variant import firmware_with_tasks
from labtwin.scenarios.labs.twin_lab import TwinLab

OVERFLOW_TASK = '''
from task_registry import task


@task(params={"factor": float}, doc="test: 1e308 * factor, an infinity for factors over ~1.8")
def overflow(factor):
    return {"values": [1e308 * factor], "nested": [[factor - factor]]}
'''


async def test_a_non_finite_result_is_a_task_error_not_a_timeout(tmp_path: Path) -> None:
    firmware = firmware_with_tasks(STOCK_FIRMWARE_DIR, tmp_path / "firmware", {"overflow_task": OVERFLOW_TASK})
    async with TwinLab(firmware_dir=firmware, work_dir=tmp_path / "lab", timeout=5.0) as lab:
        device = lab.client(lab.device_ids[0])
        assert await device.execute_task("overflow", factor=1.0) == {"values": [1e308], "nested": [[0.0]]}
        with pytest.raises(TaskError) as failed:
            await device.execute_task("overflow", factor=10.0)
        assert (failed.value.code, failed.value.message) == (
            "task_failed", "ValueError: the result holds inf, which JSON cannot carry")
