"""Ctrl-C in a running ``labtwin sweep``: the seeds that finished are kept in a report, nothing is left running."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

pytest.importorskip("distributed")

SCENARIOS = Path(__file__).resolve().parent / "scenarios.py"
DEADLINE_S = 120.0
"""Against hanging only: each wait below ends on an event."""


def lines_of(stream: object) -> queue.Queue[str | None]:
    """The stream's lines, read by a thread as they come (None at its end)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_ctrl_c_keeps_the_finished_seeds_in_a_report_and_stops_every_process(tmp_path: Path) -> None:
    # A range far longer than the test: it is interrupted once the first failing seed has come back.
    command = [sys.executable, "-m", "labtwin", "sweep", f"{SCENARIOS}::odd-seeds-break", "--seeds", "0:400",
               "--workers", "2", "--report-dir", str(tmp_path / "reports"), "--state-dir", str(tmp_path / "state"),
               "--no-dashboard"]
    # Its own process group, like a terminal's foreground job: Ctrl-C sends SIGINT to all of it.
    with subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as sweep:
        try:
            out = lines_of(sweep.stdout)
            seen: list[str] = []
            while not any(" FAILED: AssertionError" in line for line in seen):
                line = out.get(timeout=DEADLINE_S)
                assert line is not None, "".join(seen) + (sweep.stderr.read() if sweep.stderr else "")
                seen.append(line)
            processes = psutil.Process(sweep.pid).children(recursive=True)  # workers, their VMs and brokers
            assert processes
            os.killpg(sweep.pid, signal.SIGINT)
            sweep.wait(timeout=DEADLINE_S)
            while (line := out.get(timeout=DEADLINE_S)) is not None:
                seen.append(line)
            stderr = sweep.stderr.read() if sweep.stderr else ""
        finally:
            if sweep.poll() is None:
                os.killpg(sweep.pid, signal.SIGKILL)
                sweep.wait()
    text = "".join(seen)

    assert sweep.returncode == 130, text + stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert "interrupted: " in text and " of 400 seeds finished; cancelling the others" in text, text
    summary = next(line for line in seen if line.startswith("sweep of 'odd-seeds-break' INTERRUPTED after "))
    report = json.loads((tmp_path / "reports" / "sweep-odd-seeds-break-0-400.json").read_text())
    assert report["interrupted"] is True
    finished = report["finished"]
    assert 1 <= finished < 400 and f"INTERRUPTED after {finished} seeds" in summary
    assert len(report["results"]) == finished
    assert any(not r["passed"] and r["seed"] % 2 == 1 and r["replay_command"] for r in report["results"])
    markdown = (tmp_path / "reports" / "sweep-odd-seeds-break-0-400.md").read_text()
    assert f"({finished} finished): interrupted (Ctrl-C)" in markdown
    # Nothing the sweep started outlives it: its workers, and the VMs and brokers of their labs.
    _, alive = psutil.wait_procs(processes, timeout=DEADLINE_S)
    assert not alive, [(p.pid, p.name()) for p in alive]


def test_a_report_dir_that_cannot_be_made_is_refused_before_any_seed_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from labtwin.cli.main import main

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    code = main(["sweep", f"{SCENARIOS}::status-reads", "--seeds", "0:2", "--workers", "1",
                 "--report-dir", str(blocker / "reports"), "--no-dashboard"])
    captured = capsys.readouterr()

    assert code == 1
    refused = f"labtwin: error: --report-dir {blocker / 'reports'}: cannot create it (Not a directory)"
    assert captured.err.strip() == refused
    assert "sweep of" not in captured.out  # refused before the cluster started
