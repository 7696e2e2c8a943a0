"""SimulatedBoard: a real VM process running a tiny firmware made here."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from labtwin.errors import BoardCrashed, ConfigError
from labtwin.twin.board.model import Hazard
from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.board.profiles import PICO_W
from labtwin.twin.board.vm_launch import RESET_EXIT_CODE, SHIM_DIR

FIRMWARE = """\
import json, time, machine
from machine import Pin
import helper

cfg = json.load(open("device.json"))
try:
    boots = int(open("boots.txt").read())
except OSError:
    boots = 0
boots += 1
with open("boots.txt", "w") as f:
    f.write(str(boots))
print("hello", cfg["name"], machine.reset_cause(), boots, helper.VALUE)
led = Pin("LED", Pin.OUT)
for i in range(3):
    led.toggle()
    print("led", led.value())
mode = cfg.get("mode", "run")
if mode == "reset_once" and boots == 1:
    machine.reset()
if mode == "swallow_reset" and boots == 1:
    try:
        machine.reset()
    except BaseException:
        print("swallowed")
    while True:
        time.sleep_ms(10)
if mode == "wl_cs":
    Pin(25, Pin.OUT).value(1)
if mode == "crash":
    raise ValueError("boom")
if mode == "exit":
    print("bye")
    raise SystemExit(0)
print("ready")
while True:
    time.sleep_ms(20)
