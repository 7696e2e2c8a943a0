"""The PyPI client ``opentrons-http-api-client`` (``ot_api``, used by PyLabRobot's OT-2 backend), unmodified,
against the robot API twin.

``ot_api`` has no helpers for uploading a protocol or for run actions: uploads go through httpx
(:meth:`RobotApiClient.upload`), and actions through ``ot_api.requestor.post``, the package's own request
function.
"""

from __future__ import annotations

import copy
import json
import time
import urllib.request  # noqa: F401 - ot_api.requestor uses urllib.request but only does ``import urllib``
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import ot_api
import pytest
from opentrons_shared_data.labware import load_definition
from ot_api.decorators import OTError
from robot_api_testkit import FAILING_PROTOCOL, OK_PROTOCOL, TERMINAL, RobotApiClient, RobotApiProcess

P20_FLOW_RATE = 7.56
P300_FLOW_RATE = 92.86
"""uL/s: the p20_single_gen2's and p300_single_gen2's default aspirate and dispense flow rates."""


@pytest.fixture(autouse=True)
def ot_api_on_twin(robot_api: RobotApiProcess, client: RobotApiClient) -> Iterator[None]:
    """Point ot_api's module globals at the module's twin; restore the previous host, port and run after.

    Depends on ``client`` so that whatever run the test leaves going is stopped afterwards.
    """
    url = urlsplit(robot_api.url)
    saved = ot_api.HOST, ot_api.PORT, ot_api.run_id
    ot_api.set_host(url.hostname)
    ot_api.set_port(url.port)
    ot_api.set_run(None)
    try:
        yield
    finally:
        host, port, run_id = saved
        ot_api.set_host(host)
        ot_api.set_port(port)
        ot_api.set_run(run_id)


def act(run_id: str, action_type: str) -> dict[str, Any]:
    """Play, pause or stop a run through ot_api's own POST."""
    return ot_api.requestor.post(f"/runs/{run_id}/actions", {"data": {"actionType": action_type}})


