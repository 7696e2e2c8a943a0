"""A fleet across hosts (issue #18): two shard processes on distinct loopback addresses share one broker, and
the orchestrator and a scenario see one lab through the fleet's lab file."""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import aiomqtt
import psutil
import pytest

from labtwin.cli.dashboard_options import dashboard_for
from labtwin.cli.main import build_parser, main
from labtwin.errors import ConfigError
from labtwin.scenarios.labs.bench_lab import BenchLab
from labtwin.scenarios.labs.fleet import is_local_address, shard_lab
from labtwin.scenarios.labs.lab_file import load_lab_config
from labtwin.twin.brokers import AmqttBroker, MosquittoBroker, mosquitto_available

HOSTS = {"rack-a": "127.0.0.2", "rack-b": "127.0.0.3"}
BOARDS = {"pico-a1": "rack-a", "pico-a2": "rack-a", "pico-b1": "rack-b"}
USER = "fleet"
READY = "labtwin serve lab: ready"
FOREIGN = ("203.0.113.22", "2001:db8::22")  # documentation ranges (RFC 5737, RFC 3849)


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


class _Served:
    """A ``labtwin serve lab`` process and its stdout and stderr lines, read as they come (the pipes stay drained)."""

    def __init__(self, *arguments: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "labtwin.cli.main", "serve", "lab", *arguments], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.out: list[str] = []
        self.err: list[str] = []
        self._settled = threading.Event()  # its ready line, or the end of its stdout (it exited)
        self._readers = [threading.Thread(target=self._read, args=(self.process.stdout, self.out), daemon=True),
                         threading.Thread(target=self._read, args=(self.process.stderr, self.err), daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[str] | None, lines: list[str]) -> None:
        assert stream is not None
        try:
            for line in stream:
                lines.append(line.rstrip())
                if READY in line:
                    self._settled.set()
        finally:
            if stream is self.process.stdout:
                self._settled.set()

    @property
    def ready(self) -> bool:
        """Whether it printed its ready line."""
        return any(READY in line for line in self.out)

    @property
    def output(self) -> str:
        return "\n".join(self.out + self.err)

    def settle(self, timeout: float = 90) -> bool:
        """Wait until it is ready or has exited; True if ready (a process that hangs fails here instead)."""
        assert self._settled.wait(timeout), "neither ready nor exited:\n" + self.output
        return self.ready

    def exit_status(self, timeout: float = 30) -> int:
        """Wait for it to exit (after it settled) and for the rest of its output."""
        status = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=timeout)
        return status

    def stop(self) -> None:
        """Ctrl-C, then kill if it does not end; every line it printed is read."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(timeout=30)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _free_port_on_every_host() -> int:
    """A port free on each of HOSTS' addresses (as the default port 8742 is, on a machine without labtwin)."""
    with socket.create_server((HOSTS["rack-a"], 0)) as probe:
        port: int = probe.getsockname()[1]
    for address in HOSTS.values():
        with socket.create_server((address, port)):
            pass
    return port


@pytest.fixture
def ui_port() -> int:
    """The one dashboard port every shard is given: shards on distinct addresses must not clash on it."""
    return _free_port_on_every_host()


def _shard(fleet_file: Path, host: str, work_dir: Path, *options: str) -> _Served:
    """``labtwin serve lab --shard HOST`` started in its own process (stop it)."""
    return _Served("--lab", str(fleet_file), "--shard", host, "--work-dir", str(work_dir), *options)


@pytest.fixture
def shards(fleet_file: Path, tmp_path: Path, ui_port: int) -> Iterator[dict[str, _Served]]:
    """``labtwin serve lab --shard HOST`` for each host, in its own process, once ready."""
    processes: dict[str, _Served] = {}
    try:
        for host in HOSTS:
            processes[host] = _shard(fleet_file, host, tmp_path / host, "--ui-port", str(ui_port))
        for host, process in processes.items():
            # Both boot at once; a shard that hangs fails here instead of hanging the run.
            assert process.settle(), f"shard {host} did not come up:\n" + process.output
        yield processes
    finally:
        for process in processes.values():
            process.stop()


