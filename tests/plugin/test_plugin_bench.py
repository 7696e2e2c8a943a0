"""The same tests on a lab file's bench and on its twin: what needs the twin is skipped on the bench, unstarted."""

from __future__ import annotations

import pytest

BENCH_LAB = """\
[broker]
url = "mqtt://127.0.0.1:{port}"

[[boards]]
id = "pico-1"
serial_port = "/dev/ttyACM0"
"""

BOTH_COLUMNS = '''\
import pytest


async def test_the_board_answers(lab):
    status = await lab.client("pico-1").execute_task("get_device_status")
    assert status["device_id"] == "pico-1"


@pytest.mark.labtwin_needs("hardware")
async def test_the_led_pin_follows(lab):
    from labtwin.scenarios.labs.lab import twin_hardware

    await lab.client("pico-1").execute_task("control_led", pin="LED", state=True)
    assert twin_hardware(lab).board("pico-1").model.led


async def test_the_hardware_fixture(lab, hardware):
    assert hardware.board("pico-1").model.profile.name == "pico_w"


def test_the_ot2_fixture(ot2):
    raise AssertionError("no OT-2 in this lab")


def test_the_target(labtwin_target, pytestconfig):
    assert labtwin_target == pytestconfig.getoption("labtwin_expected")
'''

CONFTEST = '''\
def pytest_addoption(parser):
    parser.addoption("--labtwin-expected")
'''


@pytest.fixture
def bench_repo(lab_repo, closed_port: int):
    lab_repo.write("lab.toml", BENCH_LAB.format(port=closed_port))
    lab_repo.write("conftest.py", CONFTEST)
    lab_repo.write("tests/test_both_columns.py", BOTH_COLUMNS)
    return lab_repo


def test_on_the_bench_twin_only_tests_skip_without_starting_anything(bench_repo, closed_port: int) -> None:
    # The file's mode is the bench (it has a broker URL); nothing listens there, so a lab that is
    # connected fails at once: the skipped tests never asked for one.
    result = bench_repo.run("--labtwin-lab", "lab.toml", "--labtwin-expected", "bench", "--labtwin-timeout", "3")
    result.assert_outcomes(passed=1, skipped=3, errors=1)
    result.stdout.fnmatch_lines([
        f"labtwin: the bench of lab.toml (broker mqtt://127.0.0.1:{closed_port}, timeout 3 s)",
        "*SKIPPED*test_both_columns.py*: needs the lab's 'hardware' capability; a bench lab has none "
        "(run it on the twin)",
        "*SKIPPED*test_both_columns.py*: needs the lab's 'hardware' capability; a bench lab has none "
        "(run it on the twin)",
        "*SKIPPED*test_both_columns.py*: needs an OT-2: lab.toml names no *ot2* task_server_url for the bench",
    ], consecutive=False)
    result.stdout.fnmatch_lines([f"labtwin could not start bench lab lab.toml: BrokerUnavailable: cannot connect "
                                 f"to MQTT broker 127.0.0.1:{closed_port}*"])
    assert result.duration < 20


def test_the_same_tests_run_on_the_twin_of_the_file(bench_repo) -> None:
    result = bench_repo.run("--labtwin-lab", "lab.toml", "--labtwin-twin", "--labtwin-expected", "twin")
    result.assert_outcomes(passed=4, skipped=1)


@pytest.mark.parametrize("args, message", [
    (("--labtwin-bench", "--labtwin-twin"), "--labtwin-bench and --labtwin-twin exclude each other: give one"),
    (("--labtwin-broker", "mosquitto"),
     "--labtwin-broker chooses a twin lab's broker; a bench's is the lab file's *broker* url"),
], ids=["bench-and-twin", "broker-on-the-bench"])
def test_contradicting_options_are_usage_errors(bench_repo, args: tuple[str, ...], message: str) -> None:
    result = bench_repo.run("--labtwin-lab", "lab.toml", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: labtwin: {message}"])


def test_a_twin_only_lab_file_on_the_bench_is_a_usage_error(lab_repo) -> None:
    lab_repo.write("lab.toml", '[[boards]]\nid = "pico-1"\n')
    lab_repo.write("tests/test_nothing.py", "def test_nothing():\n    pass\n")
    result = lab_repo.run("--labtwin-lab", "lab.toml", "--labtwin-bench")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(['ERROR: labtwin: lab.toml: a bench needs *broker* url = "mqtt://HOST:PORT"*'])
