"""Helpers for the robot API twin tests: a real twin process (opentrons runs only there) and a client."""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from labtwin.twin.ot2.robot_api.__main__ import READY_LINE_PREFIX

REPO = Path(__file__).resolve().parents[2]
LATEST = {"Opentrons-Version": "*"}


@dataclass
class RobotApiProcess:
    """A running ``python -m labtwin.twin.ot2.robot_api``: its URL, start-up time and output so far.

    ``output_ended`` is set once its output has been read to the end (the process has exited).
    """

    url: str
    startup_s: float
    output: list[str] = field(default_factory=list)
    output_ended: threading.Event = field(default_factory=threading.Event)


def read_ready_url(proc: subprocess.Popen[str], timeout: float, seen: list[str]) -> str:
    """The URL from the process's ready line; fails with its output if it does not come in time."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            if not selector.select(remaining):
                break
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line.rstrip())
            if line.startswith(READY_LINE_PREFIX):
                return line[len(READY_LINE_PREFIX):].strip()
    pytest.fail(f"no ready line within {timeout:g} s (exit code {proc.poll()}); output: {seen}")


@contextlib.contextmanager
def robot_api_process(*args: str, work_dir: Path, timeout: float = 30.0) -> Iterator[RobotApiProcess]:
    """Start the twin on a free loopback port with ``args``; always terminated on exit.

    Its output keeps being read (and kept) after the ready line, so a chatty engine never blocks on a
    full pipe.
    """
    started = time.monotonic()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OT_API_CONFIG_DIR": str(work_dir / "opentrons-config")}
    with subprocess.Popen([sys.executable, "-m", "labtwin.twin.ot2.robot_api", "--port", "0", "--data-dir",
                           str(work_dir), *args], cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env, text=True) as proc:
        drain: threading.Thread | None = None
        try:
            output: list[str] = []
            url = read_ready_url(proc, timeout, output)
            process = RobotApiProcess(url=url, startup_s=time.monotonic() - started, output=output)
            assert proc.stdout is not None
            stdout = proc.stdout

            def read_to_the_end() -> None:
                output.extend(line.rstrip() for line in stdout)
                process.output_ended.set()

            drain = threading.Thread(target=read_to_the_end, daemon=True)
            drain.start()
            yield process
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if drain is not None:
                drain.join(timeout=5.0)


TERMINAL = {"succeeded", "failed", "stopped"}

OK_PROTOCOL = b'''
requirements = {"robotType": "OT-2", "apiLevel": "2.20"}
metadata = {"protocolName": "labtwin transfer"}

def run(ctx):
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    plate = ctx.load_labware("corning_96_wellplate_360ul_flat", 2)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
    pipette.pick_up_tip()
    pipette.aspirate(50, plate["A1"])
    ctx.delay(seconds=600)
    pipette.dispense(50, plate["B1"])
    pipette.drop_tip()
'''
"""Picks up a tip, moves 50 uL from A1 to B1 with a 10-minute delay between, drops the tip."""

FAILING_PROTOCOL = b'''
requirements = {"robotType": "OT-2", "apiLevel": "2.20"}

def run(ctx):
    plate = ctx.load_labware("corning_96_wellplate_360ul_flat", 2)
    pipette = ctx.load_instrument("p300_single_gen2", "right")
    pipette.aspirate(50, plate["A1"])
'''
"""Aspirates without a tip: the engine fails the run with a TipNotAttachedError."""


class RobotApiClient:
    """A thin httpx client of the twin speaking the robot API's envelopes (test plumbing only)."""

    def __init__(self, url: str, version: str = "*") -> None:
        self.http = httpx.Client(base_url=url, headers={"Opentrons-Version": version}, timeout=30.0)

    def close(self) -> None:
        self.http.close()

    def upload(self, content: bytes, name: str = "protocol.py", *extra: tuple[str, bytes]) -> dict[str, Any]:
        files = [("files", (name, content))] + [("files", (n, c)) for n, c in extra]
        response = self.http.post("/protocols", files=files)
        assert response.status_code == 201, response.text
        return response.json()["data"]

    def analysis(self, protocol_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """The protocol's first analysis, once completed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            analyses = self.http.get(f"/protocols/{protocol_id}/analyses").json()["data"]
            if analyses and analyses[0]["status"] == "completed":
                return analyses[0]
            time.sleep(0.05)
        raise AssertionError(f"analysis of {protocol_id} not completed in {timeout} s")

    def create_run(self, protocol_id: str | None = None) -> dict[str, Any]:
        body = {"data": {"protocolId": protocol_id}} if protocol_id else {"data": {}}
        response = self.http.post("/runs", json=body)
        assert response.status_code == 201, response.text
        return response.json()["data"]

    def action(self, run_id: str, action_type: str) -> httpx.Response:
        return self.http.post(f"/runs/{run_id}/actions", json={"data": {"actionType": action_type}})

    def run(self, run_id: str) -> dict[str, Any]:
        return self.http.get(f"/runs/{run_id}").json()["data"]

    def wait_for_status(self, run_id: str, statuses: set[str], timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run["status"] in statuses:
                return run
            time.sleep(0.02)
        raise AssertionError(f"run {run_id} never reached {statuses}; it is {self.run(run_id)['status']}")

    def finish_current_run(self) -> None:
        """Stop the current run if it is still going (tests leave no active run behind)."""
        current = self.http.get("/runs").json().get("links", {}).get("current")
        if current:
            run = self.http.get(current["href"]).json()["data"]
            if run["status"] not in TERMINAL:
                self.action(run["id"], "stop")
                self.wait_for_status(run["id"], TERMINAL)


@contextlib.contextmanager
def robot_api_client(url: str) -> Iterator[RobotApiClient]:
    """A client of the twin at ``url``; on exit the run still going, if any, is stopped and the client closed."""
    api = RobotApiClient(url)
    try:
        yield api
    finally:
        try:
            api.finish_current_run()
        finally:
            api.close()