def test_each_shard_serves_its_share_on_its_own_address(shards: dict[str, _Served], ui_port: int) -> None:
    for host, address in HOSTS.items():
        output = "\n".join(shards[host].out)
        assert shards[host].err == [], shards[host].output  # a loopback address is this machine's: no note
        mine = sorted(device for device, on in BOARDS.items() if on == host)
        assert f"shard {host} up" in output and f"on {address}" in output, output
        consoles = dict(re.findall(r"console (\S+): socket://([\d.]+):\d+", output))
        assert sorted(consoles) == mine, output
        assert set(consoles.values()) == {address}, output
        # Its dashboard listens where its consoles do (a loopback address), so both shards have the one port.
        assert f"dashboard: http://{address}:{ui_port}/" in output, output


async def test_the_orchestrator_sees_one_lab_through_the_fleet_file(shards: dict[str, _Served],
                                                                    fleet_file: Path) -> None:
    async with BenchLab(load_lab_config(fleet_file)) as lab:
        assert list(lab.device_ids) == list(BOARDS)
        for device_id in BOARDS:
            status = await lab.client(device_id).call("get_device_status")
            assert status["device_id"] == device_id
            assert await lab.client(device_id).call("control_led", {"pin": "LED", "state": True}) == \
                "LED on pin LED ON"


def test_a_scenario_runs_on_the_fleet_as_on_a_bench(shards: dict[str, _Served], fleet_file: Path,
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["run", "sensor", "--lab", str(fleet_file), "--state-dir", str(tmp_path / "state")])
    output = capsys.readouterr().out
    assert status == 0, output
    assert f"devices {', '.join(BOARDS)}" in output and "passed on the bench" in output


def _already_online(boards: str, url: str, host: str) -> str:
    verb = "is" if "," not in boards else "are"
    return (f"labtwin: error: {boards} {verb} already online on {url}: is shard {host} running already, here or on "
            "another host? Stop it first (a board two shards serve flaps between them); if none is, the retained "
            "status is stale (docs/fleets.md: clear it)")


async def test_a_shard_started_twice_is_refused_and_the_running_one_keeps_its_boards(
        shards: dict[str, _Served], fleet_file: Path, broker: tuple[str, str], tmp_path: Path) -> None:
    again = _shard(fleet_file, "rack-a", tmp_path / "again", "--no-ui")
    try:
        assert not again.settle(), again.output  # it boots nothing: its boards would flap with the running ones
        assert again.exit_status() == 1
        assert again.err == [_already_online("pico-a1, pico-a2", broker[0], "rack-a")], again.output
    finally:
        again.stop()
    async with BenchLab(load_lab_config(fleet_file)) as lab:  # the running shard's boards answer, undisturbed
        assert (await lab.client("pico-a1").call("get_device_status"))["device_id"] == "pico-a1"
    # Stopped, a shard's boards say offline (cleanly, or by their will), so it starts again without complaint.
    shards["rack-a"].stop()
    restarted = _shard(fleet_file, "rack-a", tmp_path / "restarted", "--no-ui")
    try:
        assert restarted.settle(), restarted.output
        assert restarted.err == [], restarted.output
    finally:
        restarted.stop()


async def test_a_stale_online_status_refuses_the_shard_until_it_is_cleared(
        fleet_file: Path, broker: tuple[str, str], tmp_path: Path) -> None:
    url, password = broker
    host, port = url.removeprefix("mqtt://").rsplit(":", 1)
    topic = "ot2/pico-b1/status"
    async with aiomqtt.Client(host, int(port), username=USER, password=password) as client:
        # What a broker with persistence may keep of a board whose shard stopped while it was down.
        await client.publish(topic, json.dumps({"device_id": "pico-b1", "status": "online", "protocol": 1}),
                             qos=1, retain=True)
    refused = _shard(fleet_file, "rack-b", tmp_path / "refused", "--no-ui")
    try:
        assert not refused.settle(), refused.output
        assert refused.exit_status() == 1
        assert refused.err == [_already_online("pico-b1", url, "rack-b")], refused.output
    finally:
        refused.stop()
    async with aiomqtt.Client(host, int(port), username=USER, password=password) as client:
        await client.publish(topic, b"", qos=1, retain=True)  # mosquitto_pub -r -n -t ot2/pico-b1/status
    served = _shard(fleet_file, "rack-b", tmp_path / "served", "--no-ui")
    try:
        assert served.settle(), served.output
        assert served.err == [], served.output
    finally:
        served.stop()


def test_local_addresses_are_the_interfaces_and_all_of_loopback() -> None:
    for address in ("127.0.0.1", "127.0.0.3", "127.255.255.254", "::1"):
        assert is_local_address(address), address
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family in (socket.AF_INET, socket.AF_INET6):
                assert is_local_address(entry.address), entry  # fe80::1%eth0 too: its zone is not the address
    for address in FOREIGN:
        assert not is_local_address(address), address


