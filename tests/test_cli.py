"""The labtwin command line: the main job, and one clear line for every user mistake."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from testkit import BROKERS

from labtwin.cli.main import main
from labtwin.twin.brokers import AmqttBroker, MosquittoBroker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_executes_the_sensor_experiment_and_exits_zero(capsys):
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    for expected in ("control_led(pin='LED', state=True)", "read_sensor(sensor_pin=28)", "move_servo(pin=15, angle=90)",
                     "average voltage:", "device free memory:", "round trips: 7 calls",
                     "twin hardware: LED off, servo GP15 at 90.0 degrees, 0 hazard(s)", "scenario 'sensor' passed"):
        assert expected in out


def test_verbose_run_shows_firmware_console(capsys):
    assert main(["run", "-v"]) == 0
    assert "[pico-w-lab-001] " in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
        (["run", "--broker", "http://127.0.0.1:1883"], "must start with mqtt://"),
        (["run", "--broker", "mqtt://user:secret@127.0.0.1:1883"], "LABTWIN_BROKER_USERNAME"),
        (["run", "--broker", "mqtt://127.0.0.1:notaport"], "invalid port"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_one(capsys, argv, fragment):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("labtwin: error: ") and fragment in err
    assert "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("argv", [["run", "sensor", "--seed=--"], ["sweep", "chaos", "--seeds=--"]])
def test_dash_dash_as_an_options_value_is_a_usage_error(capsys, argv):
    # Python 3.11's argparse hands the command [] for `--option=--`: a traceback further on.
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.splitlines()[-1] == f"labtwin: error: {argv[-1]}: '--' is not a value for {argv[-1].split('=')[0]}"


def test_unreachable_external_broker_is_a_clear_error(capsys):
    assert main(["run", "--broker", f"mqtt://127.0.0.1:{free_port()}"]) == 1
    err = capsys.readouterr().err
    assert "cannot connect to MQTT broker 127.0.0.1" in err and "Traceback" not in err


@pytest.mark.parametrize("broker_kind", BROKERS)
async def test_run_against_an_external_broker_with_credentials_from_the_environment(tmp_path, broker_kind):
    users = {"lab-user": "s3cret-for-test"}
    broker = AmqttBroker(users=users) if broker_kind == "amqtt" else MosquittoBroker(work_dir=tmp_path, users=users)
    script = shutil.which("labtwin", path=str(Path(sys.executable).parent)) or shutil.which("labtwin")
    assert script is not None
    env = {**os.environ, "LABTWIN_BROKER_USERNAME": "lab-user", "LABTWIN_BROKER_PASSWORD": "s3cret-for-test"}
    async with broker:
        proc = await asyncio.create_subprocess_exec(
            script, "run", "--broker", broker.url, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    text = out.decode()
    assert proc.returncode == 0, text
    assert f"broker: {broker.url}" in text and "scenario 'sensor' passed" in text
    assert "s3cret-for-test" not in text  # credentials never printed


def test_list_names_the_scenarios(capsys):
    assert main(["list"]) == 0
    assert capsys.readouterr().out.startswith("sensor ")


def test_no_command_prints_help_and_exits_two(capsys):
    assert main([]) == 2
    assert "usage: labtwin" in capsys.readouterr().out


def test_console_script_is_installed():
    script = shutil.which("labtwin", path=str(Path(sys.executable).parent)) or shutil.which("labtwin")
    assert script is not None, "the labtwin console script is not installed (pip install -e .)"
    run = subprocess.run([script, "list"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "sensor" in run.stdout


def test_serve_ot2_serves_the_robot_api_until_interrupted(tmp_path: Path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OT_API_CONFIG_DIR": str(tmp_path / "opentrons")}
    with subprocess.Popen([sys.executable, "-m", "labtwin", "serve", "ot2", "--port", "0",
                           "--data-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None
            url = None
            for line in proc.stdout:
                if "listening on " in line:
                    url = line.split("listening on ", 1)[1].strip()
                    break
            assert url is not None, "no ready line"
            health = httpx.get(f"{url}/health", headers={"Opentrons-Version": "*"}, timeout=10.0)
            assert health.json()["robot_model"] == "OT-2 Standard"
            proc.send_signal(2)  # Ctrl-C
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("argv, fragment", [
    (["serve", "ot2", "--port", "0", "--delay-speedup", "0"], "delay_speedup must be > 0"),
    (["serve", "ot2", "--port", "0", "--left-pipette", "p1000_single_v3.4"], "not an OT-2 pipette model"),
])
def test_serve_ot2_refuses_bad_options_in_one_line(capsys, monkeypatch, tmp_path, argv, fragment):
    monkeypatch.setenv("OT_API_CONFIG_DIR", str(tmp_path))  # serve() would point it at its own temp dir
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
