"""A Wokwi diagram as a board's wiring: from a lab file (`wiring = "diagram.json"`) and `labtwin import wokwi`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from labtwin.cli.main import main
from labtwin.scenarios.labs.lab_file import load_lab_config
from labtwin.scenarios.labs.lab_file_twin import twin_lab_options
from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.twin.parts.switched_load import SwitchedLoad

DIAGRAM = {
    "version": 1, "author": "a lab", "editor": "wokwi",
    "parts": [
        {"type": "board-pi-pico-w", "id": "pico", "top": 0, "left": 0, "attrs": {}},
        {"type": "wokwi-led", "id": "led1", "top": -50, "left": 120, "attrs": {"color": "red"}},
        {"type": "wokwi-resistor", "id": "r1", "top": 20, "left": 110, "attrs": {"value": "220"}},
        {"type": "wokwi-potentiometer", "id": "pot1", "top": 90, "left": 140, "attrs": {"value": "512"}},
    ],
    "connections": [
        ["pico:GP15", "r1:1", "green", ["v0"]], ["r1:2", "led1:A", "green", []], ["led1:C", "pico:GND.4", "black", []],
        ["pot1:SIG", "pico:GP26", "orange", []], ["pot1:GND", "pico:GND.8", "black", []],
        ["pot1:VCC", "pico:3V3", "red", []],
    ],
}


@pytest.fixture
def lab_file(tmp_path: Path) -> Path:
    (tmp_path / "diagram.json").write_text(json.dumps(DIAGRAM))
    path = tmp_path / "lab.toml"
    path.write_text('[[boards]]\nid = "pico-1"\nkind = "pico_w"\nwiring = "diagram.json"\n')
    return path


async def test_a_board_wired_by_a_wokwi_diagram_has_its_parts_and_the_firmware_feels_them(
        lab_file: Path, tmp_path: Path) -> None:
    options = twin_lab_options(load_lab_config(lab_file), work_dir=tmp_path / "work")
    async with TwinLab(options) as lab:
        client = lab.client("pico-1")
        await client.execute_task("control_led", pin=15, state=True)
        led = lab.board("pico-1").model.part(SwitchedLoad)
        reading = await client.execute_task("read_sensor", sensor_pin=26)
    assert (led.kind, led.pin, led.on, led.switchings) == ("led", 15, True, 1)
    assert reading["voltage"] == pytest.approx(3.3 * round(512 / 1023, 4), abs=0.02)  # the knob at 512 of 1023


def test_a_diagram_for_another_board_kind_is_refused(lab_file: Path) -> None:
    lab_file.write_text(lab_file.read_text().replace('kind = "pico_w"', 'kind = "esp32"'))
    assert main(["run", "sensor", "--lab", str(lab_file)]) == 1


def test_labtwin_import_wokwi_prints_a_board_entry_to_paste(lab_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "wokwi", str(lab_file.parent / "diagram.json"), "--board-id", "bench-pico"]) == 0
    entry = tomllib.loads(capsys.readouterr().out)
    (board,) = entry["boards"]
    assert (board["id"], board["kind"]) == ("bench-pico", "pico_w")
    assert [(part["type"], part.get("pin")) for part in board["parts"]] == [("led", 15), ("potentiometer", 26)]


def test_importing_a_diagram_with_an_unsupported_part_lists_the_supported_ones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    diagram = dict(DIAGRAM, parts=[*DIAGRAM["parts"], {"type": "wokwi-lcd1602", "id": "lcd1"}])  # type: ignore[list-item]
    (tmp_path / "d.json").write_text(json.dumps(diagram))
    assert main(["import", "wokwi", str(tmp_path / "d.json")]) == 1
    err = capsys.readouterr().err
    assert "lcd1" in err and "wokwi-lcd1602" in err and "wokwi-led" in err and err.count("\n") == 1


def test_the_sensor_experiment_runs_on_a_board_without_the_default_benchs_servo(
        lab_file: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "sensor", "--lab", str(lab_file), "--state-dir", str(tmp_path / "state")]) == 0
    assert "no servo wired to GP15" in capsys.readouterr().out
