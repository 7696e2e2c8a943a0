"""`labtwin call DEVICE TASK key=value` (one task, its result as JSON) and `labtwin watch` (the traffic), issue #17."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from bench_testkit import ServedLab

from labtwin.cli.call import typed_parameters
from labtwin.cli.main import main
from labtwin.errors import ConfigError

DEVICE = "pico-w-lab-001"  # the board `labtwin serve lab` serves by default

CATALOGUE = {
    "control_led": {"doc": "Switch an LED", "params": {"pin": ["int", "str"], "state": "bool"}},
    "move_servo": {"doc": "Move a servo", "params": {"pin": "int", "angle": ["int", "float"]}},
    "configure": {"doc": "", "params": {"values": "list", "options": "dict", "label": "str"},
                  "optional": ["options", "label"]},
}


@pytest.fixture
def credentials(bench_env: ServedLab) -> Path:
    """The served lab's file, its secrets in the environment."""
    return bench_env.bench


def test_values_are_typed_from_the_catalogue() -> None:
    assert typed_parameters("control_led", CATALOGUE, {"pin": "15", "state": "on"}) == {"pin": 15, "state": True}
    assert typed_parameters("control_led", CATALOGUE, {"pin": "LED", "state": "false"}) == {"pin": "LED",
                                                                                             "state": False}
    assert typed_parameters("move_servo", CATALOGUE, {"pin": "15", "angle": "42.5"}) == {"pin": 15, "angle": 42.5}
    assert typed_parameters("configure", CATALOGUE, {"values": "[1, 2]", "options": '{"a": 1}'}) == {
        "values": [1, 2], "options": {"a": 1}}


