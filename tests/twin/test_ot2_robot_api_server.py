"""The OT-2 robot API twin as a managed subprocess: start, control routes, crashes, and in a TwinLab."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from labtwin.errors import ConfigError, SimulatorCrashed
from labtwin.scenarios.labs.twin_lab import OT2_ROBOT_API_CAPABILITY, TWIN_CAPABILITIES, TwinLab, twin_lab_factory
from labtwin.twin.ot2.robot_api.__main__ import READY_LINE_PREFIX
from labtwin.twin.ot2.robot_api_twin import READY_LINE, Ot2RobotApiServer

on_module_loop = pytest.mark.asyncio(loop_scope="module")
"""For the tests of the module's shared twin (its fixture lives on the module's loop)."""

LATEST = {"Opentrons-Version": "*"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def robot_api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Ot2RobotApiServer]:
    """One twin for the module's control tests; each test leaves its faults cleared."""
    async with Ot2RobotApiServer(work_dir=tmp_path_factory.mktemp("robot-api"), delay_speedup=1000) as twin:
        yield twin


@pytest_asyncio.fixture(loop_scope="module")
async def twin(robot_api: Ot2RobotApiServer) -> AsyncIterator[Ot2RobotApiServer]:
    yield robot_api
    await robot_api.control.clear()


async def get_health(url: str) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=url, headers=LATEST, trust_env=False) as client:
        response = await client.get("/health")
    assert response.status_code == 200, response.text
    health: dict[str, object] = response.json()
    return health


def test_the_ready_line_is_the_one_the_twin_prints() -> None:
    match = READY_LINE.search(READY_LINE_PREFIX + "http://127.0.0.1:31950")
    assert match is not None and match.group(1) == "http://127.0.0.1:31950"


@on_module_loop
async def test_the_twin_serves_the_robot_api(twin: Ot2RobotApiServer) -> None:
    assert twin.running and twin.url is not None and twin.url.startswith("http://127.0.0.1:")
    assert (await get_health(twin.url))["robot_model"] == "OT-2 Standard"
    assert twin.data_dir.is_dir() and twin.log_path.is_file()


@on_module_loop
async def test_the_door_opens_and_clear_closes_it(twin: Ot2RobotApiServer) -> None:
    assert (await twin.control.faults())["doorOpen"] is False
    assert (await twin.control.set_door(True))["doorOpen"] is True
    assert (await twin.control.faults())["doorOpen"] is True
    assert (await twin.control.clear())["doorOpen"] is False


@on_module_loop
async def test_faults_are_armed_and_cleared(twin: Ot2RobotApiServer) -> None:
    await twin.control.fault_route("/runs", method="POST", status=503, times=None)
    await twin.control.fail_command(2, "stall")
    state = await twin.control.set_latency(2.0)
    assert state["latencyMultiplier"] == 2.0
    assert len(state["routes"]) == 1 and state["routes"][0]["status"] == 503
    assert state["commandFailure"]
    await twin.control.wait_for_analyses()
    cleared = await twin.control.clear()
    assert cleared["routes"] == [] and cleared["latencyMultiplier"] == 1.0 and "commandFailure" not in cleared


@on_module_loop
async def test_the_twin_refusing_a_control_request_is_a_config_error(twin: Ot2RobotApiServer) -> None:
    with pytest.raises(ConfigError, match="no-such-error"):
        await twin.control.fail_command(1, "no-such-error")
    with pytest.raises(ConfigError, match="5xx"):
        await twin.control.fault_route("/health", status=404)
    with pytest.raises(ConfigError, match="latency"):
        await twin.control.set_latency(0.5)


async def test_a_twin_stops_twice_and_honours_its_settings(tmp_path: Path) -> None:
    twin = Ot2RobotApiServer(work_dir=tmp_path, robot_name="bench-ot2", pipettes={"left": "p300_single_v2.1"})
    with pytest.raises(RuntimeError, match="not ready"):
        _ = twin.control
    await twin.start()
    try:
        assert twin.url is not None
        assert (await get_health(twin.url))["name"] == "bench-ot2"
        async with httpx.AsyncClient(base_url=twin.url, headers=LATEST, trust_env=False) as client:
            pipettes = (await client.get("/pipettes")).json()
        assert pipettes["left"]["model"] == "p300_single_v2.1" and pipettes["right"]["model"] is None
    finally:
        await twin.stop()
    await twin.stop()
    assert not twin.running and twin.exited.is_set()
    assert await twin.wait_ready() == twin.url  # as before the stop, but without a control client to leak
    with pytest.raises(RuntimeError, match="not ready"):
        _ = twin.control


async def test_a_twin_that_cannot_start_is_reported_with_its_message(tmp_path: Path) -> None:
    twin = Ot2RobotApiServer(work_dir=tmp_path, pipettes={"left": "bogus"})
    with pytest.raises(SimulatorCrashed, match="'bogus' .left mount. is not an OT-2 pipette model") as crashed:
        await twin.start()
    assert crashed.value.returncode == 2
    assert not twin.running
    await twin.stop()


def test_bad_settings_are_refused_before_starting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mount"):
        Ot2RobotApiServer(work_dir=tmp_path, pipettes={"middle": "p300_single_v2.1"})
    with pytest.raises(ConfigError, match="delay_speedup"):
        Ot2RobotApiServer(work_dir=tmp_path, delay_speedup=0)
    with pytest.raises(ConfigError, match="ot2_robot_api_delay_speedup"):
        TwinLab(ot2_robot_api=True, ot2_robot_api_delay_speedup=-1)


def test_a_lab_without_the_robot_api_says_how_to_get_one() -> None:
    lab = TwinLab()
    assert lab.ot2_robot_api_url is None
    assert lab.capabilities == TWIN_CAPABILITIES
    with pytest.raises(ConfigError, match="ot2_robot_api=True"):
        lab.ot2_robot_api_twin()
    assert OT2_ROBOT_API_CAPABILITY not in twin_lab_factory().capabilities
    assert OT2_ROBOT_API_CAPABILITY in twin_lab_factory(ot2_robot_api=True).capabilities


async def test_a_twin_lab_runs_the_robot_api(tmp_path: Path) -> None:
    # The smallest lab: TwinLab needs at least one board.
    async with TwinLab(ot2_robot_api=True, work_dir=tmp_path) as lab:
        assert lab.ot2_robot_api_url is not None
        assert (await get_health(lab.ot2_robot_api_url))["robot_model"] == "OT-2 Standard"
        assert OT2_ROBOT_API_CAPABILITY in lab.capabilities and TWIN_CAPABILITIES <= lab.capabilities
        twin = lab.ot2_robot_api_twin()
        assert twin.delay_speedup == 100.0 and twin.work_dir == tmp_path / "ot2-robot-api"
        assert (await twin.control.set_door(True))["doorOpen"] is True
    assert not twin.running
