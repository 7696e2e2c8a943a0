"""Faults a scenario injects into the robot API twin through its ``/labtwin/`` control routes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from robot_api_testkit import OK_PROTOCOL, TERMINAL, RobotApiClient, RobotApiProcess

LONG_PROTOCOL = b'''
requirements = {"robotType": "OT-2", "apiLevel": "2.20"}

def run(ctx):
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
    ctx.delay(seconds=3000)
    pipette.pick_up_tip()
    pipette.drop_tip()
'''


def error_types(error: dict) -> list[str]:
    """The errorType of an engine error and of every error it wraps."""
    return [error["errorType"], *(t for wrapped in error.get("wrappedErrors", []) for t in error_types(wrapped))]


@pytest.fixture
def faults(robot_api: RobotApiProcess) -> Iterator[httpx.Client]:
    """The twin's control client; every fault is cleared (and the door closed) after the test."""
    control = httpx.Client(base_url=f"{robot_api.url}/labtwin", timeout=10.0)
    try:
        yield control
    finally:
        control.delete("/faults")
        control.close()


def test_a_run_fails_at_the_chosen_command_with_the_chosen_error(client: RobotApiClient, faults: httpx.Client):
    armed = faults.post("/faults/command", json={"atCommand": 4, "error": "tip-pickup-failed"})
    assert armed.json()["commandFailure"] == {"at_command": 4, "error": "tip-pickup-failed"}
    run = client.create_run(client.upload(OK_PROTOCOL)["id"])
    assert faults.get("/faults").json().get("commandFailure") is None  # taken by that run
    client.action(run["id"], "play")
    failed = client.wait_for_status(run["id"], TERMINAL)
    assert failed["status"] == "failed"
    # A Python protocol's run error wraps the failed command's error, as the engine reports it.
    assert "TipPickupFailedError" in error_types(failed["errors"][0])
    commands = client.http.get(f"/runs/{run['id']}/commands", params={"cursor": 0, "pageLength": 100}).json()["data"]
    assert [c["status"] for c in commands[:3]] == ["succeeded"] * 3
    assert commands[3]["status"] == "failed" and commands[3]["error"]["errorType"] == "TipPickupFailedError"
    # The next run is not faulted.
    rerun = client.create_run(run["protocolId"])
    client.action(rerun["id"], "play")
    assert client.wait_for_status(rerun["id"], TERMINAL)["status"] == "succeeded"


def test_unknown_command_error_is_refused(faults: httpx.Client):
    response = faults.post("/faults/command", json={"atCommand": 1, "error": "gremlins"})
    assert response.status_code == 422 and "tip-not-attached" in response.text
    assert faults.post("/faults/command", json={"atCommand": 0}).status_code == 422


def test_an_opened_door_blocks_the_run_until_closed_and_played(client: RobotApiClient, faults: httpx.Client):
    run = client.create_run(client.upload(LONG_PROTOCOL)["id"])
    client.action(run["id"], "play")
    client.wait_for_status(run["id"], {"running"})
    assert faults.post("/door", json={"open": True}).json()["doorOpen"] is True
    client.wait_for_status(run["id"], {"blocked-by-open-door"})
    faults.post("/door", json={"open": False})
    client.wait_for_status(run["id"], {"paused"})
    client.action(run["id"], "play")
    assert client.wait_for_status(run["id"], TERMINAL)["status"] == "succeeded"


def test_a_route_fault_answers_5xx_in_the_routes_error_shape(client: RobotApiClient, faults: httpx.Client):
    faults.post("/faults/route", json={"path": "/runs*", "method": "GET", "status": 503, "times": 2})
    for _ in range(2):
        failed = client.http.get("/runs")
        assert failed.status_code == 503 and failed.json()["errors"][0]["id"] == "InjectedFault"
    assert client.http.get("/runs").status_code == 200
    assert client.http.post("/runs", json={"data": {}}).status_code == 201  # other methods were not faulted
    faults.post("/faults/route", json={"path": "/health", "times": 1})
    legacy = client.http.get("/health")
    assert legacy.status_code == 500 and set(legacy.json()) == {"message", "errorCode"}


def test_a_reset_fault_drops_the_connection(client: RobotApiClient, faults: httpx.Client):
    faults.post("/faults/route", json={"path": "/health", "kind": "reset"})
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.http.get("/health")
    assert client.http.get("/health").status_code == 200


def test_route_fault_validation(faults: httpx.Client):
    assert faults.post("/faults/route", json={"path": "runs"}).status_code == 422
    assert faults.post("/faults/route", json={"path": "/runs", "status": 404}).status_code == 422
    assert faults.get("/faults").json()["routes"] == []


def test_a_slow_robot_is_armed_and_still_answers(client: RobotApiClient, faults: httpx.Client):
    # How much slower it answers is a benchmark's figure; here: the fault is armed, and the robot answers.
    assert faults.post("/faults/latency", json={"multiplier": 50}).status_code == 200
    assert faults.get("/faults").json()["latencyMultiplier"] == 50
    for _ in range(5):
        assert client.http.get("/instruments").status_code == 200
    assert faults.post("/faults/latency", json={"multiplier": 0.5}).status_code == 422
    assert faults.get("/faults").json()["latencyMultiplier"] == 50


def test_control_routes_are_not_in_the_robots_openapi(client: RobotApiClient):
    paths = client.http.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/labtwin")]
