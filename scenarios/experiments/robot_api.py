"""The robot API experiment: a protocol run on the OT-2's own HTTP API, then three robot faults.

1. a transfer protocol is uploaded, passes analysis, and its run succeeds;
2. the run fails at a chosen command with a tip-pickup error, and the error reaches the client;
3. the door opens mid-run: the run blocks, stays paused when the door closes, finishes on play;
4. the robot answers 503 once: the client sees the refusal, the next request works.

The client side is the orchestrator's :class:`~labtwin.orchestrator.ot2_robot_client.AsyncOT2RobotClient`,
unchanged for a real robot; the faults come from the twin's control routes, so this experiment
needs the robot API twin (``TwinLab(ot2_robot_api=True)``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from labtwin.errors import ProtocolError, RobotApiError

if TYPE_CHECKING:  # httpx and both clients load only when the experiment runs
    from labtwin.orchestrator.ot2_robot_client import AsyncOT2RobotClient
    from labtwin.twin.ot2.robot_api_twin import RobotApiControl

__all__ = ["TRANSFER_PROTOCOL", "run_robot_api_experiment"]

TRANSFER_PROTOCOL = b'''
requirements = {"robotType": "OT-2", "apiLevel": "2.20"}
metadata = {"protocolName": "labtwin transfer with a settle delay"}

def run(ctx):
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    plate = ctx.load_labware("corning_96_wellplate_360ul_flat", 2)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
    for source, destination in (("A1", "B1"), ("A2", "B2")):
        pipette.pick_up_tip()
        pipette.aspirate(100, plate[source])
        ctx.delay(seconds=120)
        pipette.dispense(100, plate[destination])
        pipette.drop_tip()
'''
"""Two 100 uL transfers, each with a 2-minute settle (1.2 s at the lab's default 100x speed-up)."""

def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ProtocolError(f"robot API experiment: {message}")


def _error_types(error: dict[str, Any]) -> list[str]:
    return [error.get("errorType", "?"), *(t for e in error.get("wrappedErrors", []) for t in _error_types(e))]


async def run_robot_api_experiment(robot: AsyncOT2RobotClient, control: RobotApiControl,
                                   report: Callable[[str], None]) -> None:
    """Run the four steps; raises :class:`~labtwin.errors.ProtocolError` if the robot misbehaves."""
    health = await robot.health()
    report(f"robot {health['name']} ({health['robot_model']}, software {health['api_version']})")

    started = time.perf_counter()
    run = await robot.run_protocol("transfer.py", TRANSFER_PROTOCOL)
    commands = await robot.commands(run["id"])
    _check(run["status"] == "succeeded", f"the clean run ended {run['status']}: {run['errors']}")
    report(f"1. clean run: {run['status']}, {len(commands)} commands in {time.perf_counter() - started:.2f} s")

    # Fault the first tip pickup: its 1-based position in the clean run's command list.
    faulted = next(index for index, c in enumerate(commands, 1) if c["commandType"] == "pickUpTip")
    await control.fail_command(faulted, "tip-pickup-failed")
    run = await robot.create_run(run["protocolId"])
    await robot.action(run["id"], "play")
    run = await robot.wait_for_run(run["id"])
    failed = [c for c in await robot.commands(run["id"]) if c["status"] == "failed"]
    _check(run["status"] == "failed" and "TipPickupFailedError" in _error_types(run["errors"][0]),
           f"the faulted run ended {run['status']} with {run['errors']}")
    _check([c["commandType"] for c in failed] == ["pickUpTip"], f"expected the pickUpTip to fail, got {failed}")
    report(f"2. tip pickup fails at command {faulted}: run {run['status']}, "
           f"failed command {failed[0]['commandType']} ({failed[0]['error']['errorType']})")

    run = await robot.create_run(run["protocolId"])
    await robot.action(run["id"], "play")
    await robot.wait_for_run(run["id"], {"running"}, timeout=30)
    await control.set_door(True)
    blocked = await robot.wait_for_run(run["id"], {"blocked-by-open-door"}, timeout=30)
    await control.set_door(False)
    paused = await robot.wait_for_run(run["id"], {"paused"}, timeout=30)
    await robot.action(run["id"], "play")
    run = await robot.wait_for_run(run["id"])
    _check(run["status"] == "succeeded", f"the run after the door closed ended {run['status']}")
    report(f"3. door opened mid-run: {blocked['status']} -> closed: {paused['status']} -> play: {run['status']}")

    await control.fault_route("/runs/*", method="GET", status=503)
    try:
        await robot.run(run["id"])
    except RobotApiError as refused:
        _check(refused.status_code == 503, f"expected a 503, got {refused}")
        again = await robot.run(run["id"])
        report(f"4. robot answered {refused.status_code} once; the next request got the run ({again['status']})")
    else:
        raise ProtocolError("robot API experiment: the injected 503 never reached the client")
    await control.clear()
