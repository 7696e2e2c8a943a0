"""The dashboard of a served lab, and of a bench reached only through its lab file (read-only, from MQTT alone)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench_testkit import ServedLab, interrupt, read_until

from labtwin.cli.main import main
from labtwin.cli.serve import READY_LINE

DEVICE = "pico-w-lab-001"


def _dashboard_url(output: list[str]) -> str:
    for line in output:
        match = re.search(r"dashboard(?: of .*\(read-only\))?: (http://127\.0\.0\.1:\d+/)", line)
        if match:
            return match.group(1)
    raise AssertionError("no dashboard URL in:\n" + "\n".join(output))


@pytest.fixture
def bench_dashboard(bench_env: ServedLab, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """`labtwin serve lab --bench` on the served lab's bench file: its URL and output."""
    command = [sys.executable, "-m", "labtwin.cli.main", "serve", "lab", "--bench", "--lab", str(bench_env.bench),
               "--ui-port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          text=True, cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"}) as proc:
        output: list[str] = []
        try:
            read_until(proc, READY_LINE, output, timeout=60)
            yield _dashboard_url(output), output
        finally:
            interrupt(proc)


def test_the_served_lab_prints_its_dashboard_and_the_page_shows_its_board(served_lab: ServedLab) -> None:
    url = _dashboard_url(served_lab.output)
    page = httpx.get(url, timeout=10)
    assert page.status_code == 200 and "labtwin dashboard" in page.text
    state = httpx.get(url + "api/state", timeout=10).json()
    assert state["twin"] is True and DEVICE in state["boards"]
    assert "power_cut" in state["fault_menu"][DEVICE] and "partition" in state["fault_menu"][DEVICE]


def test_a_bench_dashboard_is_read_only_and_sees_the_traffic(bench_env: ServedLab,
                                                             bench_dashboard: tuple[str, list[str]]) -> None:
    url, output = bench_dashboard
    assert any("(read-only)" in line for line in output)

    with httpx.Client(timeout=10) as client:
        refused = client.post(url + "api/faults", json={"target": DEVICE, "kind": "power_cut"})
        assert refused.status_code == 403 and "read-only" in refused.json()["detail"]
        with client.stream("GET", url + "api/events") as events:
            lines = events.iter_lines()
            assert next(lines) == "retry: 1000"  # a page reconnects to a lab that comes back
            assert next(lines) == "event: snapshot"
            # A call while the page listens: traffic the dashboard sees on the broker, nothing else.
            assert main(["call", DEVICE, "get_device_status", "--lab", str(bench_env.bench)]) == 0
            for line in lines:  # ends at the frame that carries the call's result
                if '"task":"get_device_status"' in line and '"ok":true' in line:
                    break
    state = httpx.get(url + "api/state", timeout=10).json()
    assert state["twin"] is False and state["fault_menu"] == {}
    assert state["boards"][DEVICE]["online"] is True
    assert state["boards"][DEVICE]["free_memory"] > 0  # from the get_device_status result on the wire
    assert "hardware" not in state["boards"][DEVICE]


def test_a_dashboard_port_in_use_is_one_error_line(bench_env: ServedLab, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "labtwin.cli.main", "serve", "lab", "--bench", "--lab",
                              str(bench_env.bench), "--ui-port", str(port)], capture_output=True, text=True,
                             cwd=tmp_path, timeout=60)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stderr.strip().splitlines() == [
        f"labtwin: error: the dashboard cannot listen on 127.0.0.1:{port}: the port is in use; "
        "pass --ui-port 0 (any free port) or another"]