"""


@pytest.fixture
def firmware(tmp_path: Path) -> Path:
    fw = tmp_path / "firmware"
    (fw / "lib").mkdir(parents=True)
    (fw / "__pycache__").mkdir()
    (fw / "main.py").write_text(FIRMWARE)
    (fw / "lib" / "helper.py").write_text("VALUE = 42\n")
    (fw / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"not for boards")
    (fw / ".notes").write_text("not firmware\n")
    return fw


def make_board(firmware: Path, tmp_path: Path, name: str, mode: str = "run", **kw: object) -> SimulatedBoard:
    return SimulatedBoard(device_id=f"dev-{name}", profile=PICO_W, firmware_dir=firmware,
                          device_config={"name": name, "mode": mode}, work_dir=tmp_path / "work",
                          seed=1, **kw)  # type: ignore[arg-type]


async def test_output_capture_flash_and_led(firmware: Path, tmp_path: Path) -> None:
    seen: list[str] = []
    board = make_board(firmware, tmp_path, "cap", on_output=seen.append)
    async with board:
        assert await board.wait_for_output("^ready$", timeout=10) == "ready"
        assert board.running and board.model.led is True  # toggled three times
        assert list(board.log_lines)[:2] == ["hello cap 1 1 42", "led 1"]
        assert seen == list(board.log_lines)
        assert json.loads((board.flash_dir / "device.json").read_text()) == {"name": "cap", "mode": "run"}
        assert (board.flash_dir / "lib" / "helper.py").is_file()
        assert not (board.flash_dir / "__pycache__").exists() and not (board.flash_dir / ".notes").exists()
        assert board.flash_dir.parent == tmp_path / "work"
    assert not board.running and board.returncode is not None
    assert not board.bus.running
    log = board.log_path.read_text()
    assert board.log_path == tmp_path / "work" / "dev-cap.log"
    assert "hello cap 1 1 42\n" in log and "ready\n" in log
    board.check()  # a requested stop is not a crash


async def test_power_cut_and_reboot_keep_the_flash(firmware: Path, tmp_path: Path) -> None:
    board = make_board(firmware, tmp_path, "pc")
    async with board:
        await board.wait_for_output("ready", timeout=10)
        first_pid = board.pid
        await board.power_cut()
        assert board.exited.is_set() and not board.running
        assert board.returncode == -9
        assert board.model.led is False  # power is off
        board.check()
        await board.start()
        await board.wait_for_output("hello pc 1 2 42", timeout=10)  # boots.txt survived
        assert board.pid != first_pid and not board.exited.is_set()
        await board.reboot()
        await board.wait_for_output("hello pc 1 3 42", timeout=10)
        assert board.model.boot_count == 3


async def test_a_power_cut_powers_the_model_off_at_the_cut_not_when_the_vm_is_reaped(
        firmware: Path, tmp_path: Path) -> None:
    # What watches the board (the dashboard, the broker's will reaching a subscriber) must never see a
    # board that is gone but still powered: reaping the killed VM takes the lab a few loop turns.
    board = make_board(firmware, tmp_path, "cut")
    async with board:
        await board.wait_for_output("ready", timeout=10)
        proc = board.firmware_process
        assert proc is not None and board.model.powered
        cut = asyncio.create_task(board.power_cut())
        await asyncio.sleep(0)  # power_cut runs up to its first wait: the kill is sent
        assert proc.returncode is None  # not reaped yet
        assert not board.model.powered and board.model.led is False
        await cut
        assert not board.model.powered and board.returncode == -9
        assert board.model.boot_count == 1


async def test_machine_reset_restarts_automatically(firmware: Path, tmp_path: Path) -> None:
    board = make_board(firmware, tmp_path, "rst", mode="reset_once")
    async with board:
        await board.wait_for_output("hello rst 3 2 42", timeout=10)  # cause WDT_RESET after reset()
        await board.wait_for_output("ready", timeout=10)
        assert board.reboots == 1 and board.running and not board.exited.is_set()
        assert board.model.boot_count == 2
    assert "machine.reset() (hard): rebooting" in board.log_path.read_text()


async def test_swallowed_reset_is_enforced(firmware: Path, tmp_path: Path) -> None:
    board = make_board(firmware, tmp_path, "sw", mode="swallow_reset", reset_grace=0.2)
    async with board:
        await board.wait_for_output("hello sw 3 2 42", timeout=10)
        assert "swallowed" in board.log_lines and board.reboots == 1


async def test_crash_surfaces_as_board_crashed(firmware: Path, tmp_path: Path) -> None:
    board = make_board(firmware, tmp_path, "crash", mode="crash")
    async with board:
        with pytest.raises(BoardCrashed) as waiting:
            await board.wait_for_output("^ready$", timeout=10)
        assert await board.wait_exited(timeout=10) == 1
        with pytest.raises(BoardCrashed) as checked:
            board.check()
        assert checked.value is waiting.value
        assert checked.value.returncode == 1 and checked.value.device_id == "dev-crash"
        assert checked.value.last_lines[-1] == "ValueError: boom"
        assert "ValueError: boom" in str(checked.value)
        with pytest.raises(BoardCrashed):
            await board.wait_for_output("anything", timeout=1)
    assert "crashed: exit code 1" in board.log_path.read_text()


async def test_main_returning_is_unexpected(firmware: Path, tmp_path: Path) -> None:
    board = make_board(firmware, tmp_path, "bye", mode="exit")
    async with board:
        assert await board.wait_exited(timeout=10) == 0
        with pytest.raises(BoardCrashed, match="exit code 0"):
            board.check()


async def test_hazard_callback_from_firmware(firmware: Path, tmp_path: Path) -> None:
    hazards: list[Hazard] = []
    board = make_board(firmware, tmp_path, "wl", mode="wl_cs", on_hazard=hazards.append)
    async with board:
        await board.wait_for_output("ready", timeout=10)
    assert hazards and {h.pin for h in hazards} == {25}


async def test_wait_for_output_times_out(firmware: Path, tmp_path: Path) -> None:
    async with make_board(firmware, tmp_path, "to") as board:
        await board.wait_for_output("ready", timeout=10)
        with pytest.raises(TimeoutError):
            await board.wait_for_output("never printed", timeout=0.2)


async def test_missing_main_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    board = make_board(tmp_path / "empty", tmp_path, "none")
    with pytest.raises(ConfigError, match="main.py missing"):
        await board.start()
    await board.stop()


def test_reset_exit_code_matches_the_shim() -> None:
    shim = (SHIM_DIR / "machine.py").read_text()
    match = re.search(r"^RESET_EXIT_CODE = (\d+)", shim, re.MULTILINE)
    assert match and int(match.group(1)) == RESET_EXIT_CODE
    assert not (SHIM_DIR / "__init__.py").exists()
