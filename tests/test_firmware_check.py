"""`labtwin check firmware`: mpy-cross, peak heap and margin per board profile; the ESP32 profile."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labtwin.board_firmware import STOCK_FIRMWARE_DIR, copy_firmware
from labtwin.cli.check import parse_margin
from labtwin.cli.main import main
from labtwin.errors import TaskError
from labtwin.mpy_form import compile_firmware
from labtwin.scenarios.experiments.environment import ENVIRONMENT_FIRMWARE_DIR
from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.tools.firmware_check import DEFAULT_MIN_MARGIN_PERCENT, WORKLOADS
from labtwin.twin.board.model import BoardModel, MicroPythonError
from labtwin.twin.board.profiles import BOARD_PROFILES, ESP32, PICO_W

# board, heap, form (* = judged), peak, twin modules, margin bytes, margin %
ROW = re.compile(r"^(\w+) +([\d,]+) B (mpy|source) *(\*?) +([\d,]+) B +-([\d,]+) B +(-?[\d,]+) B \((-?[\d.]+)%\)",
                 re.MULTILINE)


def firmware_copy(tmp_path: Path) -> Path:
    target = tmp_path / "firmware"
    copy_firmware(STOCK_FIRMWARE_DIR, target)
    return target


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_check_passes_on_the_repo_firmware_for_every_board(capsys):
    assert main(["check", "firmware"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert f"firmware check passed (mpy form, min margin {DEFAULT_MIN_MARGIN_PERCENT:g}%) on pico_w, esp32" in out
    assert "compiled 11 files with mpy-cross" in out and "peak ~" in out  # progress while it runs
    rows = {(m[1], m[3]): m for m in ROW.finditer(out)}
    for profile in (PICO_W, ESP32):
        row = rows[(profile.name, "mpy")]
        assert row[4] == "*" and number(row[2]) == profile.heap_bytes  # mpy is the judged form
        peak, twin, margin = number(row[5]), number(row[6]), number(row[7])
        # The twin's machine/network shims hold heap a board keeps in flash: measured, then deducted.
        assert 4_000 < twin < 40_000 < peak < profile.heap_bytes
        assert margin == profile.heap_bytes - (peak - twin)
        assert float(row[8]) >= DEFAULT_MIN_MARGIN_PERCENT
    # Compiling from source at import is the peak: precompiled .mpy needs less.
    assert number(rows[("pico_w", "mpy")][5]) < number(rows[("pico_w", "source")][5])
    assert "Traceback" not in captured.out + captured.err


def test_a_file_that_does_not_compile_fails_the_check_by_name(tmp_path, capsys):
    firmware = firmware_copy(tmp_path)
    (firmware / "sensor_driver.py").write_text("def read(:\n    return 1\n")
    assert main(["check", "firmware", "--firmware-dir", str(firmware)]) == 1
    captured = capsys.readouterr()
    assert "FAIL sensor_driver.py: line 1: SyntaxError: invalid syntax" in captured.out
    assert "firmware check FAILED: 1 of 12 files do not compile with mpy-cross (sensor_driver.py)" in captured.out
    assert "booting" not in captured.out  # nothing is booted once a file does not compile
    assert "Traceback" not in captured.out + captured.err


async def test_mpy_form_compiles_nested_modules_copies_data_and_keeps_main_as_source(tmp_path):
    firmware = firmware_copy(tmp_path)
    (firmware / "lib").mkdir()
    (firmware / "lib" / "sensor_driver.py").write_text("def read():\n    return 1\n")
    (firmware / "lib" / "calibration.json").write_text('{"offset": 0.1}\n')
    compiled, failures = await compile_firmware(firmware, tmp_path / "mpy")
    assert failures == [] and compiled == 12
    files = sorted(p.relative_to(tmp_path / "mpy").as_posix() for p in (tmp_path / "mpy").rglob("*") if p.is_file())
    assert {"main.py", "device_service.mpy", "lib/sensor_driver.mpy", "lib/calibration.json"} <= set(files)
    assert all(f in ("main.py", "lib/calibration.json") or f.endswith(".mpy") for f in files)


def test_an_absurd_margin_fails_and_says_why(capsys):
    assert main(["check", "firmware", "--board", "pico_w", "--min-margin", "99%"]) == 1
    out = capsys.readouterr().out
    assert "firmware check FAILED (mpy form, min margin 99%):" in out
    assert re.search(r"pico_w \(mpy\): margin at most [\d,]+ B \([\d.]+% of 200,000 B; [\d,]+ B of firmware stay "
                     r"in use after the stock tasks\), below the required 99%", out)


@pytest.mark.parametrize("argv, fragment", [
    (["--min-margin", "100"], "must be at least 0% and below 100%"),
    (["--min-margin", "lots"], "is not a percentage"),
    (["--board", "arduino_uno"], "invalid choice: 'arduino_uno'"),
])
def test_bad_options_are_usage_errors(capsys, argv, fragment):
    with pytest.raises(SystemExit) as info:
        main(["check", "firmware", *argv])
    assert info.value.code == 2 and fragment in capsys.readouterr().err


def test_missing_firmware_is_one_line(capsys, tmp_path):
    assert main(["check", "firmware", "--firmware-dir", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert err == f"labtwin: error: no board firmware at {tmp_path / 'nowhere'} (main.py missing)\n"


def test_margin_parsing():
    assert parse_margin("20%") == parse_margin("20") == parse_margin(" 20 % ") == 20.0
    assert parse_margin("0") == 0.0 and parse_margin("12.5%") == 12.5


# --------------------------------------------------------------------------- the ESP32 profile


def test_esp32_profile_follows_the_esp32_port():
    assert BOARD_PROFILES["esp32"] is ESP32
    assert ESP32.heap_bytes == 114_688 and ESP32.led_pin == 2 and ESP32.has_wifi
    assert ESP32.adc_gpio_channels[36] == 0 and ESP32.adc_gpio_channels[35] == 7  # ADC1 channels 0-7
    assert ESP32.adc_gpio_channels[4] == 8 and ESP32.adc_gpio_channels[26] == 17  # ADC2 channels 0-9
    assert ESP32.adc_channel_count == 18 and not ESP32.board_pins and not ESP32.ext_pins
    assert sorted(ESP32.wireless_pins) == [6, 7, 8, 9, 10, 11]  # the module's SPI flash


@pytest.mark.parametrize("profile", BOARD_PROFILES.values(), ids=lambda p: p.name)
def test_every_profile_has_a_stock_workload_on_pins_it_has(profile):
    workload = WORKLOADS[profile.name]
    model = BoardModel(profile, seed=1)
    model.power_on()
    model.resolve_pin(workload.led_pin(profile))
    assert all(pin in profile.adc_gpio_channels and pin in profile.header_gpios for pin in workload.sensor_pins)
    assert workload.servo_pin in profile.header_gpios and workload.servo_pin not in profile.wireless_pins
    workload.wire(model)  # sets ADC voltages, attaches the servo


def test_esp32_refuses_pins_it_lacks_like_the_board():
    model = BoardModel(ESP32, seed=1)
    model.power_on()
    for pin in (40, -1, "LED", "GP15", "GPIO2"):  # ESP32_GENERIC has no named pins at all
        with pytest.raises(MicroPythonError) as info:
            model.dispatch("pin_init", [pin, True, 1])
        assert info.value.exc_type == "ValueError"
    with pytest.raises(MicroPythonError, match="ValueError"):
        model.dispatch("adc_init", [5])  # GPIO5 has no ADC
    assert model.dispatch("adc_init", [34]) == 6  # ADC(34) is GPIO34 (ADC1 channel 6), not a channel number
    assert model.dispatch("adc_init", [0]) == 9  # GPIO0: ADC2 channel 1
    model.dispatch("pin_init", [2, True, 1])
    model.dispatch("pin_value", [2, 1])
    assert model.pin_level(2) == 1
    model.dispatch("pin_init", [6, True, 1])
    assert "SPI flash" in model.hazards[-1].message


async def test_esp32_board_runs_the_mpy_firmware_and_refuses_missing_pins(tmp_path):
    # The .py firmware does not fit an ESP32's heap (compiling it at import is the peak); .mpy does.
    _, failures = await compile_firmware(STOCK_FIRMWARE_DIR, tmp_path / "mpy")
    assert not failures
    async with TwinLab(devices=["esp32-lab-001"], board="esp32", firmware_dir=tmp_path / "mpy",
                       work_dir=tmp_path / "lab", timeout=5.0) as lab:
        device, model = lab.client("esp32-lab-001"), lab.board("esp32-lab-001").model
        assert await device.execute_task("control_led", pin=2, state=True) == "LED on pin 2 ON"
        assert model.pin_level(2) == 1
        for task, params, fragment in [
            ("control_led", {"pin": "LED", "state": True}, 'ValueError: unknown named pin "LED"'),
            ("control_led", {"pin": 40, "state": True}, "ValueError: invalid pin"),
            ("read_sensor", {"sensor_pin": 5}, "ValueError: Pin doesn't have ADC capabilities"),
        ]:
            with pytest.raises(TaskError) as info:
                await device.execute_task(task, **params)
            assert info.value.code == "task_failed" and fragment in info.value.message
        status = await device.get_device_status()
        assert status["board"] == "esp32" and 0 < status["free_memory"] < ESP32.heap_bytes


def test_an_overlay_is_checked_laid_over_the_firmware(capsys):
    overlay = ENVIRONMENT_FIRMWARE_DIR
    assert main(["check", "firmware", "--overlay", str(overlay), "--board", "pico_w", "--only-judged-form"]) == 0
    out = capsys.readouterr().out
    assert f"firmware check of {overlay} over {STOCK_FIRMWARE_DIR}" in out
    # The stock firmware's 11 files (its main.py replaced by the example's), the example's tasks, two drivers.
    assert "compiled 14 files with mpy-cross" in out
    row = next(m for m in ROW.finditer(out) if m[1] == "pico_w")
    assert float(row[8]) >= DEFAULT_MIN_MARGIN_PERCENT
