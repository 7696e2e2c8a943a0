"""A bench lab reaching a twin lab that another process serves: scenarios pass through the wire only."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scenarios.cli import main
from scenarios.serve_lab import READY_LINE


@dataclass
class ServedLab:
    bench: Path
    env: dict[str, str]
    output: list[str]
    proc: subprocess.Popen[str]


def read_until(proc: subprocess.Popen[str], marker: str, output: list[str], timeout: float) -> None:
    """Collect the process's lines into ``output`` (a thread keeps reading) until one contains ``marker``."""
    assert proc.stdout is not None
    stdout = proc.stdout
    seen = threading.Event()

    def pump() -> None:
        for line in stdout:
            output.append(line.rstrip())
            if marker in line:
                seen.set()

    threading.Thread(target=pump, daemon=True).start()
    if not seen.wait(timeout):
        pytest.fail(f"no {marker!r} within {timeout:g} s (exit code {proc.poll()}); output: {output}")


def secrets_from(env_file: Path) -> dict[str, str]:
    """The variables a `source`d .env file would export."""
    values = {}
    for line in env_file.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        values[name] = shlex.split(value)[0]
    return values


@pytest.fixture(scope="module")
def served_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedLab]:
    """`labtwin serve lab` in its own process; always stopped (SIGINT, as Ctrl-C)."""
    work = tmp_path_factory.mktemp("served-lab")
    bench = work / "bench.toml"
    with subprocess.Popen([sys.executable, "-m", "scenarios.cli", "serve", "lab", "--bench-out", str(bench),
                           "--work-dir", str(work / "lab")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}) as proc:
        output: list[str] = []
        try:
            read_until(proc, READY_LINE, output, timeout=60)
            yield ServedLab(bench, secrets_from(work / "bench.toml.env"), output, proc)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def test_the_lab_file_names_secrets_and_the_env_file_keeps_them_private(served_lab: ServedLab):
    text = served_lab.bench.read_text()
    assert 'username_env = "LABTWIN_BROKER_USERNAME"' in text and "[[boards]]" in text
    assert set(served_lab.env) == {"LABTWIN_BROKER_USERNAME", "LABTWIN_BROKER_PASSWORD"}
    for secret in served_lab.env.values():
        assert secret not in text
        assert not any(secret in line for line in served_lab.output)
    env_file = served_lab.bench.with_name("bench.toml.env")
    assert env_file.stat().st_mode & 0o777 == 0o600


def test_an_experiment_passes_on_the_bench(served_lab: ServedLab, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]):
    for name, value in served_lab.env.items():
        monkeypatch.setenv(name, value)
    assert main(["run", "sensor", "--lab", str(served_lab.bench)]) == 0
    out = capsys.readouterr().out
    assert "read_sensor(sensor_pin=28)" in out and "scenario 'sensor' passed on the bench" in out
    assert "twin hardware" not in out  # a bench's pins cannot be read


def test_a_property_scenario_skips_twin_only_rules_on_the_bench(served_lab: ServedLab, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]):
    for name, value in served_lab.env.items():
        monkeypatch.setenv(name, value)
    argv = ["run", "chaos", "--lab", str(served_lab.bench), "--examples", "2", "--steps", "6",
            "--report-dir", str(tmp_path / "reports"), "--state-dir", str(tmp_path / "state")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "scenario 'chaos' passed" in out
    assert "skipped rule start_broker_outage: this lab has no 'faults' capability" in out
    assert "skipped rule effects_happen_at_most_once: this lab has no 'hardware' capability" in out


def test_wrong_credentials_and_twin_only_scenarios_are_clear_errors(served_lab: ServedLab,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("LABTWIN_BROKER_USERNAME", served_lab.env["LABTWIN_BROKER_USERNAME"])
    monkeypatch.setenv("LABTWIN_BROKER_PASSWORD", "wrong")
    assert main(["run", "sensor", "--lab", str(served_lab.bench)]) == 1
    assert "labtwin: error:" in capsys.readouterr().err
    assert main(["run", "robot-api", "--lab", str(served_lab.bench)]) == 1
    assert "only a twin lab can do" in capsys.readouterr().err


def test_ctrl_c_stops_the_served_lab_cleanly(served_lab: ServedLab):
    served_lab.proc.send_signal(signal.SIGINT)
    assert served_lab.proc.wait(timeout=20) == 0
    deadline = time.monotonic() + 5
    while "labtwin serve lab: stopping" not in served_lab.output and time.monotonic() < deadline:
        time.sleep(0.05)  # the reader thread drains the last lines
    assert "labtwin serve lab: stopping" in served_lab.output
    assert not any("Traceback" in line for line in served_lab.output)
