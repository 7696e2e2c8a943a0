"""Protocols, analyses and runs on the robot API twin, against a real twin process and its engine."""

from __future__ import annotations

import pytest
from robot_api_testkit import FAILING_PROTOCOL, OK_PROTOCOL, TERMINAL, RobotApiClient

LONG_PROTOCOL = b'''
requirements = {"robotType": "OT-2", "apiLevel": "2.20"}

def run(ctx):
    ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    ctx.delay(seconds=3000)
    ctx.comment("done waiting")
'''
"""A 50-minute delay: 3 s at the fixture's 1000x speed-up, long enough to act on a running run."""

PAUSING_PROTOCOL = b'''
requirements = {"robotType": "OT-2", "apiLevel": "2.20"}

def run(ctx):
    ctx.pause("swap the plate")
    ctx.comment("resumed")
'''


def command_types(client: RobotApiClient, run_id: str) -> list[tuple[str, str]]:
    commands = client.http.get(f"/runs/{run_id}/commands", params={"cursor": 0, "pageLength": 500}).json()["data"]
    return [(command["commandType"], command["status"]) for command in commands]


# --- protocols and analyses ------------------------------------------------------------------------

def test_upload_is_analysed_by_the_engine(client: RobotApiClient):
    protocol = client.upload(OK_PROTOCOL, "transfer.py")
    assert protocol["protocolType"] == "python" and protocol["robotType"] == "OT-2 Standard"
    assert protocol["metadata"]["protocolName"] == "labtwin transfer"
    assert protocol["files"] == [{"name": "transfer.py", "role": "main"}]
    assert [summary["status"] for summary in protocol["analysisSummaries"]] == ["pending"]

    analysis = client.analysis(protocol["id"])
    assert analysis["result"] == "ok" and analysis["errors"] == []
    types = [command["commandType"] for command in analysis["commands"]]
    assert ["pickUpTip", "aspirate", "waitForDuration", "dispense"] == [
        t for t in types if t in {"pickUpTip", "aspirate", "waitForDuration", "dispense"}]
    assert {labware["loadName"] for labware in analysis["labware"]} >= {
        "opentrons_96_tiprack_300ul", "corning_96_wellplate_360ul_flat"}
    assert [(p["pipetteName"], p["mount"]) for p in analysis["pipettes"]] == [("p300_single_gen2", "right")]
    listed = client.http.get("/protocols").json()
    assert protocol["id"] in [p["id"] for p in listed["data"]] and listed["meta"]["totalLength"] == len(listed["data"])
    summary = client.http.get(f"/protocols/{protocol['id']}").json()["data"]["analysisSummaries"]
    assert summary == [{"id": analysis["id"], "status": "completed"}]


def test_failing_protocol_analysis_is_not_ok_with_the_engine_error(client: RobotApiClient):
    protocol = client.upload(FAILING_PROTOCOL)
    analysis = client.analysis(protocol["id"])
    assert analysis["result"] == "not-ok"
    assert "tip" in analysis["errors"][0]["detail"].lower()


@pytest.mark.parametrize("content,name", [(b"def run(ctx):\n    ctx.home(\n", "broken.py"),
                                          (b"print('no run function')\n", "norun.py"),
                                          (b"{not json", "protocol.json"),
                                          (b"plain text", "notes.txt")])
def test_invalid_uploads_are_422_and_not_stored(client: RobotApiClient, content: bytes, name: str):
    before = client.http.get("/protocols").json()["meta"]["totalLength"]
    response = client.http.post("/protocols", files=[("files", (name, content))])
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["id"] == "ProtocolFilesInvalid"
    assert client.http.get("/protocols").json()["meta"]["totalLength"] == before


def test_unknown_protocol_is_404_in_the_errors_envelope(client: RobotApiClient):
    response = client.http.get("/protocols/nope")
    assert response.status_code == 404
    assert response.json()["errors"][0]["id"] == "ProtocolNotFound"
    assert client.http.post("/runs", json={"data": {"protocolId": "nope"}}).status_code == 404


