"""`labtwin run --ui`: the dashboard of an experiment's lab, and of each property example's lab in turn."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path


def _run(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labtwin.cli.main", "run", *arguments], capture_output=True,
                          text=True, cwd=cwd, timeout=110)


def test_an_experiment_run_serves_its_dashboard(tmp_path: Path) -> None:
    run = _run("sensor", "--ui", "--ui-port", "0", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"^  dashboard: http://127\.0\.0\.1:\d+/$", run.stdout, re.MULTILINE), run.stdout


def test_a_property_run_serves_each_examples_lab_on_one_address(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:  # a free ephemeral port, as --ui-port PORT would name
        port = probe.getsockname()[1]
    run = _run("chaos", "--ui", "--ui-port", str(port), "--examples", "2", "--steps", "3", "--speed", "10",
               cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "example 2:" in run.stdout, run.stdout
    urls = re.findall(r"^  dashboard: (http://\S+) \(each example's lab in turn\)$", run.stdout, re.MULTILINE)
    assert urls == [f"http://127.0.0.1:{port}/"], run.stdout  # printed once: the second example's lab reused it


def test_ui_at_max_speed_is_refused_in_one_line(tmp_path: Path) -> None:
    run = _run("sensor", "--ui", "--speed", "max", cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr.strip() == ("labtwin: error: --ui needs time to pass for the page: use --speed N "
                                  "(frames stay 4 a second), not max")
