"""A bench lab reaching a twin lab that another process serves: scenarios pass through the wire only."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from bench_testkit import ServedLab

from labtwin.cli.main import main


def test_the_lab_file_names_secrets_and_the_env_file_keeps_them_private(served_lab: ServedLab):
    text = served_lab.bench.read_text()
    assert 'username_env = "LABTWIN_BROKER_USERNAME"' in text and "[[boards]]" in text
    assert set(served_lab.env) == {"LABTWIN_BROKER_USERNAME", "LABTWIN_BROKER_PASSWORD", "LABTWIN_WIFI_SSID",
                                   "LABTWIN_WIFI_PASSWORD", "LABTWIN_PICO_W_LAB_001_PASSWORD"}
    assert 'password_env = "LABTWIN_PICO_W_LAB_001_PASSWORD"' in text  # the board's own broker user
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
    assert served_lab.proc.wait(timeout=60) == 0
    assert served_lab.output_ended.wait(timeout=60)  # every line it printed is read
    assert "labtwin serve lab: stopping" in served_lab.output
    assert not any("Traceback" in line for line in served_lab.output)
