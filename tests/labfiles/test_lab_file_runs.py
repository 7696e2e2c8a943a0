"""A lab's own lab file, firmware, parts and scenarios, run with `labtwin run/list --lab` (issue #15)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from labtwin.board_firmware import STOCK_FIRMWARE_DIR, firmware_hash
from labtwin.cli.main import main
from labtwin.scenarios.labs.lab_file import load_lab_config
from labtwin.scenarios.labs.lab_file_twin import twin_lab_options
from labtwin.tools.validation import passing_records

LAB = """\
scenarios = ["scenarios"]

[[quantities]]
name = "room"
type = "thermal"
ambient_c = 23.0

[[boards]]
id = "pico-1"
kind = "pico_w"
firmware = "firmware"
settings = { sample_offset = 2 }

[[boards.parts]]
type = "bme280"
i2c = { bus = 0, sda = 4, scl = 5 }
address = 0x76
temperature_c = { shared = "room" }
humidity_pct = { random_walk = 45.0, sigma = 0.1 }
pressure_hpa = "1013.25 + 0.01 * t"

[[boards.parts]]
type = "analog"
pin = 26
volts = 1.5

[[boards]]
id = "esp-1"
kind = "esp32"
"""

# The lab's own task module over the stock firmware: reads the BME280 with the example's driver.
TASKS = '''\
import device_config
from machine import I2C, Pin

import bme280
from task_registry import task

_sensor = []


@task(doc="Read the BME280 at 0x76 on I2C0 (GP4/GP5), plus the board's sample_offset setting")
def read_bme280():
    if not _sensor:
        _sensor.append(bme280.BME280(I2C(0, sda=Pin(4), scl=Pin(5))))
    t, p, h = _sensor[0].measure()
    offset = device_config.load().get("sample_offset", 0)
    return {"temperature_c": t, "pressure_hpa": p / 100, "humidity_pct": h, "offset": offset}
'''

SCENARIOS = '''\
from labtwin.scenarios.api import Budget, Capability, LabStateMachine, experiment, invariant, needs, rule, st


@experiment(summary="Read the BME280 on pico-1 and the status of every board")
async def read_room(lab, report):
    for device_id in lab.device_ids:
        status = await lab.client(device_id).execute_task("get_device_status")
        report(f"{device_id}: {status['board']}")
    reading = await lab.client("pico-1").execute_task("read_bme280")
    report(f"room {reading['temperature_c']:.2f} C {reading['pressure_hpa']:.2f} hPa offset {reading['offset']}")


class LedFollows(LabStateMachine):
    """Switch pico-1's LED; the pin follows the last acknowledged command."""

    budget = Budget(examples=2, steps=4)

    def __init__(self):
        super().__init__()
        self.led = None

    @rule(on=st.booleans())
    def switch(self, on):
        outcome = self.call("pico-1", "control_led", {"pin": "LED", "state": on})
        assert outcome.kind == "ok", outcome
        self.led = on

    @needs(Capability.HARDWARE)
    @invariant()
    def pin_follows(self):
        if self.led is not None:
            assert self.twin().board("pico-1").model.led == self.led
