"""`labtwin run robot-api`: the robot API experiment on a twin lab, end to end through the CLI."""

from __future__ import annotations

import pytest

from labtwin.cli.main import main


def test_robot_api_experiment_passes_with_every_fault_seen(capsys: pytest.CaptureFixture[str]):
    assert main(["run", "robot-api"]) == 0
    out = capsys.readouterr().out
    for expected in ("OT-2 robot API twin http://127.0.0.1:", "1. clean run: succeeded",
                     "failed command pickUpTip (TipPickupFailedError)",
                     "blocked-by-open-door -> closed: paused -> play: succeeded",
                     "robot answered 503 once", "scenario 'robot-api' passed"):
        assert expected in out
