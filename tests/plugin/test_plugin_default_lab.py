"""The plugin without any option: labtwin's default twin lab, one per test, stopped after it."""

from __future__ import annotations

import pytest

DEFAULT_LAB_TESTS = '''\
import pytest


async def test_the_default_lab_is_one_pico_w(lab, labtwin_target, labtwin_config):
    assert labtwin_target == "twin" and labtwin_config is None
    assert list(lab.device_ids) == ["pico-w-lab-001"]
    status = await lab.client("pico-w-lab-001").execute_task("get_device_status")
    assert status["board"] == "pico_w" and status["device_id"] == "pico-w-lab-001"


@pytest.mark.labtwin_needs("hardware", "faults")
async def test_the_hardware_fixture_sees_the_board_model(lab, hardware):
    await lab.client("pico-w-lab-001").execute_task("control_led", pin="LED", state=True)
    assert hardware.board("pico-w-lab-001").model.led
    reading = await lab.client("pico-w-lab-001").execute_task("read_sensor", sensor_pin=26)
    assert reading["voltage"] == pytest.approx(1.10, abs=0.05)  # the default bench wiring


async def test_ot2_is_skipped(ot2):
    raise AssertionError("the default lab has no OT-2")


@pytest.mark.labtwin_needs("ot2_robot_api")
def test_robot_api_is_skipped():
    raise AssertionError("the default lab has no OT-2 robot API twin")


@pytest.mark.labtwin_needs("wifi")
def test_an_unknown_capability_is_an_error():
    raise AssertionError("never runs")
'''


def test_the_default_twin_lab_runs_without_any_option(lab_repo) -> None:
    lab_repo.write("tests/test_default_lab.py", DEFAULT_LAB_TESTS)
    result = lab_repo.run()
    result.assert_outcomes(passed=2, skipped=2, errors=1)
    result.stdout.fnmatch_lines([
        "*SKIPPED*test_default_lab.py*: needs an OT-2: labtwin's default twin lab has none*",
        "*SKIPPED*needs the lab's 'ot2_robot_api' capability; this twin lab is built without it*",
    ], consecutive=False)
    result.stdout.fnmatch_lines(["*labtwin_needs('wifi'): not a lab capability; the capabilities are: "
                                 "'faults', 'hardware', 'ot2_robot_api'*"])
    assert "labtwin:" not in "\n".join(result.outlines[:8])  # no header line without an option


FAILING_TESTS = '''\
import json
from pathlib import Path

import psutil

PID_FILE = Path(__file__).with_name("board.json")


async def test_a_failing_test(lab, hardware):
    board = hardware.board("pico-w-lab-001")
    assert board.pid is not None and psutil.Process(board.pid).is_running()
    PID_FILE.write_text(json.dumps({"pid": board.pid, "work_dir": str(lab.work_dir)}))
    assert False, "this test fails on purpose"


def test_its_lab_was_stopped_after_it():
    recorded = json.loads(PID_FILE.read_text())
    try:
        alive = psutil.Process(recorded["pid"]).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        alive = False
    assert not alive, "the failing test's board VM is still running"
    assert not [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]
'''


def test_the_lab_is_stopped_after_a_failing_test(lab_repo) -> None:
    lab_repo.write("tests/test_failing.py", FAILING_TESTS)
    result = lab_repo.run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: this test fails on purpose*"])
    # The lab lived in the test's tmp_path (work_dir=tmp_path / "labtwin"), the board's log there.
    assert (lab_repo.path / "tests" / "board.json").exists()


NO_ASYNCIO_TESTS = '''\
def test_asks_for_a_lab(lab):
    raise AssertionError("never runs")


def test_without_a_lab(labtwin_target):
    assert labtwin_target == "twin"
'''


def test_the_lab_fixture_says_to_install_the_pytest_extra_without_pytest_asyncio(lab_repo) -> None:
    lab_repo.write("pytest.ini", "[pytest]\n")
    lab_repo.write("shadow/pytest_asyncio/__init__.py", 'raise ImportError("pytest-asyncio is shadowed")\n')
    lab_repo.write("tests/test_no_asyncio.py", NO_ASYNCIO_TESTS)
    result = lab_repo.run("-p", "no:asyncio", env={"PYTHONPATH": str(lab_repo.path / "shadow")})
    result.assert_outcomes(passed=1, errors=1)
    assert 'the lab fixture is async and needs pytest-asyncio: pip install "labtwin[pytest]"' in result.stdout.str()
    assert "plugins: " in result.stdout.str() and "asyncio-" not in result.stdout.str()


@pytest.mark.parametrize("args, message", [
    (("--labtwin-bench",), "*labtwin: --labtwin-bench runs the bench a lab file describes: give --labtwin-lab*"),
    (("--labtwin-timeout", "0"), "*labtwin: --labtwin-timeout must be more than 0 seconds, got 0*"),
])
def test_option_mistakes_are_usage_errors(lab_repo, args: tuple[str, ...], message: str) -> None:
    lab_repo.write("tests/test_nothing.py", "def test_nothing():\n    pass\n")
    result = lab_repo.run(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message.lstrip('*')}"])
    assert "Traceback" not in result.stderr.str()