'''


@pytest.fixture
def lab_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "my-lab"
    firmware = repo / "firmware"
    shutil.copytree(STOCK_FIRMWARE_DIR, firmware, ignore=shutil.ignore_patterns("__pycache__"))
    (firmware / "lib").mkdir()
    shutil.copy2(Path(__file__).resolve().parents[2] / "examples" / "environment" / "firmware" / "lib" / "bme280.py",
                 firmware / "lib" / "bme280.py")
    (firmware / "lab_tasks.py").write_text(TASKS)
    main_py = firmware / "main.py"
    main_py.write_text(main_py.read_text().replace("import stock_tasks", "import lab_tasks  # noqa: F401\nimport "
                                                   "stock_tasks", 1))
    (repo / "scenarios").mkdir()
    (repo / "scenarios" / "room.py").write_text(SCENARIOS)
    (repo / "lab.toml").write_text(LAB)
    return repo


def test_a_lab_file_twin_runs_the_labs_experiment_on_its_own_firmware_and_mixed_boards(
        lab_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(lab_repo)
    assert main(["run", "read-room", "--lab", "lab.toml"]) == 0
    out = capsys.readouterr().out
    assert "pico-1: pico_w" in out and "esp-1: esp32" in out
    # The room's thermal mass (23 °C) read by the lab's own driver; the formula's pressure; the board's setting.
    line = next(line for line in out.splitlines() if line.startswith("room "))
    temperature, pressure = float(line.split()[1]), float(line.split()[3])
    assert temperature == pytest.approx(23.0, abs=0.1) and pressure == pytest.approx(1013.25, abs=0.1)
    assert line.endswith("offset 2")
    # Each board's firmware is validated as written: pico-1's own, esp-1's the stock firmware.
    own, stock = firmware_hash(lab_repo / "firmware"), firmware_hash(STOCK_FIRMWARE_DIR)
    for digest, device_id, board in ((own, "pico-1", "pico_w"), (stock, "esp-1", "esp32")):
        records = passing_records(lab_repo / ".labtwin", digest)
        assert [(r["scenario"], r["device_id"], r["board"]) for r in records] == [("read-room", device_id, board)]


def test_the_labs_property_scenario_runs_by_name_and_by_file_reference(
        lab_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(lab_repo)
    assert main(["run", "led-follows", "--lab", "lab.toml"]) == 0
    assert "scenario 'led-follows' passed: 2 examples, 8 steps" in capsys.readouterr().out
    assert main(["run", "scenarios/room.py::led-follows", "--lab", "lab.toml", "--examples", "1"]) == 0
    assert "scenario 'led-follows' passed: 1 examples" in capsys.readouterr().out


def test_labtwin_list_shows_the_labs_scenarios_after_ours(lab_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--lab", str(lab_repo / "lab.toml")]) == 0
    out = capsys.readouterr().out
    ours, _, theirs = out.partition(f"from {lab_repo / 'lab.toml'}:")
    assert "chaos" in ours and "sensor" in ours
    assert "read-room        experiment  Read the BME280 on pico-1" in theirs
    assert "led-follows      property    Switch pico-1's LED" in theirs


@pytest.mark.parametrize("change, fragment", [
    (("scenarios/room.py", "class LedFollows(LabStateMachine):", "class LedFollows(LabStateMachine:"),
     "room.py:13: SyntaxError"),
    (("scenarios/room.py", "from labtwin", "import no_such_module\nfrom labtwin"),
     "room.py:1: importing the scenario file raised ModuleNotFoundError"),
    (("scenarios/room.py", "async def read_room", "async def sensor"), ""),
    (("lab.toml", 'id = "esp-1"', 'id = "pico-1"'), "board id(s) ['pico-1'] appear more than once"),
    (("lab.toml", "pin = 26", "pin = 6"), "boards[0].parts[1].pin: GPIO6 has no ADC on the header of a pico_w"),
    (("lab.toml", "pin = 26", "pin = 5"), "boards[0].parts[1].pin: GP5 is already wired to boards[0].parts[0] "
                                          "(bme280) i2c.scl"),
    (("lab.toml", 'shared = "room"', 'shared = "hall"'), "no [[quantities]] entry named 'hall' (room)"),
])
def test_a_lab_repository_mistake_is_one_line_naming_where(
        lab_repo: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str, str], fragment: str) -> None:
    file, old, new = change
    path = lab_repo / file
    path.write_text(path.read_text().replace(old, new, 1))
    if not fragment:  # a lab scenario named like one of ours
        path.write_text(path.read_text().replace('@experiment(summary', '@experiment("sensor", summary', 1))
        fragment = "scenario 'sensor' is one of labtwin's; give it another name"
    assert main(["run", "read-room", "--lab", str(lab_repo / "lab.toml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("labtwin: error: ") and err.count("\n") == 1 and fragment in err, err


def test_the_options_a_lab_file_builds(lab_repo: Path) -> None:
    options = twin_lab_options(load_lab_config(lab_repo / "lab.toml"), seed=4)
    assert options.devices == ("pico-1", "esp-1") and options.seed == 4
    assert options.profile_of("pico-1").name == "pico_w" and options.profile_of("esp-1").name == "esp32"
    assert options.firmware_of("pico-1") == (lab_repo / "firmware", None)
    assert options.firmware_of("esp-1") == (STOCK_FIRMWARE_DIR, None)
    assert options.boards["esp-1"].mpy and options.boards["pico-1"].mpy  # boards boot the precompiled form
    assert dict(options.boards["pico-1"].settings) == {"sample_offset": 2}


def test_labtwin_schema_lab_prints_a_json_schema_that_names_every_part_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "lab"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].endswith("2020-12/schema") and schema["title"] == "labtwin lab file"
    assert set(schema["properties"]) >= {"boards", "broker", "quantities", "ot2", "scenarios", "mode"}
    part_types = {definition["properties"]["type"].get("const") for definition in schema["$defs"].values()
                  if "type" in definition.get("properties", {})}
    assert {"bme280", "hx711", "ds18b20", "pump", "servo"} <= part_types


def test_a_bare_experiment_decorator_registers_and_runs(lab_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (lab_repo / "scenarios" / "bare.py").write_text(
        "from labtwin.scenarios.api import experiment\n\n\n@experiment\nasync def say_hello(lab, report):\n"
        '    """Say hello from every board."""\n    report(f"hello from {len(lab.device_ids)} boards")\n')
    assert main(["list", "--lab", str(lab_repo / "lab.toml")]) == 0
    assert "say-hello        experiment  Say hello from every board." in capsys.readouterr().out
    assert main(["run", "say-hello", "--lab", str(lab_repo / "lab.toml")]) == 0
    assert "hello from 2 boards" in capsys.readouterr().out


@pytest.mark.parametrize("source, fragment", [
    ("@experiment()\ndef not_async(lab, report):\n    pass\n",
     "@experiment not_async: write it as `async def not_async(lab, report)`; it is not async"),
    ("@experiment\nasync def one_arg(lab):\n    pass\n",
     "@experiment one_arg: it must take (lab, report), it takes (lab)"),
])
def test_an_experiment_of_the_wrong_shape_is_refused_when_its_file_is_read(
        lab_repo: Path, capsys: pytest.CaptureFixture[str], source: str, fragment: str) -> None:
    (lab_repo / "scenarios" / "shapes.py").write_text("from labtwin.scenarios.api import experiment\n\n\n" + source)
    assert main(["run", "read-room", "--lab", str(lab_repo / "lab.toml")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "shapes.py:4: importing the scenario file raised ConfigError" in err
    assert fragment in err


def test_an_experiment_that_raises_fails_as_a_scenario_showing_its_own_lines(
        lab_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (lab_repo / "scenarios" / "boom.py").write_text(
        "from labtwin.scenarios.api import experiment\n\n\n@experiment\nasync def boom(lab, report):\n"
        "    status = await lab.client('pico-1').execute_task('get_device_status')\n"
        "    return status['no such key']\n")
    assert main(["run", "boom", "--lab", str(lab_repo / "lab.toml")]) == 1
    captured = capsys.readouterr()
    assert captured.err.endswith("labtwin: error: scenario 'boom' FAILED: KeyError: 'no such key' (boom.py:7)\n")
    assert "boom.py\", line 7, in boom" in captured.err and "labtwin/" not in captured.err  # the lab's lines only


def test_a_lab_scenarios_replay_command_names_its_lab_file(lab_repo: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(lab_repo)
    scenarios = lab_repo / "scenarios" / "room.py"
    scenarios.write_text(scenarios.read_text().replace("        self.led = on\n", "        self.led = not on\n"))
    assert main(["run", "led-follows", "--lab", "lab.toml", "--twin"]) == 1
    out = capsys.readouterr().out
    replay = next(line.strip() for line in out.splitlines() if line.strip().startswith("replay: "))
    assert replay.startswith("replay: labtwin run led-follows --lab lab.toml --twin --seed 0 --examples ")
    assert main(replay.removeprefix("replay: labtwin ").split()) == 1  # it replays the failure
    assert "scenario 'led-follows' FAILED" in capsys.readouterr().out


def test_flashing_a_board_the_lab_file_does_not_list_is_refused(lab_repo: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flash", "--lab", str(lab_repo / "lab.toml"), "--device-id", "nope", "--port", "/dev/null"]) == 1
    assert "no board 'nope'; boards: pico-1, esp-1" in capsys.readouterr().err
