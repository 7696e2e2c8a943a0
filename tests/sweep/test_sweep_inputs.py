"""``labtwin sweep``'s mistakes, each one clear line before any worker starts; its report and figures, offline."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from labtwin.cli.main import main
from labtwin.cli.sweep_seed import SeedTask
from labtwin.errors import ConfigError
from labtwin.tools import sweep
from labtwin.tools.sweep import SeedResult, SweepResult, parse_seed_range
from labtwin.tools.sweep_report import write_sweep_report

SCENARIOS = Path(__file__).resolve().parent / "scenarios.py"


def error_of(capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    """The one line `labtwin sweep ARGUMENTS` prints before it exits 1."""
    assert main(["sweep", *arguments]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    return captured.err


@pytest.mark.parametrize(("seeds", "says"), [("5:2", "the end must be above the start"),
                                             ("3:3", "the end must be above the start"),
                                             ("7", "give a range A:B of whole numbers"),
                                             ("a:b", "give a range A:B of whole numbers"),
                                             ("-4:2", "seeds are not negative")])
def test_a_seed_range_that_is_not_one_is_refused(capsys: pytest.CaptureFixture[str], seeds: str, says: str) -> None:
    assert says in error_of(capsys, "chaos", f"--seeds={seeds}")


def test_a_seed_range_is_half_open_like_a_slice() -> None:
    assert parse_seed_range("0:1000") == range(1000)
    assert list(parse_seed_range("5:8")) == [5, 6, 7]
    with pytest.raises(ConfigError):
        parse_seed_range("1:0")


def test_an_experiment_or_an_unknown_scenario_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert "scenario 'sensor' is an experiment" in error_of(capsys, "sensor", "--seeds", "0:2")
    assert "unknown scenario 'no-such'" in error_of(capsys, "no-such", "--seeds", "0:2")
    assert "defines no scenario 'nothing'" in error_of(capsys, f"{SCENARIOS}::nothing", "--seeds", "0:2")
    assert "--lab missing.toml: no such file" in error_of(capsys, "chaos", "--seeds", "0:2", "--lab", "missing.toml")


def test_without_the_sweep_extra_the_error_says_how_to_install_it(capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` raises ImportError
    error = error_of(capsys, f"{SCENARIOS}::status-reads", "--seeds", "0:2")
    assert "pip install 'labtwin[sweep]'" in error


@pytest.mark.parametrize("address", ["not an address::", "tcp://127.0.0.1:{port}"])
def test_a_cluster_address_without_a_scheduler_is_one_line(capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    pytest.importorskip("distributed")
    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        address = address.format(port=unused.getsockname()[1])
        error = error_of(capsys, f"{SCENARIOS}::status-reads", "--seeds", "0:2", "--cluster", address)
    assert f"--cluster {address!r}: no Dask scheduler there" in error and "dask scheduler" in error


def test_workers_and_a_cluster_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", "chaos", "--seeds", "0:2", "--workers", "2", "--cluster", "tcp://127.0.0.1:8786"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_seed_that_cannot_run_comes_back_crashed_with_its_log(tmp_path: Path) -> None:
    task = SeedTask(scenario=f"{tmp_path / 'gone.py'}::gone", lab=None, speed="max", broker=None, examples=1,
                    steps=1, max_time=None, sweep_dir=tmp_path / "sweep")

    result = task(3)

    assert not result.passed and result.crashed and result.replay_command is None
    assert result.failure is not None and "gone.py" in result.failure
    assert result.log is not None and "seed 3 did not finish" in Path(result.log).read_text()


def failing(seed: int, steps: int) -> SeedResult:
    return SeedResult(seed=seed, passed=False, examples=9, steps=steps, lab_time_s=3.0, wall_s=2.0, worker="w:1",
                      failure="AssertionError: too hot\nmore detail", minimal_example=tuple(f"step {i}"
                                                                                           for i in range(steps)),
                      replay_command=f"labtwin run x --seed {seed} --examples 9 --steps 20")


def test_the_report_groups_failures_and_leads_with_the_shortest_minimal_example(tmp_path: Path) -> None:
    results = [SeedResult(seed=0, passed=True, examples=4, steps=40, lab_time_s=5.0, wall_s=1.0, worker="w:1"),
               failing(1, 5), failing(2, 2),
               SeedResult(seed=3, passed=False, crashed=True, failure="KilledWorker: gone", wall_s=9.0)]
    result = SweepResult(scenario="x", seeds=range(0, 4), results=results, wall_s=36.0, cores=2,
                         cluster="a local cluster", settings={"speed": "max"})

    assert result.seeds_per_hour_per_core == pytest.approx(200.0)  # 4 seeds in 1/100 h on 2 cores
    assert result.slowest is results[3]
    assert [(kind, [r.seed for r in seeds]) for kind, seeds in result.failure_groups()] == [
        ("AssertionError: too hot", [2, 1]), ("KilledWorker: gone", [3])]
    paths = write_sweep_report(result, tmp_path)
    report = json.loads(paths["json"].read_text())
    assert report["failures"][0]["shortest"] == 2 and report["failures"][0]["minimal_example"] == ["step 0", "step 1"]
    assert report["failures"][0]["replay_command"] == "labtwin run x --seed 2 --examples 9 --steps 20"
    assert report["slowest"] == {"seed": 3, "wall_s": 9.0}
    markdown = paths["markdown"].read_text()
    assert "| 3 | CRASHED |" in markdown
    assert "| 2 | FAILED | 9 | 2 | 3.0 | 2.00 | w:1 | AssertionError: too hot |" in markdown

