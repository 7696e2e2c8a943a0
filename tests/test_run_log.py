"""A run's log: everything in the log file; the terminal leaves out the connection churn faults cause (-v shows it)."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from labtwin.cli.run_log import RunLog


def _emit_a_run_with_faults() -> None:
    logging.getLogger("labtwin.orchestrator.connection").warning("lost MQTT broker 127.0.0.1:1883 (reset)")
    logging.getLogger("amqtt.broker").error("No data from client")
    logging.getLogger("asyncio").error("Future exception was never retrieved")
    logging.getLogger("labtwin.twin.board").warning("board pico-a: firmware printed a traceback")
    logging.getLogger("labtwin.scenarios").info("example 1 done")


def test_the_terminal_leaves_out_connection_churn_and_the_file_keeps_everything(tmp_path: Path) -> None:
    terminal = io.StringIO()
    path = tmp_path / "logs" / "chaos-0.log"
    with RunLog(path, terminal=terminal) as run_log:
        _emit_a_run_with_faults()
    shown = terminal.getvalue()
    assert shown == "WARNING labtwin.twin.board: board pico-a: firmware printed a traceback\n"
    kept = path.read_text()
    for line in ("lost MQTT broker", "No data from client", "Future exception", "printed a traceback",
                 "example 1 done"):
        assert line in kept
    assert run_log.hidden == 3
    assert run_log.summary() == (f"log: {path} (3 lines of expected connection churn not shown here; "
                                 "-v shows them)")
    assert all(getattr(handler, "stream", None) is not terminal for handler in logging.getLogger().handlers)


def test_verbose_shows_everything_on_the_terminal(tmp_path: Path) -> None:
    terminal = io.StringIO()
    with RunLog(tmp_path / "run.log", verbose=True, terminal=terminal) as run_log:
        _emit_a_run_with_faults()
    assert terminal.getvalue().count("\n") == 5 and run_log.hidden == 0
    assert run_log.summary() == f"log: {tmp_path / 'run.log'}"


@pytest.mark.timeout(300)
def test_chaos_keeps_its_expected_reconnects_off_the_terminal(tmp_path: Path) -> None:
    # Seed 0's first example cuts the broker several times: the orchestrator logs each lost broker.
    run = subprocess.run([sys.executable, "-m", "labtwin", "run", "chaos", "--speed", "max", "--examples", "1",
                          "--state-dir", str(tmp_path / "state"), "--report-dir", str(tmp_path / "reports")],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    log = (tmp_path / "state" / "logs" / "chaos-0.log").read_text()
    assert "lost MQTT broker" in log and "reconnected to MQTT broker" in log
    assert "lost MQTT broker" not in run.stderr + run.stdout and "amqtt" not in run.stderr
    assert f"log: {tmp_path / 'state' / 'logs' / 'chaos-0.log'} (" in run.stdout