def test_a_shard_on_another_machines_address_says_so_and_serves(fleet_file: Path, tmp_path: Path) -> None:
    foreign = FOREIGN[0]
    interfaces = {entry.address for entries in psutil.net_if_addrs().values() for entry in entries}
    assert foreign not in interfaces, "this machine has the documentation address the test takes as another's"
    fleet_file.write_text(fleet_file.read_text(encoding="utf-8").replace('"127.0.0.3"', f'"{foreign}"'),
                          encoding="utf-8")
    shard = _shard(fleet_file, "rack-b", tmp_path / "rack-b", "--no-ui")
    try:
        assert shard.settle(), shard.output
        assert shard.err == [f"labtwin: note: {foreign} (hosts.rack-b) is not an address of this machine: is this "
                             "rack-b? Serving on 127.0.0.1"], shard.output
        assert any(line.startswith("labtwin ") and "shard rack-b up" in line and "on 127.0.0.1 " in line
                   for line in shard.out), shard.output
    finally:
        shard.stop()


def test_serving_a_fleet_file_without_shard_says_it_serves_every_host_here(fleet_file: Path, tmp_path: Path) -> None:
    whole = _Served("--lab", str(fleet_file), "--work-dir", str(tmp_path / "whole"), "--no-ui",
                    "--bench-out", str(tmp_path / "bench.toml"))
    try:
        assert whole.settle(), whole.output  # still served, all of it
        assert whole.err == [f"labtwin: note: {fleet_file} places its boards on hosts (rack-a, rack-b): this serves "
                             "all of them here, on a broker of its own; use --shard HOST to serve one host's share "
                             "on the fleet's broker"], whole.output
        assert any(f"devices {', '.join(BOARDS)})" in line for line in whole.out), whole.output
    finally:
        whole.stop()


def test_a_shard_mistake_is_one_line(fleet_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "lab", "--lab", str(fleet_file), "--shard", "rack-z"]) == 1
    assert capsys.readouterr().err.strip() == (f"labtwin: error: {fleet_file} has no host 'rack-z' "
                                               "(hosts: rack-a, rack-b)")


def test_a_shard_on_a_lan_address_keeps_its_consoles_on_loopback_and_boards_keep_their_fleet_seeds(
        fleet_file: Path) -> None:
    text = fleet_file.read_text(encoding="utf-8").replace('"127.0.0.3"', '"10.0.0.22"')
    fleet_file.write_text(text, encoding="utf-8")
    shard = shard_lab(load_lab_config(fleet_file), "rack-b", seed=100)
    assert shard.options.host == "127.0.0.1"  # a REPL without a login never listens on the LAN
    assert shard.device_ids == ["pico-b1"]
    assert shard.options.boards["pico-b1"].seed == 102  # third board of the fleet file, not first of its share


def test_shard_options_that_do_not_apply_are_refused(fleet_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "lab", "--lab", str(fleet_file), "--shard", "rack-a", "--ot2"]) == 1
    assert "drop --ot2" in capsys.readouterr().err


def _lab_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text('[broker]\nurl = "mqtt://127.0.0.1:1883"\n\n' + text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, problem", [
    # A board without a host would be simulated by no shard (and found offline by `labtwin run` later).
    ('[hosts]\nrack-a = "127.0.0.2"\nrack-b = "127.0.0.3"\n[[boards]]\nid = "pico-a1"\nhost = "rack-a"\n'
     '[[boards]]\nid = "pico-b1"\n',
     "boards[1].host is missing: this file places boards on hosts (rack-a, rack-b); give each board one"),
    ('[hosts]\nrack-a = "127.0.0.2"\nrack-b = "127.0.0.3"\n[[boards]]\nid = "pico-a1"\nhost = "rack-a"\n'
     '[[boards]]\nid = "pico-b1"\nhost = "rack-c"\n',
     "boards[1].host 'rack-c' is not in [hosts] (known: rack-a, rack-b)"),
    ('[[boards]]\nid = "pico-a1"\nhost = "rack-a"\n',
     "boards[0].host 'rack-a' is not in [hosts] (the file has no [hosts] table)"),
    ('[hosts]\nrack-a = "127.0.0.2"\nrack-b = "rack-b.lab.local"\n[[boards]]\nid = "pico-a1"\nhost = "rack-a"\n',
     "hosts.rack-b 'rack-b.lab.local' must be an IP address, IPv4 (10.0.0.21) or IPv6 (fd00::21); host names are "
     "not looked up"),
    ('[hosts]\nrack-a = "10.0.0.300"\n[[boards]]\nid = "pico-a1"\nhost = "rack-a"\n',
     "hosts.rack-a '10.0.0.300' must be an IP address, IPv4 (10.0.0.21) or IPv6 (fd00::21); host names are "
     "not looked up"),
    ('[hosts]\n"rack a" = "10.0.0.21"\n[[boards]]\nid = "pico-a1"\nhost = "rack a"\n',
     "hosts: the host name 'rack a' must be 1-64 letters, digits, '.', '_' or '-'"),
])
def test_a_fleet_file_mistake_is_one_line_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         text: str, problem: str) -> None:
    path = _lab_file(tmp_path, text)
    assert main(["serve", "lab", "--lab", str(path), "--shard", "rack-a"]) == 1
    assert capsys.readouterr().err.splitlines() == [f"labtwin: error: {path}: {problem}"]


