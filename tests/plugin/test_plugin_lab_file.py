"""A lab's own lab file through the plugin: --labtwin-lab, the labtwin_lab ini option, $LABTWIN_LAB; the OT-2."""

from __future__ import annotations

import pytest

LAB = """\
[[boards]]
id = "pico-1"
kind = "pico_w"
firmware_overlay = "firmware"

[[boards.parts]]
type = "analog"
pin = 26
volts = 1.5

[[boards]]
id = "esp-1"
kind = "esp32"
"""

# The lab's own task module over the stock firmware (an overlay: its main.py imports it beside the stock tasks).
LAB_TASKS = '''\
from task_registry import task


@task(doc="Say which lab this is")
def which_lab():
    return {"lab": "my-lab"}
'''
MAIN_PY = """\
import lab_tasks  # noqa: F401
import stock_tasks  # noqa: F401

import device_main

device_main.run()
"""

LAB_FILE_TESTS = '''\
import pytest


async def test_the_lab_files_boards_run_the_labs_firmware(lab, labtwin_config, labtwin_target):
    assert labtwin_target == "twin" and labtwin_config.device_ids == ["pico-1", "esp-1"]
    assert list(lab.device_ids) == ["pico-1", "esp-1"]
    assert await lab.client("pico-1").execute_task("which_lab") == {"lab": "my-lab"}
    status = await lab.client("esp-1").execute_task("get_device_status")
    assert status["board"] == "esp32"


async def test_the_analog_part_is_wired_to_pin_26(lab, hardware):
    reading = await lab.client("pico-1").execute_task("read_sensor", sensor_pin=26)
    assert reading["voltage"] == pytest.approx(1.5, abs=0.05)
    assert hardware.board("pico-1").model.profile.name == "pico_w"
    assert hardware.board("esp-1").model.profile.name == "esp32"


async def test_a_lab_without_an_ot2_skips_the_ot2_fixture(ot2):
    raise AssertionError("never runs")
'''


def write_lab(lab_repo, lab_file: str = "lab.toml") -> None:
    lab_repo.write(lab_file, LAB)
    folder = lab_file.rpartition("/")[0]
    lab_repo.write(f"{folder}/firmware/lab_tasks.py".lstrip("/"), LAB_TASKS)
    lab_repo.write(f"{folder}/firmware/main.py".lstrip("/"), MAIN_PY)


def test_a_lab_file_given_with_labtwin_lab(lab_repo) -> None:
    write_lab(lab_repo)
    lab_repo.write("tests/test_lab.py", LAB_FILE_TESTS)
    result = lab_repo.run("--labtwin-lab", "lab.toml", "--labtwin-seed", "3")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["labtwin: the twin of lab.toml (broker amqtt, seed 3, timeout 10 s)",
                                 "*SKIPPED*needs an OT-2: lab.toml has no *ot2* table*"], consecutive=False)


def test_a_lab_file_named_by_the_ini_option_is_found_from_the_ini_files_folder(lab_repo) -> None:
    write_lab(lab_repo, "lab/lab.toml")
    lab_repo.write("pytest.ini", lab_repo.path.joinpath("pytest.ini").read_text() + "labtwin_lab = lab/lab.toml\n")
    lab_repo.write("tests/test_lab.py", LAB_FILE_TESTS)
    result = lab_repo.run("-k", "analog", cwd=lab_repo.path / "tests")  # run from a subfolder
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["labtwin: the twin of ../lab/lab.toml (broker amqtt, seed 0, timeout 10 s)"])


CONFIG_ONLY_TESTS = '''\
def test_the_config(labtwin_config, labtwin_target):
    assert labtwin_target == "twin" and labtwin_config.device_ids == ["pico-1", "esp-1"]
'''


def test_labtwin_lab_in_the_environment_is_the_last_default(lab_repo) -> None:
    write_lab(lab_repo)
    lab_repo.write("tests/test_config.py", CONFIG_ONLY_TESTS)
    result = lab_repo.run(env={"LABTWIN_LAB": "lab.toml"})
    result.assert_outcomes(passed=1)
    # The option wins over the environment.
    result = lab_repo.run("--labtwin-lab", "missing.toml", env={"LABTWIN_LAB": "lab.toml"})
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: labtwin: cannot read lab file missing.toml: No such file or directory"])


OT2_LAB = """\
[[boards]]
id = "pico-1"

[ot2]
task_app = true
"""

OT2_TESTS = '''\
async def test_the_ot2_twin_homes(lab, ot2):
    assert lab.ot2_url is not None
    assert await ot2.execute_task("home") is None
'''


def test_the_ot2_fixture_is_the_ot2_twins_client_with_an_ot2_table(lab_repo) -> None:
    lab_repo.write("lab.toml", OT2_LAB)
    lab_repo.write("tests/test_ot2_lab.py", OT2_TESTS)
    result = lab_repo.run("--labtwin-lab", "lab.toml")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("lab_toml, message", [
    ('[[boards]]\nid = "pico-1"\nkind = "pico_x"\n',
     "lab.toml: boards[0].kind 'pico_x' is not one of pico_w, esp32"),
    ('[[boards]]\nid = "pico-1"\ncolour = "red"\n',
     "lab.toml: unknown key 'boards[0].colour'; allowed here: *"),
    ('[[boards]]\nid = "pico-1"\n\n[[boards.parts]]\ntype = "analog"\npin = 2\nvolts = 1.0\n',
     "lab.toml: boards[0].parts[0].pin: GPIO2 has no ADC on the header of a pico_w; ADC pins: 26, 27, 28"),
    ('[broker]\nurl = "mqtt://127.0.0.1:1883"\nmode = "bench"\n', "lab.toml: unknown key 'broker.mode'*"),
], ids=["bad-kind", "unknown-key", "pin-without-adc", "misplaced-key"])
def test_a_bad_lab_file_is_a_usage_error_with_its_key_path(lab_repo, lab_toml: str, message: str) -> None:
    lab_repo.write("lab.toml", lab_toml)
    lab_repo.write("tests/test_nothing.py", "def test_nothing():\n    pass\n")
    result = lab_repo.run("--labtwin-lab", "lab.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: labtwin: {message}".replace("[", "[[]")])  # fnmatch: '[' literally
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
