"""``labtwin sweep`` on real Dask clusters of two worker processes: the report, the failures and their replay.

Two clusters in all (each start costs seconds on a small machine): the one ``--workers 2`` starts
and stops itself, and one this module starts as a user would run ``dask scheduler`` and two ``dask
worker`` processes, reached with ``--cluster``. Each seed runs ``tests/sweep/scenarios.py`` scenarios
at ``--speed max``: one board, a status read per step.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from labtwin.cli.main import main

distributed = pytest.importorskip("distributed")

SCENARIOS = Path(__file__).resolve().parent / "scenarios.py"


@pytest.fixture(scope="module")
def scheduler_address() -> Iterator[str]:
    """A running cluster of two one-thread worker processes, as `dask scheduler` + `dask worker` would make."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def test_a_sweep_on_a_local_cluster_reports_each_seed_and_each_failure_shrunk_with_its_replay(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["sweep", f"{SCENARIOS}::odd-seeds-break", "--seeds", "0:4", "--workers", "2",
                 "--report-dir", "reports", "--no-dashboard"])
    out = capsys.readouterr().out

    assert code == 1, out  # odd seeds fail
    assert "on a local cluster of 2 workers" in out
    assert "seed 1 FAILED: AssertionError: value 11 is above 10 on an odd seed" in out
    assert "  seeds 4/4, 2 failed, " in out
    assert "2 passed, 2 failed of 4 seeds" in out and "seeds per hour per core; slowest seed " in out
    report = json.loads((tmp_path / "reports" / "sweep-odd-seeds-break-0-4.json").read_text())
    assert (report["passed"], report["failed"], report["cores"], report["seeds"]) == (2, 2, 2, "0:4")
    assert report["seeds_per_hour_per_core"] > 0
    by_seed = {r["seed"]: r for r in report["results"]}
    assert [by_seed[seed]["passed"] for seed in range(4)] == [True, False, True, False]
    for result in report["results"]:
        assert result["examples"] >= 1 and result["steps"] >= 1 and result["lab_time_s"] > 0 and result["wall_s"] > 0
        assert Path(result["log"]).is_file()  # each seed's own state dir, under the sweep's
        assert f"sweeps/odd-seeds-break-0-4/seed-{result['seed']}/" in result["log"]
    # Hypothesis shrank each failure to the one step that breaks, with the smallest breaking value.
    failure = report["failures"][0]
    assert failure["failure"] == "AssertionError: value 11 is above 10 on an odd seed"
    assert failure["seeds"] == [1, 3]
    assert "state.read_status(value=11)" in failure["minimal_example"]
    assert sum("read_status" in line for line in failure["minimal_example"]) == 1
    replay = by_seed[failure["shortest"]]["replay_command"]
    assert replay == failure["replay_command"]
    assert replay.startswith(f"labtwin run {SCENARIOS}::odd-seeds-break --speed max --seed {failure['shortest']} ")
    assert Path(by_seed[1]["report"]).is_file()  # the failing seed's own HTML report
    markdown = (tmp_path / "reports" / "sweep-odd-seeds-break-0-4.md").read_text()
    assert "| 1 | FAILED | " in markdown and "| 0 | yes | " in markdown
    assert f"Replay: `{replay}`" in markdown

    # The replay command runs the same seed again and fails with the same minimal example.
    assert main(shlex.split(replay)[1:]) == 1
    replayed = capsys.readouterr().out
    assert "FAILED" in replayed and "state.read_status(value=11)" in replayed


def test_a_sweep_on_a_running_scheduler_passes_every_seed_and_exits_zero(
        scheduler_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", f"{SCENARIOS}::status-reads", "--seeds", "10:14", "--cluster", scheduler_address,
                 "--examples", "1", "--state-dir", str(tmp_path / "state"), "--report-dir", str(tmp_path)])
    out = capsys.readouterr().out

    assert code == 0, out
    assert f"on the scheduler at {scheduler_address}" in out
    assert "4 passed, 0 failed of 4 seeds" in out
    report = json.loads((tmp_path / "sweep-status-reads-10-14.json").read_text())
    assert [r["seed"] for r in report["results"]] == [10, 11, 12, 13]
    assert all(r["passed"] and r["examples"] == 1 for r in report["results"])
    assert report["cores"] == 2 and report["failures"] == []
    assert report["settings"] == {"speed": "max", "examples": 1, "steps": 2}

