"""Many boards through one broker at once: no task lost, every result right (figures: benchmarks/load.py)."""

from __future__ import annotations

import asyncio
import resource
from typing import Any

import psutil
import pytest
from testkit import BROKERS

from labtwin.errors import ConfigError, LabtwinError
from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.scenarios.labs.twin_lab_options import BENCH_SENSOR_VOLTS
from labtwin.twin.board.model import BoardModel

SENSOR_PIN = 26  # ADC channel 0 on the default bench


async def run_board(lab: TwinLab, device_id: str, tasks: int) -> list[str]:
    """The board's tasks one after another (status and sensor alternately); what went wrong."""
    client, problems = lab.client(device_id), []
    for i in range(tasks):
        task, params = ("get_device_status", {}) if i % 2 == 0 else ("read_sensor", {"sensor_pin": SENSOR_PIN})
        try:
            result: Any = await client.call(task, params)
        except LabtwinError as e:
            problems.append(f"{device_id} {task}: lost: {e!r}")
            continue
        right = (result["device_id"] == device_id if task == "get_device_status"
                 else result["sensor_pin"] == SENSOR_PIN and abs(result["voltage"] - BENCH_SENSOR_VOLTS[0]) < 0.1)
        if not right:
            problems.append(f"{device_id} {task}: wrong result {result!r}")
    return problems


async def run_load(broker: str, tmp_path: Any, boards: int, tasks: int) -> None:
    """Boot `boards` boards, run `tasks` tasks on each, all boards at once; assert nothing went wrong."""
    devices = [f"load-{i:03d}" for i in range(boards)]
    async with TwinLab(devices=devices, broker=broker, work_dir=tmp_path / "lab", timeout=30.0) as lab:
        vms = [psutil.Process(lab.board(d).pid) for d in devices]
        outcomes = await asyncio.gather(*(run_board(lab, d, tasks) for d in devices))
    problems = [problem for outcome in outcomes for problem in outcome]
    assert not problems, f"{len(problems)} of {boards * tasks} tasks went wrong, e.g. {problems[:5]}"
    assert not any(vm.is_running() for vm in vms), "a board's VM outlived the lab"


@pytest.mark.parametrize("broker", BROKERS)
async def test_sixteen_boards_run_sixteen_tasks_each_at_once_and_lose_none(broker, tmp_path):
    await run_load(broker, tmp_path, boards=16, tasks=16)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("broker", BROKERS)
async def test_a_hundred_boards_run_a_hundred_tasks_each_at_once_and_lose_none(broker, tmp_path):
    await run_load(broker, tmp_path, boards=100, tasks=100)


@pytest.mark.parametrize("broker", BROKERS)
async def test_a_board_failing_mid_boot_leaves_no_board_running(broker, tmp_path):
    devices = [f"load-{i:03d}" for i in range(8)]

    def wiring(model: BoardModel) -> None:
        if model.board_id == devices[3]:
            raise RuntimeError("bench wiring failed")

    lab = TwinLab(devices=devices, broker=broker, work_dir=tmp_path / "lab", wiring=wiring, boot_concurrency=4)
    with pytest.raises(RuntimeError, match="bench wiring failed"):
        async with lab:
            pass
    started = [lab.board(d) for d in devices[:3]]  # booted before the failing board on any broker
    assert all(not board.running and not board.bus.running for board in started)
    assert all(board.returncode is not None for board in started)


async def test_more_boards_than_the_open_files_hard_limit_allows_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setattr(resource, "getrlimit", lambda which: (300, 300))
    lab = TwinLab(devices=[f"load-{i:03d}" for i in range(20)], work_dir=tmp_path / "lab")
    with pytest.raises(ConfigError,
                       match=r"20 boards need about \d+ open files, but this process may open at most 300"):
        await lab.__aenter__()


async def test_a_soft_open_files_limit_too_low_is_raised_up_to_the_hard_limit(tmp_path, monkeypatch):
    raised: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda which: (64, 100_000))
    monkeypatch.setattr(resource, "setrlimit", lambda which, limits: raised.append(limits))
    async with TwinLab(work_dir=tmp_path / "lab") as lab:
        assert (await lab.client("pico-w-lab-001").get_device_status())["device_id"] == "pico-w-lab-001"
    assert len(raised) == 1 and 64 < raised[0][0] <= 100_000 and raised[0][1] == 100_000