def wait_for_terminal(run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll ``ot_api.runs.get_run`` until the run succeeded, failed or stopped."""
    deadline = time.monotonic() + timeout
    while (run := ot_api.runs.get_run(run_id))["status"] not in TERMINAL:
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']} after {timeout} s"
        time.sleep(0.02)
    return run


def run_commands(run_id: str) -> list[dict[str, Any]]:
    """All of the run's commands, in order (one page holds them all)."""
    page = ot_api.requestor.get(f"/runs/{run_id}/commands?pageLength=100")
    assert page["meta"]["totalLength"] == len(page["data"])
    return page["data"]


def run_protocol(client: RobotApiClient, protocol: bytes) -> str:
    """Upload ``protocol`` (httpx: ot_api cannot), create its run and play it with ot_api; the run's id."""
    protocol_id = client.upload(protocol)["id"]
    run = ot_api.requestor.post("/runs", {"data": {"protocolId": protocol_id}})["data"]
    assert run["protocolId"] == protocol_id
    assert act(run["id"], "play")["data"]["actionType"] == "play"
    return str(run["id"])


def start_live_run() -> tuple[dict[str, Any], dict[str, Any]]:
    """Create a live run and load the mounted pipettes the way PyLabRobot's OT-2 backend does; (left, right)."""
    ot_api.set_run(ot_api.runs.create())
    left, right = ot_api.lh.add_mounted_pipettes()
    assert left is not None and right is not None
    return left, right


def stop_live_run() -> None:
    """Stop the current live run (ot_api has no helper for that) and wait until it is stopped."""
    act(ot_api.run_id, "stop")
    assert wait_for_terminal(ot_api.run_id)["status"] == "stopped"


def test_health_and_home() -> None:
    """``ot_api.health`` reads the twin's identity and homes the robot."""
    health = ot_api.health.get()
    assert health["robot_model"] == "OT-2 Standard"
    assert health["name"] and health["robot_serial"]
    assert health["api_version"] == "9.0.0"
    assert health["minimum_protocol_api_version"] <= [2, 20] <= health["maximum_protocol_api_version"]
    assert ot_api.health.home() == {"message": "Homing robot."}


def test_protocol_run_succeeds(client: RobotApiClient) -> None:
    """An uploaded protocol runs to success; its liquid-handling commands all succeeded, in order."""
    run_id = run_protocol(client, OK_PROTOCOL)

    run = wait_for_terminal(run_id)
    assert run["status"] == "succeeded", run["errors"]
    assert run["errors"] == []
    commands = run_commands(run_id)
    assert {command["status"] for command in commands} == {"succeeded"}
    # PAPI >= 2.16 drops a tip into the trash as moveToAddressableAreaForDropTip + dropTipInPlace.
    handling = [command["commandType"] for command in commands
                if not command["commandType"].startswith(("load", "home"))]
    assert handling == ["pickUpTip", "aspirate", "waitForDuration", "dispense", "moveToAddressableAreaForDropTip",
                        "dropTipInPlace"]
    [delay] = [command for command in commands if command["commandType"] == "waitForDuration"]
    assert delay["params"]["seconds"] == 600  # sped up in wall time only, not in what the run reports


def test_failing_protocol_run_reports_the_missing_tip(client: RobotApiClient) -> None:
    """A protocol aspirating without a tip fails; the run's errors and the failed command say why."""
    run_id = run_protocol(client, FAILING_PROTOCOL)

    run = wait_for_terminal(run_id)
    assert run["status"] == "failed"
    assert run["errors"], "a failed run reports its error"
    assert "TipNotAttachedError" in json.dumps(run["errors"])
    [failed] = [command for command in run_commands(run_id) if command["status"] == "failed"]
    assert failed["commandType"] == "aspirate"
    assert failed["error"]["errorType"] == "TipNotAttachedError"
    assert "tip" in failed["error"]["detail"].lower()


def test_live_run_driven_like_pylabrobot() -> None:
    """A live run: mounted pipettes and labware loaded, then a tip picked, liquid moved and the tip dropped."""
    left, right = start_live_run()
    assert (left["name"], right["name"]) == ("p20_single_gen2", "p300_single_gen2")
    assert left["pipetteId"] != right["pipetteId"]
    pipette = right["pipetteId"]
    tips = ot_api.labware.add("opentrons_96_tiprack_300ul", "opentrons", 1, 1)["data"]["result"]
    plate = ot_api.labware.add("corning_96_wellplate_360ul_flat", "opentrons", 2, 2)["data"]["result"]
    assert tips["definition"]["parameters"]["isTiprack"] is True
    assert plate["definition"]["parameters"]["loadName"] == "corning_96_wellplate_360ul_flat"

    picked = ot_api.lh.pick_up_tip(tips["labwareId"], "A1", pipette)["data"]
    aspirated = ot_api.lh.aspirate(plate["labwareId"], "A1", 100, P300_FLOW_RATE, pipette)["data"]
    dispensed = ot_api.lh.dispense(plate["labwareId"], "B1", 100, P300_FLOW_RATE, pipette)["data"]
    ot_api.lh.move_to_addressable_area_for_drop_tip(pipette)
    ot_api.lh.drop_tip_in_place(pipette)

    assert picked["result"]["tipVolume"] == 300
    assert picked["result"]["tipLength"] > 0
    assert aspirated["result"]["volume"] == dispensed["result"]["volume"] == 100
    assert aspirated["result"]["position"] != dispensed["result"]["position"]
    commands = run_commands(ot_api.run_id)
    assert [command["commandType"] for command in commands] == [
        "loadPipette", "loadPipette", "loadLabware", "loadLabware", "pickUpTip", "aspirate", "dispense",
        "moveToAddressableAreaForDropTip", "dropTipInPlace"]
    assert {command["status"] for command in commands} == {"succeeded"}
    assert {command["intent"] for command in commands} == {"setup"}
    assert ot_api.runs.get_run(ot_api.run_id)["status"] == "idle"  # setup commands never start the run
    stop_live_run()


def test_custom_labware_definition_is_loadable() -> None:
    """``ot_api.labware.define`` makes a custom definition loadable with ``ot_api.labware.add``."""
    definition = copy.deepcopy(load_definition("corning_96_wellplate_360ul_flat", 2))
    definition["namespace"] = "custom_beta"
    definition["parameters"]["loadName"] = "labtwin_custom_plate"
    start_live_run()

    uri = ot_api.labware.define(definition)["data"]["definitionUri"]
    loaded = ot_api.labware.add("labtwin_custom_plate", "custom_beta", 2, 3)["data"]["result"]

    assert uri == "custom_beta/labtwin_custom_plate/2"
    assert loaded["definition"]["namespace"] == "custom_beta"
    assert loaded["definition"]["parameters"]["loadName"] == "labtwin_custom_plate"
    assert uri in {labware["definitionUri"] for labware in ot_api.runs.get_run(ot_api.run_id)["labware"]}
    stop_live_run()


def test_no_modules_connected() -> None:
    """``ot_api.modules.list_connected_modules`` lists the twin's modules: none are attached."""
    assert ot_api.modules.list_connected_modules() == []


def test_failed_command_raises_ot_error() -> None:
    """A command the engine fails (aspirate without a tip) raises ot_api's OTError naming the error type."""
    left, _ = start_live_run()
    plate = ot_api.labware.add("corning_96_wellplate_360ul_flat", "opentrons", 2, 2)["data"]["result"]

    with pytest.raises(OTError, match="TipNotAttachedError"):
        ot_api.lh.aspirate(plate["labwareId"], "A1", 10, P20_FLOW_RATE, left["pipetteId"])

    assert ot_api.runs.get_run(ot_api.run_id)["status"] == "idle"  # a failed setup command does not fail the run
    stop_live_run()


def test_http_error_raises_with_the_error_body() -> None:
    """An HTTP error reaches ot_api's caller as an Exception carrying the twin's JSON error body."""
    with pytest.raises(Exception, match="RunNotFound") as raised:
        ot_api.runs.get_run("no-such-run")
    [error] = json.loads(str(raised.value))["errors"]
    assert error["id"] == "RunNotFound"
