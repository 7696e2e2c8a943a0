"""Every property scenario against the real firmware, on a twin lab.

Budgets are each scenario's default (sized for CI); LABTWIN_EXAMPLES / LABTWIN_STEPS raise them
for a deeper run. A failure prints the minimal example and the `labtwin run` replay command. Each
runs at `--speed max` where its lab can (what `labtwin sweep` runs; the lab-time tests check that the
outcomes are the same at every speed), in real time where it has processes off the lab clock (the
OT-2 twins).
"""

from __future__ import annotations

import os

import pytest

from labtwin.errors import ConfigError
from labtwin.scenarios.engine.catalog import PROPERTY_SCENARIOS
from labtwin.scenarios.engine.runner import Budget, run_scenario
from labtwin.scenarios.labs.twin_lab import twin_lab_factory
from labtwin.scenarios.labs.twin_lab_options import TwinLabOptions
from labtwin.twin.lab_time.speed import REAL, Speed

MAX = Speed.parse("max")


def _fastest(lab_options: dict[str, object]) -> Speed:
    """``max`` unless the scenario's lab has something off the lab clock (an OT-2 twin): then real time."""
    try:
        TwinLabOptions(**{**lab_options, "speed": MAX})  # type: ignore[arg-type]
    except ConfigError:
        return REAL
    return MAX


@pytest.mark.parametrize("name", sorted(PROPERTY_SCENARIOS))
def test_scenario_holds_on_the_real_firmware(name: str) -> None:
    spec = PROPERTY_SCENARIOS[name]
    default = spec.default_budget
    budget = Budget(examples=int(os.environ.get("LABTWIN_EXAMPLES", default.examples)),
                    steps=int(os.environ.get("LABTWIN_STEPS", default.steps)))
    speed = _fastest(dict(spec.machine.lab_options))
    run = run_scenario(spec, lab_factory=twin_lab_factory(speed=speed), seed_value=0, budget=budget,
                       progress=lambda line: None)
    details = "\n".join([run.failure or "", *run.minimal_example, f"replay: {run.replay_command}"])
    assert run.passed, details
    assert run.examples_run >= 1 and run.steps_run >= run.examples_run
