"""The OT-2 colour-mixing app on opentrons.simulate, driven over HTTP exactly as on the robot."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from labtwin.errors import AuthenticationFailed, SimulatorCrashed, TaskError
from labtwin.orchestrator.http_client import AsyncHTTPOrchestratorClient
from labtwin.twin.ot2.task_twin import Ot2TaskServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

PLATE_WELLS = [f"{row}{column}" for column in range(1, 13) for row in "ABCDEFGH"]
DYES = ("red_ul", "yellow_ul", "blue_ul")


def one_dye(index: int, volume_ul: float = 20.0) -> dict[str, float]:
    return {dye: (volume_ul if i == index % 3 else 0.0) for i, dye in enumerate(DYES)}


async def refusal(ot2: AsyncHTTPOrchestratorClient, **parameters: Any) -> TaskError:
    with pytest.raises(TaskError) as caught:
        await ot2.execute_task("mix_color", **parameters)
    return caught.value


async def test_a_full_plate_of_mixes_then_out_of_tips_is_reported_cleanly(ot2: AsyncHTTPOrchestratorClient) -> None:
    for index, well in enumerate(PLATE_WELLS):
        result = await ot2.execute_task("mix_color", well=well, **one_dye(index))
        assert result["tips_used"] == 1 and result["well_volume_ul"] == 20.0
    error = await refusal(ot2, well="A1", red_ul=20, yellow_ul=0, blue_ul=0)
    assert error.code == "out_of_tips"
    assert "reset_deck(tips=True)" in error.message
    deck = await ot2.execute_task("deck_state")
    assert deck["tips_used"] == 96 and deck["tips_left"] == 0
    assert len(deck["wells"]) == 96 and deck["wells"]["A1"] == {"volume_ul": 20.0, "contents_ul": {"red": 20.0}}
    # A fresh rack, and the robot works again.
    await ot2.execute_task("reset_deck", tips=True)
    assert (await ot2.execute_task("mix_color", well="A1", red_ul=20, yellow_ul=0, blue_ul=0))["tips_used"] == 1


async def test_a_mix_that_would_overflow_its_well_is_refused_and_moves_nothing(
        ot2: AsyncHTTPOrchestratorClient) -> None:
    await ot2.execute_task("mix_color", well="B2", red_ul=300, yellow_ul=0, blue_ul=0)
    error = await refusal(ot2, well="B2", red_ul=0, yellow_ul=40, blue_ul=30)
    assert error.code == "well_overflow"
    assert "360" in error.message
    deck = await ot2.execute_task("deck_state")
    assert deck["tips_used"] == 1
    assert deck["wells"]["B2"]["volume_ul"] == 300.0


async def test_an_empty_reservoir_is_refused(ot2: AsyncHTTPOrchestratorClient) -> None:
    await ot2.execute_task("reset_deck", reservoir_ul={"blue": 100})
    assert (await refusal(ot2, well="C3", red_ul=0, yellow_ul=0, blue_ul=150)).code == "reservoir_empty"
    await ot2.execute_task("mix_color", well="C3", red_ul=0, yellow_ul=0, blue_ul=100)
    error = await refusal(ot2, well="C4", red_ul=0, yellow_ul=0, blue_ul=20)
    assert error.code == "reservoir_empty"
    assert "refill" in error.message
    assert (await ot2.execute_task("deck_state"))["reservoir_ul"]["blue"] == 0.0


@pytest.mark.parametrize("parameters,code", [
    ({"well": "I1", "red_ul": 50, "yellow_ul": 0, "blue_ul": 0}, "unknown_well"),
    ({"well": "A1", "red_ul": 10, "yellow_ul": 0, "blue_ul": 0}, "volume_out_of_range"),
    ({"well": "A1", "red_ul": 301, "yellow_ul": 0, "blue_ul": 0}, "volume_out_of_range"),
    ({"well": "A1", "red_ul": 0, "yellow_ul": 0, "blue_ul": 0}, "volume_out_of_range"),
    ({"well": 5, "red_ul": 50, "yellow_ul": 0, "blue_ul": 0}, "bad_parameters"),
    ({"well": "A1", "red_ul": "50", "yellow_ul": 0, "blue_ul": 0}, "bad_parameters"),
    ({"well": "A1", "red_ul": 50, "yellow_ul": 0}, "bad_parameters"),
])
async def test_impossible_or_malformed_mixes_get_clear_codes(ot2: AsyncHTTPOrchestratorClient,
                                                             parameters: dict[str, Any], code: str) -> None:
    assert (await refusal(ot2, **parameters)).code == code


async def test_the_run_log_has_every_robot_command_with_time_estimates(
        ot2: AsyncHTTPOrchestratorClient, ot2_twin: Ot2TaskServer) -> None:
    since = (await ot2.execute_task("run_log"))[-1]["seq"]
    mixed = await ot2.execute_task("mix_color", well="D4", red_ul=100, yellow_ul=50, blue_ul=0)
    entries = await ot2.execute_task("run_log", since=since)
    assert [e["task"] for e in entries] == ["mix_color"]
    entry = entries[0]
    assert entry["outcome"] == "success" and entry["parameters"]["well"] == "D4"
    commands = [c["command"] for c in entry["commands"]]
    assert commands[:4] == ["command.PICK_UP_TIP", "command.ASPIRATE", "command.DISPENSE",
                            "command.DROP_TIP_IN_DISPOSAL_LOCATION"]
    assert "command.MIX" in commands
    assert all(c["estimated_s"] > 0 for c in entry["commands"] if c["command"] == "command.ASPIRATE")
    assert entry["estimated_robot_s"] == mixed["estimated_robot_s"] > 10  # seconds on the robot, not ms
    # The twin keeps the same log on disk.
    on_disk = [e for e in ot2_twin.run_log() if e["seq"] == entry["seq"]]
    assert on_disk == [entry]
    assert ot2_twin.estimated_robot_seconds() >= entry["estimated_robot_s"]


async def test_refusals_are_logged_without_robot_commands(ot2: AsyncHTTPOrchestratorClient) -> None:
    await refusal(ot2, well="Z9", red_ul=50, yellow_ul=0, blue_ul=0)
    last = (await ot2.execute_task("run_log"))[-1]
    assert last["outcome"] == "unknown_well" and last["commands"] == [] and last["estimated_robot_s"] == 0


async def test_home_is_a_task(ot2: AsyncHTTPOrchestratorClient) -> None:
    assert await ot2.execute_task("home") is None


async def test_the_twin_requires_its_token(ot2_twin: Ot2TaskServer) -> None:
    assert ot2_twin.url is not None
    with pytest.raises(AuthenticationFailed):
        async with AsyncHTTPOrchestratorClient(ot2_twin.url, auth_token="guess"):
            pass


async def test_the_apps_openapi_schema_holds_under_generated_requests(ot2_twin: Ot2TaskServer) -> None:
    assert ot2_twin.url is not None
    schema = schemathesis.openapi.from_url(f"{ot2_twin.url}/openapi.json")
    auth = {"Authorization": f"Bearer {ot2_twin.auth_token}"}
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

    def fuzz(path: str) -> None:
        @settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=schema[path]["POST"].as_strategy())
        def answers_conform(case: Any) -> None:
            case.call_and_validate(headers=auth, checks=checks)

        answers_conform()

    for path in ["/tasks/mix_color", "/tasks/reset_deck", "/tasks/run_log", "/tasks/deck_state"]:
        # In a thread: the blocking calls must not stall this loop, which drains the app's output.
        await asyncio.to_thread(fuzz, path)


async def test_an_app_that_cannot_start_is_reported_with_its_last_words(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        twin = Ot2TaskServer(work_dir=tmp_path, port=taken.getsockname()[1])
        with pytest.raises(SimulatorCrashed, match="cannot listen"):
            await twin.start()
    assert not twin.running
