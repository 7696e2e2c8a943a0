"""The seed's hybrid experiment: the OT-2 twin over HTTP and the Pico W twin over MQTT, in one lab."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labtwin.cli.main import main
from labtwin.errors import ConfigError
from labtwin.scenarios.experiments.hybrid import DEFAULT_MIXES, run_hybrid_experiment
from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.scenarios.labs.twin_lab_options import BENCH_SENSOR_VOLTS


def test_labtwin_run_hybrid_prints_a_table_of_mixes_and_readings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "hybrid"]) == 0
    out = capsys.readouterr().out
    assert "OT-2 twin http://127.0.0.1:" in out
    rows = [line for line in out.splitlines() if " | " in line]
    assert len(rows) == 1 + len(DEFAULT_MIXES)  # the header, then one row per mix
    for mix, row in zip(DEFAULT_MIXES, rows[1:], strict=True):
        assert row.split()[:2] == [mix.name, mix.well]
    for expected in ("deck after the run: 9 tips used, 87 left", "robot time by opentrons' estimate",
                     "twin run log: 4 task call(s)", "scenario 'hybrid' passed"):
        assert expected in out


async def test_the_experiment_drives_both_twins_only_through_their_clients(tmp_path: Path) -> None:
    async with TwinLab(work_dir=tmp_path / "lab", timeout=5.0, ot2=True) as lab:
        report = await run_hybrid_experiment(lab.ot2_client(), lab.client("pico-w-lab-001"), report=lambda _: None)
        run_log = lab.ot2_twin().run_log()
    assert [step.mix_result["well"] for step in report.steps] == [mix.well for mix in DEFAULT_MIXES]
    for step in report.steps:
        assert step.reading["voltage"] == pytest.approx(BENCH_SENSOR_VOLTS[0], abs=0.02)
        assert step.mix_result["estimated_robot_s"] > 0
    assert report.deck["reservoir_ul"]["red"] == 12_000 - 120 - 120 - 80
    assert [entry["task"] for entry in run_log] == ["mix_color"] * len(DEFAULT_MIXES)
    assert report.estimated_robot_s == pytest.approx(sum(e["estimated_robot_s"] for e in run_log))


def test_the_default_lab_has_no_ot2() -> None:
    lab = TwinLab()
    assert lab.ot2_url is None
    with pytest.raises(ConfigError, match="ot2=True"):
        lab.ot2_client()


def test_the_default_run_path_imports_neither_opentrons_nor_the_http_stack() -> None:
    probe = ("import sys, labtwin.cli.main, labtwin.scenarios.engine.catalog, labtwin.scenarios.labs.twin_lab, "
             "labtwin.orchestrator; "
             "print(sorted(m for m in ('opentrons', 'fastapi', 'uvicorn', 'httpx') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.strip() == "[]"
