"""The orchestrator's OT-2 robot API client against the twin: results, and every failure as a clear error."""

from __future__ import annotations

import pytest
from robot_api_testkit import FAILING_PROTOCOL, OK_PROTOCOL, RobotApiClient, RobotApiProcess

from labtwin.errors import ConfigError, DeviceOffline, ProtocolError, RobotApiError, TaskTimeout
from labtwin.orchestrator.ot2_robot_client import AsyncOT2RobotClient


async def test_run_protocol_uploads_checks_plays_and_waits(robot_api: RobotApiProcess, client: RobotApiClient):
    async with AsyncOT2RobotClient(robot_api.url) as robot:
        assert (await robot.health())["robot_model"] == "OT-2 Standard"
        run = await robot.run_protocol("transfer.py", OK_PROTOCOL)
        assert run["status"] == "succeeded" and run["errors"] == []
        commands = await robot.commands(run["id"])
        assert len(commands) == client.http.get(f"/runs/{run['id']}/commands").json()["meta"]["totalLength"]
        assert [c["commandType"] for c in commands].count("aspirate") == 1


async def test_commands_pages_through_long_runs(robot_api: RobotApiProcess, client: RobotApiClient):
    many = b'requirements = {"robotType": "OT-2", "apiLevel": "2.20"}\ndef run(ctx):\n' + \
        b"".join(b"    ctx.comment('step %d')\n" % i for i in range(450))
    async with AsyncOT2RobotClient(robot_api.url) as robot:
        run = await robot.run_protocol("many.py", many)
        commands = await robot.commands(run["id"])
    assert [c["params"]["message"] for c in commands if c["commandType"] == "comment"] == [
        f"step {i}" for i in range(450)]


async def test_a_protocol_that_fails_analysis_is_refused_before_any_run(robot_api: RobotApiProcess,
                                                                        client: RobotApiClient):
    runs_before = client.http.get("/runs").json()["meta"]["totalLength"]
    async with AsyncOT2RobotClient(robot_api.url) as robot:
        with pytest.raises(ProtocolError, match="did not pass analysis.*tip"):
            await robot.run_protocol("failing.py", FAILING_PROTOCOL)
    assert client.http.get("/runs").json()["meta"]["totalLength"] == runs_before


async def test_refusals_carry_the_robots_status_and_error_id(robot_api: RobotApiProcess, client: RobotApiClient):
    async with AsyncOT2RobotClient(robot_api.url) as robot:
        with pytest.raises(RobotApiError) as missing:
            await robot.run("no-such-run")
        assert (missing.value.status_code, missing.value.error_id) == (404, "RunNotFound")
        with pytest.raises(RobotApiError) as bad_upload:
            await robot.upload_protocol("notes.txt", b"hello")
        assert bad_upload.value.status_code == 422


async def test_waiting_longer_than_allowed_is_a_timeout(robot_api: RobotApiProcess, client: RobotApiClient):
    async with AsyncOT2RobotClient(robot_api.url) as robot:
        run = await robot.create_run()
        with pytest.raises(TaskTimeout):
            await robot.wait_for_run(run["id"], {"succeeded"}, timeout=0.2)


async def test_an_unreachable_robot_is_offline_and_a_bad_url_a_config_error(unused_tcp_port: int):
    with pytest.raises(ConfigError):
        AsyncOT2RobotClient("ot2.lab:31950")
    async with AsyncOT2RobotClient(f"http://127.0.0.1:{unused_tcp_port}") as robot:
        with pytest.raises(DeviceOffline):
            await robot.health()
