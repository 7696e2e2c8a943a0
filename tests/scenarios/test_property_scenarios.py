"""Every property scenario against the real firmware, on a twin lab.

Budgets are each scenario's default (sized for CI); LABTWIN_EXAMPLES / LABTWIN_STEPS raise them
for a deeper run. A failure prints the minimal example and the `labtwin run` replay command.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labtwin.scenarios.engine.catalog import PROPERTY_SCENARIOS
from labtwin.scenarios.engine.runner import Budget, run_scenario
from labtwin.scenarios.labs.twin_lab import twin_lab_factory


@pytest.mark.parametrize("name", sorted(PROPERTY_SCENARIOS))
def test_scenario_holds_on_the_real_firmware(name: str, tmp_path: Path) -> None:
    spec = PROPERTY_SCENARIOS[name]
    default = spec.default_budget
    budget = Budget(examples=int(os.environ.get("LABTWIN_EXAMPLES", default.examples)),
                    steps=int(os.environ.get("LABTWIN_STEPS", default.steps)))
    run = run_scenario(spec, lab_factory=twin_lab_factory(), seed_value=0, budget=budget,
                       state_dir=tmp_path, progress=lambda line: None)
    details = "\n".join([run.failure or "", *run.minimal_example, f"replay: {run.replay_command}"])
    assert run.passed, details
    assert run.examples_run >= 1 and run.steps_run >= run.examples_run
