"""The seed's environmental-monitoring example end to end (`labtwin run environment`): the example's own
firmware (its tasks, its BME280 and HX711 drivers, the port's ds18x20) over the stock framework, on a
Pico W wired to one enclosure (BME280 + DS18B20 + cooler) and one vessel (HX711 load cell + pump)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from testkit import BROKERS

from labtwin.board_firmware import STOCK_FIRMWARE_DIR, firmware_files, firmware_hash
from labtwin.cli.main import main
from labtwin.errors import ExperimentFailed, TaskError
from labtwin.scenarios.experiments.environment import (
    ENVIRONMENT_FIRMWARE_DIR,
    ENVIRONMENT_LAB_FILE,
    run_environment_experiment,
)
from labtwin.scenarios.labs.lab_file import load_lab_config
from labtwin.scenarios.labs.lab_file_twin import twin_lab_options
from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.twin.parts.pump import Pump
from labtwin.twin.parts.thermal import Cooler

READING = re.compile(r"^  t=\s*[\d.]+ s  air\s+([\d.]+) °C  probe\s+([\d.]+) °C .* vessel\s+(-?[\d.]+) g  "
                     r"cooler (on|off)$", re.MULTILINE)


@pytest.mark.parametrize("broker", BROKERS)
def test_labtwin_run_environment_cools_the_enclosure_below_25_and_doses_the_vessel(
        broker: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "environment", "--broker", broker, "--state-dir", str(tmp_path / "state")]) == 0
    out = capsys.readouterr().out
    readings = [(float(air), float(probe), float(weight), cooler)
                for air, probe, weight, cooler in READING.findall(out)]
    assert len(readings) >= 3, out
    assert "OT-2 mixed well A1" in out
    # The enclosure starts at 26 °C: the first reading is above the threshold, with the cooler off.
    assert readings[0][0] > 25.0 and readings[0][3] == "off"
    assert "above 25 °C: cooler on" in out and "below 25 °C: cooler off" in out
    cooling = [reading for reading in readings if reading[3] == "on"]
    # Both sensors read the one enclosure, and it falls while the cooler runs.
    airs = [air for air, *_ in cooling]
    assert airs == sorted(airs, reverse=True) and airs[-1] < 25.0
    assert all(abs(air - probe) < 0.5 for air, probe, *_ in readings)
    # The 5 mL dose lands on the load cell (water: 1 g/mL, the HX711's noise is ~0.05 g).
    assert readings[-1][2] == pytest.approx(readings[0][2] + 5.0, abs=0.3)
    model_line = re.search(r"twin model: enclosure ([\d.]+) °C at lab start, ([\d.]+) °C now", out)
    assert model_line is not None and float(model_line[1]) == 26.0 and float(model_line[2]) < 25.0
    assert "scenario 'environment' passed" in out
    # What was validated is the firmware the board booted: the overlay over the stock firmware.
    validated = {path.stem for path in (tmp_path / "state" / "validated").glob("*.json")}
    assert validated == {firmware_hash(STOCK_FIRMWARE_DIR, ENVIRONMENT_FIRMWARE_DIR)}


def test_the_example_firmware_is_an_overlay_the_stock_firmware_does_not_carry() -> None:
    overlaid = firmware_files(STOCK_FIRMWARE_DIR, ENVIRONMENT_FIRMWARE_DIR)
    stock = firmware_files(STOCK_FIRMWARE_DIR)
    assert set(stock) < set(overlaid)
    assert {Path("environment_tasks.py"), Path("lib/bme280.py"), Path("lib/hx711.py")} == set(overlaid) - set(stock)
    assert firmware_hash(STOCK_FIRMWARE_DIR, ENVIRONMENT_FIRMWARE_DIR) != firmware_hash(STOCK_FIRMWARE_DIR)


def _example_lab(tmp_path: Path, *, ot2: bool = True) -> TwinLab:
    return TwinLab(twin_lab_options(load_lab_config(ENVIRONMENT_LAB_FILE), work_dir=tmp_path / "lab", ot2=ot2))


async def test_the_experiment_fails_when_the_cooler_does_not_cool(tmp_path: Path) -> None:
    async with _example_lab(tmp_path) as lab:
        # Its Peltier element has failed: the relay clicks, nothing cools.
        lab.board(lab.device_ids[0]).model.part(Cooler).drive_c_per_s = 0.0
        with pytest.raises(ExperimentFailed, match=r"the cooler ran 3 s and the air stayed at 26\.\d\d °C"):
            await run_environment_experiment(lab.ot2_client(), lab.client(lab.device_ids[0]), cool_timeout_s=3.0,
                                             report=lambda _: None)
        assert lab.board(lab.device_ids[0]).model.part(Cooler).running


async def test_a_stalled_pump_leaves_the_weight_unchanged_and_a_bad_volume_is_refused(tmp_path: Path) -> None:
    async with _example_lab(tmp_path, ot2=False) as lab:
        device_id = lab.device_ids[0]
        client = lab.client(device_id)
        with pytest.raises(TaskError, match="volume_ml must be above 0 and at most 50"):
            await client.execute_task("dispense", volume_ml=80.0)
        model = lab.board(device_id).model
        model.part(Pump).stall(model.clock.now())
        dose = await client.execute_task("dispense", volume_ml=2.0)
    assert dose["weight_after_g"] == pytest.approx(dose["weight_before_g"], abs=0.3)