def test_a_protocol_used_by_a_run_cannot_be_deleted_until_the_run_is(client: RobotApiClient):
    protocol = client.upload(OK_PROTOCOL)
    run = client.create_run(protocol["id"])
    assert client.http.delete(f"/protocols/{protocol['id']}").status_code == 409
    assert client.http.get(f"/protocols/{protocol['id']}").json()["links"]["referencingRuns"] == [
        {"id": run["id"], "href": f"/runs/{run['id']}"}]
    assert client.http.delete(f"/runs/{run['id']}").status_code == 200
    assert client.http.delete(f"/protocols/{protocol['id']}").status_code == 200
    assert client.http.get(f"/protocols/{protocol['id']}").status_code == 404


# --- runs --------------------------------------------------------------------------------------------

def test_protocol_run_plays_to_succeeded(client: RobotApiClient):
    protocol = client.upload(OK_PROTOCOL)
    run = client.create_run(protocol["id"])
    assert (run["status"], run["current"], run["protocolId"]) == ("idle", True, protocol["id"])
    played = client.action(run["id"], "play")
    assert played.status_code == 201 and played.json()["data"]["actionType"] == "play"
    finished = client.wait_for_status(run["id"], TERMINAL)
    assert finished["status"] == "succeeded", finished["errors"]
    assert finished["startedAt"] and finished["completedAt"] and finished["errors"] == []
    assert [action["actionType"] for action in finished["actions"]] == ["play"]
    assert ("aspirate", "succeeded") in command_types(client, run["id"])
    assert ("waitForDuration", "succeeded") in command_types(client, run["id"])


def test_failing_protocol_run_fails_with_the_engine_error(client: RobotApiClient):
    run = client.create_run(client.upload(FAILING_PROTOCOL)["id"])
    client.action(run["id"], "play")
    failed = client.wait_for_status(run["id"], TERMINAL)
    assert failed["status"] == "failed"
    assert "tip" in failed["errors"][0]["detail"].lower()
    assert ("aspirate", "failed") in command_types(client, run["id"])
    assert client.action(run["id"], "play").status_code == 409


def test_pause_play_and_stop_move_the_run_through_its_statuses(client: RobotApiClient):
    run = client.create_run(client.upload(LONG_PROTOCOL)["id"])
    assert client.action(run["id"], "pause").status_code == 409  # idle: nothing to pause
    client.action(run["id"], "play")
    client.wait_for_status(run["id"], {"running"})
    other = client.http.post("/runs", json={"data": {}})
    assert other.status_code == 409 and other.json()["errors"][0]["id"] == "RunAlreadyActive"
    assert client.action(run["id"], "pause").status_code == 201
    client.wait_for_status(run["id"], {"paused"})
    assert client.action(run["id"], "play").status_code == 201
    client.wait_for_status(run["id"], {"running"})
    assert client.action(run["id"], "stop").status_code == 201
    stopped = client.wait_for_status(run["id"], TERMINAL)
    assert stopped["status"] == "stopped"
    assert [a["actionType"] for a in stopped["actions"]] == ["play", "pause", "play", "stop"]
    assert client.action(run["id"], "stop").status_code == 409
    assert client.action(run["id"], "jump").status_code == 422


def test_protocol_pause_waits_for_play(client: RobotApiClient):
    run = client.create_run(client.upload(PAUSING_PROTOCOL)["id"])
    client.action(run["id"], "play")
    client.wait_for_status(run["id"], {"paused"})
    client.action(run["id"], "play")
    assert client.wait_for_status(run["id"], TERMINAL)["status"] == "succeeded"


def test_a_new_run_replaces_a_finished_current_run(client: RobotApiClient):
    first = client.create_run()
    second = client.create_run()
    runs = client.http.get("/runs").json()
    assert runs["links"]["current"]["href"] == f"/runs/{second['id']}"
    by_id = {run["id"]: run for run in runs["data"]}
    assert by_id[first["id"]]["current"] is False and by_id[first["id"]]["status"] == "stopped"
    assert client.action(first["id"], "play").status_code == 409
    dismissed = client.http.patch(f"/runs/{second['id']}", json={"data": {"current": False}})
    assert dismissed.status_code == 200 and dismissed.json()["data"]["current"] is False
    assert "current" not in client.http.get("/runs").json()["links"]


@pytest.mark.parametrize("current", [0, 0.0, "false", True, None])
def test_only_a_json_false_dismisses_a_run(client: RobotApiClient, current: object):
    # Found by schemathesis: pydantic took a JSON 0 for false (0 == False), and the run was dismissed.
    run = client.create_run()
    response = client.http.patch(f"/runs/{run['id']}", json={"data": {"current": current}})
    assert response.status_code == 422, response.text
    assert client.run(run["id"])["current"] is True