@pytest.mark.parametrize("task, raw, fragment", [
    ("blink", {}, "the device has no task 'blink' (its tasks: configure, control_led, move_servo)"),
    ("move_servo", {"pin": "15", "angel": "90"}, "task 'move_servo' has no parameter 'angel' (its parameters: pin, "
                                                 "angle)"),
    ("move_servo", {"pin": "15"}, "task 'move_servo' needs angle=..."),
    ("move_servo", {"pin": "GP15", "angle": "90"}, "task 'move_servo': parameter 'pin' takes int, got 'GP15'"),
    ("control_led", {"pin": "LED", "state": "maybe"}, "parameter 'state' takes bool, got 'maybe'"),
    ("configure", {"values": "{}"}, "parameter 'values' takes list, got '{}'"),
])
def test_a_parameter_mistake_is_an_error_that_names_it(task: str, raw: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        typed_parameters(task, CATALOGUE, raw)
    assert fragment in str(raised.value)


def test_call_prints_the_result_as_json_and_exits_zero(credentials: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["call", DEVICE, "control_led", "pin=LED", "state=true", "--lab", str(credentials)]) == 0
    assert json.loads(capsys.readouterr().out) == "LED on pin LED ON"
    assert main(["call", DEVICE, "get_device_status", "--lab", str(credentials)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["platform"] == "micropython" and status["free_memory"] > 0


def test_an_error_result_is_printed_and_exits_one(credentials: Path, capsys: pytest.CaptureFixture[str]):
    # A pin the board does not have: the firmware answers with an error result.
    assert main(["call", DEVICE, "control_led", "pin=99", "state=true", "--lab", str(credentials)]) == 1
    error = json.loads(capsys.readouterr().out)
    assert error["status"] == "error" and error["task"] == "control_led" and error["code"]


@pytest.mark.parametrize("argv, fragment", [
    (["call", DEVICE, "move_servo", "pin=15", "angel=90"], "task 'move_servo' has no parameter 'angel'"),
    (["call", DEVICE, "move_servo", "pin", "angle=90"], "parameter 'pin' is not key=value"),
    (["call", "no-such-board", "get_device_status"], "has no board 'no-such-board' (boards: pico-w-lab-001)"),
])
def test_call_mistakes_are_one_line(credentials: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                    fragment: str):
    assert main([*argv, "--lab", str(credentials)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("labtwin: error: ") and fragment in err and err.count("\n") == 1


def test_call_without_a_lab_says_how_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]):
    monkeypatch.chdir(tmp_path)  # no .labtwin/bench.toml here
    assert main(["call", DEVICE, "get_device_status"]) == 1
    assert "start a twin lab with `labtwin serve lab`" in capsys.readouterr().err


# ------------------------------------------------------------------ labtwin watch


def test_traffic_lines_pair_results_with_their_commands() -> None:
    from labtwin.cli.watch import TrafficLines

    lines = TrafficLines()
    status = json.dumps({"device_id": "pico-a", "status": "online", "firmware": "1.4.0", "board": "pico_w",
                         "tasks": CATALOGUE, "protocol": 1})
    assert (lines.line("ot2/pico-a/status", status, 0.0, retained=True) or "").endswith(
        "  pico-a  status online: firmware 1.4.0, board pico_w, 3 tasks (retained)")
    assert lines.line("ot2/pico-a/status", status, 0.1, retained=True) is None  # the same retained status again
    command = json.dumps({"request_id": "abcdef0123", "task": "control_led",
                          "parameters": {"pin": "LED", "state": True}})
    assert (lines.line("ot2/pico-a/command", command, 100.0) or "").endswith(
        "  pico-a  -> control_led(pin='LED', state=True)  [abcdef01]")
    result = json.dumps({"request_id": "abcdef0123", "task": "control_led", "device_id": "pico-a",
                         "status": "success", "result": "LED on pin LED ON"})
    assert (lines.line("ot2/pico-a/result", result, 100.012) or "").endswith(
        '  pico-a  <- control_led ok: "LED on pin LED ON"  12 ms  [abcdef01]')
    error = json.dumps({"request_id": "9999", "task": "move_servo", "device_id": "pico-a", "status": "error",
                        "error": {"code": "BAD_PARAMETERS", "message": "angle out of range"}})
    assert (lines.line("ot2/pico-a/result", error, 101.0) or "").endswith(
        "  pico-a  <- move_servo ERROR [BAD_PARAMETERS]: angle out of range  [9999]")  # its command was not seen
    offline = json.dumps({"device_id": "pico-a", "status": "offline"})
    assert (lines.line("ot2/pico-a/status", offline, 102.0) or "").endswith("  pico-a  status OFFLINE")
    assert "result: not a valid message" in (lines.line("ot2/pico-a/result", b"{not json", 103.0) or "")


def test_watch_shows_the_retained_status_then_a_call_as_it_happens(credentials: Path) -> None:
    seen: list[str] = []
    with subprocess.Popen([sys.executable, "-m", "labtwin", "watch", DEVICE, "--lab", str(credentials)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}) as watch:
        try:
            assert watch.stdout is not None
            first = watch.stdout.readline()  # the retained status: it is subscribed from here on
            assert f"  {DEVICE}  status online: " in first and first.rstrip().endswith("(retained)"), first
            assert main(["call", DEVICE, "control_led", "pin=LED", "state=false", "--lab", str(credentials)]) == 0
            for line in watch.stdout:  # until the result
                seen.append(line.rstrip())
                if "<- " in line:
                    break
            watch.send_signal(signal.SIGINT)  # Ctrl-C
            assert watch.wait(timeout=30) == 0
        finally:
            if watch.poll() is None:
                watch.kill()
                watch.wait()
    assert f"  {DEVICE}  -> control_led(pin='LED', state=False)  [" in seen[0], seen
    assert len(seen) == 2, seen  # the command once (a retained status handed over twice re-sends nothing), its result
    assert re.search(rf"  {DEVICE}  <- control_led ok: \"LED on pin LED OFF\"  \d+ ms  \[", seen[-1]), seen
    assert "Traceback" not in "\n".join(seen)
