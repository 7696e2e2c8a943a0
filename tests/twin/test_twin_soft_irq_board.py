"""Soft IRQs on whole simulated boards: a watchdog that bites, and a community driver stepping through machine.Timer.

The watchdog counts on the host, so a board that stops feeding it is reset and boots again with
``reset_cause() == WDT_RESET``; one that feeds it is not. micropython-stepper (PyPI), copied
unchanged onto the flash as ``mpremote cp`` would, steps a StepperDriver model wired to its STEP and
DIR pins from a Timer callback until the motor reaches its target.
"""

from __future__ import annotations

import re
from pathlib import Path

from testkit import copy_distribution

from labtwin.twin.board.model import WDT_RESET
from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.board.profiles import PICO_W
from labtwin.twin.parts.stepper import StepperDriver

WATCHDOG_MAIN = """\
import machine
import time

cause = machine.reset_cause()
print("boot", cause)
wdt = machine.WDT(timeout=300)
if cause == machine.WDT_RESET:
    print("after the bite")
    while True:
        wdt.feed()
        time.sleep_ms(50)
t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < 1200:  # four timeouts long, fed every 50 ms
    wdt.feed()
    time.sleep_ms(50)
print("fed for", time.ticks_diff(time.ticks_ms(), t0), "ms")
while True:  # stuck without feeding: the watchdog must bite
    pass
"""


def _board(tmp_path: Path, firmware: Path) -> SimulatedBoard:
    return SimulatedBoard(device_id="soft-irq-board", profile=PICO_W, firmware_dir=firmware, device_config={},
                          work_dir=tmp_path / "work", seed=1)


async def test_a_watchdog_not_fed_resets_the_board_and_a_fed_one_does_not(tmp_path: Path) -> None:
    firmware = tmp_path / "firmware"
    firmware.mkdir()
    (firmware / "main.py").write_text(WATCHDOG_MAIN)
    board = _board(tmp_path, firmware)
    async with board:
        await board.wait_for_output("^boot 1$", timeout=30)
        fed = await board.wait_for_output("^fed for ", timeout=30)
        assert board.reboots == 0 and board.model.timekeeping.expirations == 0  # fed four timeouts long
        await board.wait_for_output("^after the bite$", timeout=30)
        lines = list(board.log_lines)
        assert board.reboots == 1 and board.model.timekeeping.expirations == 1
        assert board.model.reset_cause == WDT_RESET
        assert lines.index("boot 3") > lines.index(fed)  # the bite came after the feeding stopped
        assert board.model.timekeeping.watchdog_timeout_ms == 300  # the rebooted firmware started it again


STEPPER_MAIN = """\
import time
from stepper import Stepper

s = Stepper(2, 3, steps_per_rev=200, speed_sps=400)


def move_to(target):
    s.target(target)
    t0 = time.ticks_ms()
    while s.get_pos() != target and time.ticks_diff(time.ticks_ms(), t0) < 20000:
        time.sleep_ms(20)
    print("pos=" + str(s.get_pos()))


move_to(200)
s.target_deg(-90)
move_to(-50)
s.stop()
print("DONE")
while True:
    time.sleep_ms(100)
"""


async def test_micropython_stepper_moves_the_stepper_model_to_its_targets(tmp_path: Path) -> None:
    firmware = tmp_path / "firmware"
    firmware.mkdir()
    copy_distribution("micropython-stepper", firmware)
    (firmware / "main.py").write_text(STEPPER_MAIN)
    board = _board(tmp_path, firmware)
    # A motor that never loses a step to a pulse that comes too soon: the pulse timing of a soft Timer
    # in the twin is benchmarks/timer_period.py's business, the step count is this test's.
    motor = StepperDriver(step_pin=2, dir_pin=3, microsteps=1, steps_per_rev=200, max_steps_s=None)
    board.model.attach_gpio_part(motor)
    async with board:
        await board.wait_for_output("^DONE$", timeout=60)
        positions = re.findall(r"^pos=(-?\d+)$", "\n".join(board.log_lines), re.MULTILINE)
    assert positions == ["200", "-50"]  # the driver's own count...
    assert motor.position_steps == -50 and motor.angle_deg == -90.0  # ...and the shaft's