def test_live_run_takes_setup_commands_while_idle(client: RobotApiClient):
    run = client.create_run()
    assert [labware["id"] for labware in run["labware"]] == ["fixedTrash"]

    def send(command_type: str, params: dict, intent: str = "setup") -> dict:
        response = client.http.post(f"/runs/{run['id']}/commands", params={"waitUntilComplete": True},
                                    json={"data": {"commandType": command_type, "params": params, "intent": intent}})
        assert response.status_code == 201, response.text
        return response.json()["data"]

    pipette = send("loadPipette", {"pipetteName": "p300_single_gen2", "mount": "right"})
    assert pipette["status"] == "succeeded"
    tips = send("loadLabware", {"location": {"slotName": "1"}, "loadName": "opentrons_96_tiprack_300ul",
                                "namespace": "opentrons", "version": 1})
    picked = send("pickUpTip", {"pipetteId": pipette["result"]["pipetteId"], "labwareId": tips["result"]["labwareId"],
                                "wellName": "A1"})
    assert picked["status"] == "succeeded" and picked["result"]["tipVolume"] == 300
    wrong = send("loadPipette", {"pipetteName": "p1000_single_gen2", "mount": "left"})
    assert wrong["status"] == "failed" and wrong["error"]["errorType"]
    fetched = client.http.get(f"/runs/{run['id']}/commands/{picked['id']}").json()["data"]
    assert fetched["id"] == picked["id"] and fetched["status"] == "succeeded"
    assert client.http.get(f"/runs/{run['id']}/commands/nope").status_code == 404
    malformed = client.http.post(f"/runs/{run['id']}/commands", json={"data": {"commandType": "teleport"}})
    assert malformed.status_code == 422
    assert {p["mount"] for p in client.run(run["id"])["pipettes"]} == {"right"}


def test_labware_offsets_apply_before_the_run_starts(client: RobotApiClient):
    run = client.create_run(client.upload(LONG_PROTOCOL)["id"])
    offset = {"definitionUri": "opentrons/opentrons_96_tiprack_300ul/1", "location": {"slotName": "1"},
              "vector": {"x": 0.5, "y": -0.25, "z": 1.0}}
    added = client.http.post(f"/runs/{run['id']}/labware_offsets", json={"data": offset})
    assert added.status_code == 201, added.text
    assert added.json()["data"]["vector"] == offset["vector"]
    assert [o["id"] for o in client.run(run["id"])["labwareOffsets"]] == [added.json()["data"]["id"]]
    client.action(run["id"], "play")
    client.wait_for_status(run["id"], {"running"})
    assert client.http.post(f"/runs/{run['id']}/labware_offsets", json={"data": offset}).status_code == 409
    bad = client.http.post(f"/runs/{run['id']}/labware_offsets", json={"data": {"vector": "up"}})
    assert bad.status_code == 422


# --- the robot ---------------------------------------------------------------------------------------

def test_instruments_and_pipettes_report_the_simulated_mounts(client: RobotApiClient):
    instruments = client.http.get("/instruments").json()
    assert {(i["mount"], i["instrumentName"]) for i in instruments["data"]} == {
        ("left", "p20_single_gen2"), ("right", "p300_single_gen2")}
    pipettes = client.http.get("/pipettes").json()
    assert pipettes["right"]["model"] == "p300_single_v2.1" and pipettes["left"]["mount_axis"] == "z"
    assert client.http.get("/modules").json() == {"data": [], "meta": {"cursor": 0, "totalLength": 0}}


def test_home_is_refused_while_a_run_is_going(client: RobotApiClient):
    assert client.http.post("/robot/home", json={"target": "robot"}).json() == {"message": "Homing robot."}
    assert client.http.post("/robot/home", json={"target": "pipette", "mount": "left"}).status_code == 200
    assert client.http.post("/robot/home", json={"target": "pipette"}).status_code == 422
    run = client.create_run(client.upload(LONG_PROTOCOL)["id"])
    client.action(run["id"], "play")
    client.wait_for_status(run["id"], {"running"})
    busy = client.http.post("/robot/home", json={"target": "robot"})
    assert busy.status_code == 409 and set(busy.json()) == {"message", "errorCode"}
