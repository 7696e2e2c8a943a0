"""A fleet across hosts (issue #18): two shard processes on distinct loopback addresses share one broker, and
the orchestrator and a scenario see one lab through the fleet's lab file."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from labtwin.cli.main import main
from labtwin.scenarios.labs.bench_lab import BenchLab
from labtwin.scenarios.labs.fleet import shard_lab
from labtwin.scenarios.labs.lab_file import load_lab_config
from labtwin.twin.brokers import AmqttBroker, MosquittoBroker, mosquitto_available

HOSTS = {"rack-a": "127.0.0.2", "rack-b": "127.0.0.3"}
BOARDS = {"pico-a1": "rack-a", "pico-a2": "rack-a", "pico-b1": "rack-b"}
USER = "fleet"
READY = "labtwin serve lab: ready"


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """The fleet's one broker (Mosquitto when installed): its URL and the fleet user's password."""
    password = secrets.token_urlsafe(12)
    shared = (MosquittoBroker(work_dir=tmp_path / "mosquitto", users={USER: password}) if mosquitto_available()
              else AmqttBroker(users={USER: password}))
    async with shared:
        yield f"mqtt://{shared.host}:{shared.port}", password


@pytest.fixture
def fleet_file(tmp_path: Path, broker: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    url, password = broker
    monkeypatch.setenv("FLEET_USER", USER)
    monkeypatch.setenv("FLEET_PASSWORD", password)
    lines = ["[broker]", f'url = "{url}"', 'username_env = "FLEET_USER"', 'password_env = "FLEET_PASSWORD"', "",
             "[hosts]", *(f'{name} = "{address}"' for name, address in HOSTS.items())]
    for device_id, host in BOARDS.items():
        lines += ["", "[[boards]]", f'id = "{device_id}"', f'host = "{host}"']
    path = tmp_path / "fleet.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _read_lines(process: subprocess.Popen[str], lines: list[str], ready: threading.Event) -> None:
    """Every line ``process`` prints into ``lines``; ``ready`` set at the ready line (the pipe stays drained)."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip())
        if READY in line:
            ready.set()


@pytest.fixture
def shards(fleet_file: Path, tmp_path: Path) -> Iterator[dict[str, list[str]]]:
    """``labtwin serve lab --shard HOST`` for each host, in its own process; their output once ready."""
    processes: dict[str, subprocess.Popen[str]] = {}
    outputs: dict[str, list[str]] = {}
    try:
        for host in HOSTS:
            processes[host] = subprocess.Popen(
                [sys.executable, "-m", "labtwin.cli.main", "serve", "lab", "--lab", str(fleet_file), "--shard", host,
                 "--work-dir", str(tmp_path / host), "--ui-port", "0"], stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        for host, process in processes.items():
            lines: list[str] = []
            ready = threading.Event()
            threading.Thread(target=_read_lines, args=(process, lines, ready), daemon=True).start()
            # Both boot at once; a shard that hangs fails here instead of hanging the run.
            assert ready.wait(timeout=90), f"shard {host} did not come up:\n" + "\n".join(lines)
            outputs[host] = lines
        yield outputs
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def test_each_shard_serves_its_share_on_its_own_address(shards: dict[str, list[str]]) -> None:
    for host, address in HOSTS.items():
        output = "\n".join(shards[host])
        mine = sorted(device for device, on in BOARDS.items() if on == host)
        assert f"shard {host} up" in output and f"on {address}" in output, output
        consoles = dict(re.findall(r"console (\S+): socket://([\d.]+):\d+", output))
        assert sorted(consoles) == mine, output
        assert set(consoles.values()) == {address}, output
        assert re.search(rf"dashboard: http://{re.escape(address)}:\d+/", output) is None  # its UI stays on loopback


async def test_the_orchestrator_sees_one_lab_through_the_fleet_file(shards: dict[str, list[str]],
                                                                    fleet_file: Path) -> None:
    async with BenchLab(load_lab_config(fleet_file)) as lab:
        assert list(lab.device_ids) == list(BOARDS)
        for device_id in BOARDS:
            status = await lab.client(device_id).call("get_device_status")
            assert status["device_id"] == device_id
            assert await lab.client(device_id).call("control_led", {"pin": "LED", "state": True}) == \
                "LED on pin LED ON"


def test_a_scenario_runs_on_the_fleet_as_on_a_bench(shards: dict[str, list[str]], fleet_file: Path,
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["run", "sensor", "--lab", str(fleet_file), "--state-dir", str(tmp_path / "state")])
    output = capsys.readouterr().out
    assert status == 0, output
    assert f"devices {', '.join(BOARDS)}" in output and "passed on the bench" in output


def test_a_shard_mistake_is_one_line(fleet_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "lab", "--lab", str(fleet_file), "--shard", "rack-z"]) == 1
    assert capsys.readouterr().err.strip() == (f"labtwin: error: {fleet_file} has no host 'rack-z' "
                                               "(hosts: rack-a, rack-b)")


def test_a_shard_on_a_lan_address_keeps_its_consoles_on_loopback_and_boards_keep_their_fleet_seeds(
        fleet_file: Path) -> None:
    text = fleet_file.read_text(encoding="utf-8").replace('"127.0.0.3"', '"10.0.0.22"')
    fleet_file.write_text(text, encoding="utf-8")
    shard = shard_lab(fleet_file, "rack-b", seed=100)
    assert shard.options.host == "127.0.0.1"  # a REPL without a login never listens on the LAN
    assert shard.device_ids == ["pico-b1"]
    assert shard.options.boards["pico-b1"].seed == 102  # third board of the fleet file, not first of its share


def test_shard_options_that_do_not_apply_are_refused(fleet_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "lab", "--lab", str(fleet_file), "--shard", "rack-a", "--ot2"]) == 1
    assert "drop --ot2" in capsys.readouterr().err