def test_a_host_may_be_an_ipv6_address(tmp_path: Path) -> None:
    config = load_lab_config(_lab_file(tmp_path, '[hosts]\nrack-a = "::1"\n[[boards]]\nid = "a"\nhost = "rack-a"\n'))
    assert config.hosts == {"rack-a": "::1"}


def test_unset_broker_variables_the_file_names_are_a_note_not_an_error(tmp_path: Path) -> None:
    path = _lab_file(tmp_path, '[[boards]]\nid = "a"\n')
    assert load_lab_config(path, environ={}).broker_credentials_note() is None  # the defaults: an anonymous bench
    text = path.read_text(encoding="utf-8").replace("[broker]\n", '[broker]\nusername_env = "FLEET_USER"\n'
                                                                    'password_env = "FLEET_PASSWORD"\n')
    path.write_text(text, encoding="utf-8")
    assert load_lab_config(path, environ={"FLEET_USER": "fleet", "FLEET_PASSWORD": "pw"}).broker_credentials_note() \
        is None
    assert load_lab_config(path, environ={"FLEET_USER": "fleet"}).broker_credentials_note() == (
        f"{path}: [broker] password_env names $FLEET_PASSWORD, which is not set: connecting without it "
        "(a broker that needs it answers Not authorized)")
    unset = load_lab_config(path, environ={})
    assert unset.broker_credentials_note() == (
        f"{path}: [broker] username_env and password_env name $FLEET_USER and $FLEET_PASSWORD, which are not set: "
        "connecting without them (a broker that needs them answers Not authorized)")
    assert unset.broker_address().username is None  # still allowed: a broker may let anyone in


def test_a_shard_says_up_front_that_the_broker_variables_are_unset(fleet_file: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("FLEET_USER")
    monkeypatch.delenv("FLEET_PASSWORD")
    assert main(["serve", "lab", "--lab", str(fleet_file), "--shard", "rack-a", "--work-dir", str(tmp_path / "w"),
                 "--no-ui"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"labtwin: note: {fleet_file}: [broker] username_env and password_env name $FLEET_USER and "
                      "$FLEET_PASSWORD, which are not set: connecting without them (a broker that needs them answers "
                      "Not authorized)")
    assert err[1].startswith("labtwin: error: ") and "Not authorized" in err[1], err  # the fleet's broker wants them
    assert len(err) == 2, err


class _NoBoards:
    """A lab with nothing to show: enough for the dashboard to try its address."""

    device_ids: list[str] = []
    capabilities: frozenset[object] = frozenset()
    topic_prefix = "ot2"


@pytest.mark.parametrize("ui_host, listens_on", [(None, "127.0.0.2"), ("127.0.0.3", "127.0.0.3")])
async def test_a_shards_dashboard_defaults_to_its_address_and_ui_host_wins(ui_host: str | None,
                                                                          listens_on: str) -> None:
    command = ["serve", "lab", "--lab", "fleet.toml", "--shard", "rack-a"]
    with socket.create_server((listens_on, 0)) as taken:  # the port in use where the dashboard should listen
        port = taken.getsockname()[1]
        args: argparse.Namespace = build_parser().parse_args(
            [*command, "--ui-port", str(port), *(["--ui-host", ui_host] if ui_host else [])])
        with pytest.raises(ConfigError, match=rf"cannot listen on {re.escape(listens_on)}:{port}: the port is in use"):
            async with dashboard_for(_NoBoards(), args, default_host="127.0.0.2"):  # type: ignore[arg-type]
                pass
