"""GPIO parts wired to a board model, pin IRQ edges, pulse timing and the RTC, on the host with a manual clock.

What the firmware does arrives as hardware-bus operations (``model.dispatch``); the parts see the
board's output edges at their lab times and drive its inputs, and the edges a pin IRQ selects wait
for the VM (``model.irq.take()``). The VM side is tests/twin/test_twin_soft_irq_vm.py.
"""

from __future__ import annotations

import pytest
from testkit import ManualClock

from labtwin.errors import ConfigError
from labtwin.twin.board.model import BoardModel
from labtwin.twin.board.profiles import ESP32, PICO_W
from labtwin.twin.parts.button import Button
from labtwin.twin.parts.hx711 import Hx711
from labtwin.twin.parts.stepper import StepperDriver

OUT, IN, PULL_UP = 1, 0, 1
RP2_FALLING, RP2_RISING = 4, 8


def _board(clock: ManualClock, profile=PICO_W) -> BoardModel:  # type: ignore[no-untyped-def]
    board = BoardModel(profile, seed=1, clock=clock)
    board.power_on()
    return board


def test_output_edges_reach_a_stepper_driver_at_their_lab_times(clock: ManualClock) -> None:
    board = _board(clock)
    motor = board.attach_gpio_part(StepperDriver(step_pin=2, dir_pin=3, microsteps=1, max_steps_s=100.0))
    assert isinstance(motor, StepperDriver)
    board.dispatch("pin_init", [2, True, OUT])
    board.dispatch("pin_init", [3, True, OUT, None, 1])  # DIR high: forward
    for _ in range(5):
        clock.advance(0.02)
        board.dispatch("pin_value", [2, 1])
        board.dispatch("pin_toggle", [2])
    assert motor.position_steps == 5 and motor.missed_steps == 0
    clock.advance(0.02)
    board.dispatch("pin_value", [3, 0])
    board.dispatch("pin_value", [2, 1])
    clock.advance(0.001)  # 1 ms after the last step: faster than the motor's 100 steps/s
    board.dispatch("pin_value", [2, 0])
    board.dispatch("pin_value", [2, 1])
    assert motor.position_steps == 4 and motor.missed_steps == 1


def test_a_pin_driven_by_two_parts_is_refused(clock: ManualClock) -> None:
    board = _board(clock)
    board.attach_gpio_part(Button(14))
    with pytest.raises(ConfigError, match="already driven by Button"):
        board.attach_gpio_part(Button(14))
    with pytest.raises(ConfigError, match="no pin 40"):
        board.attach_gpio_part(Button(40))


def test_a_button_press_is_a_falling_edge_at_its_scripted_time(clock: ManualClock) -> None:
    board = _board(clock)
    button = board.attach_gpio_part(Button(14, bounce_transitions=1, bounce_s=0.004, seed=2))
    assert isinstance(button, Button)
    board.dispatch("pin_init", [14, True, IN, PULL_UP])
    board.dispatch("pin_irq", [14, RP2_FALLING])
    button.press(1.0, 0.5)
    clock.advance(0.9)
    assert board.dispatch("pin_value", [14]) == 1 and not board.irq.pending
    clock.advance(0.2)  # past the press and its bounce
    assert board.dispatch("pin_value", [14]) == 0
    # One bounce transition, rounded up to two: fall, rise, fall; the trigger keeps the falls.
    assert board.irq.take() == [[14, RP2_FALLING], [14, RP2_FALLING]]
    board.dispatch("pin_irq", [14, RP2_FALLING | RP2_RISING])
    clock.advance(1.0)  # the release, with its bounce: rise, fall, rise
    board.dispatch("pin_value", [14])
    assert board.irq.take() == [[14, RP2_RISING], [14, RP2_FALLING], [14, RP2_RISING]]
    board.dispatch("pin_irq", [14, 0])  # handler=None
    button.press(3.0, 0.5)
    clock.advance(2.0)
    board.dispatch("pin_value", [14])
    assert not board.irq.pending


def test_set_input_and_the_firmware_s_own_writes_are_edges_too(clock: ManualClock) -> None:
    board = _board(clock, ESP32)
    board.dispatch("pin_irq", [4, 3])  # esp32: IRQ_RISING 1 | IRQ_FALLING 2
    board.set_input(4, 1)
    board.set_input(4, 0)
    board.dispatch("pin_init", [5, True, OUT])
    board.dispatch("pin_irq", [5, 1])
    board.dispatch("pin_value", [5, 1])
    assert board.irq.take() == [[4, 1], [4, 2], [5, 1]]
    with pytest.raises(Exception, match="expecting a regular GPIO Pin"):
        _board(clock).dispatch("pin_irq", ["LED", RP2_FALLING])


def test_hx711_data_ready_is_an_irq_edge_and_the_word_reads_bit_by_bit(clock: ManualClock) -> None:
    board = _board(clock)
    chip = board.attach_gpio_part(Hx711(sck_pin=5, dout_pin=6, weight=100.0, noise_counts=0.0, rate_sps=80))
    assert isinstance(chip, Hx711)
    board.dispatch("pin_init", [5, True, OUT, None, 0])
    board.dispatch("pin_init", [6, True, IN])
    board.dispatch("pin_irq", [6, RP2_FALLING])
    clock.advance(0.049)
    board.dispatch("pin_value", [6])
    assert not board.irq.pending  # still settling: 4 conversions at 80 SPS
    clock.advance(0.002)
    assert board.dispatch("pin_value", [6]) == 0
    assert board.irq.take() == [[6, RP2_FALLING]]
    word = 0
    for _ in range(24):
        board.dispatch("pin_value", [5, 1])
        word = word << 1 | board.dispatch("pin_value", [6])
        board.dispatch("pin_value", [5, 0])
    board.dispatch("pin_value", [5, 1])  # the 25th pulse: channel A, gain 128 again
    board.dispatch("pin_value", [5, 0])
    assert word == chip.values_read[0] == round(chip.expected_raw(0.05))
    assert board.dispatch("pin_value", [6]) == 1  # DOUT high until the next conversion


async def test_time_pulse_us_follows_a_part_s_script_exactly(clock: ManualClock) -> None:
    board = _board(clock)
    button = board.attach_gpio_part(Button(16, active_low=False))
    assert isinstance(button, Button)
    button.press(1.0, 0.25)
    assert await board.dispatch("time_pulse_us", [16, 1, 2_000_000]) == 250_000
    assert clock.now() == pytest.approx(1.25)  # the VM was held until the pulse ended
    assert await board.dispatch("time_pulse_us", [16, 1, 100_000]) == -2  # no second press
    button.stuck_pressed = True
    assert await board.dispatch("time_pulse_us", [16, 1, 100_000]) == -1  # high, and staying high
    assert await board.dispatch("time_pulse_us", [16, 0, 100_000]) == -2


def test_rp2_rtc_runs_on_lab_time_and_restarts_on_every_boot_but_a_soft_one(clock: ManualClock) -> None:
    board = _board(clock)
    assert board.dispatch("rtc_datetime", []) == [2021, 1, 1, 4, 0, 0, 0, 0]
    board.dispatch("rtc_datetime", [[2024, 12, 31, 0, 23, 59, 58, 123]])
    clock.advance(2.5)
    assert board.dispatch("rtc_datetime", []) == [2025, 1, 1, 2, 0, 0, 0, 0]  # subseconds: always 0 on rp2
    board.reset_requested = "soft"
    board.power_on()
    assert board.dispatch("rtc_datetime", [])[:3] == [2025, 1, 1]
    board.reset_requested = "hard"
    board.power_on()
    assert board.dispatch("rtc_datetime", [])[:3] == [2021, 1, 1]


def test_esp32_rtc_counts_microseconds_and_survives_a_reset(clock: ManualClock) -> None:
    board = _board(clock, ESP32)
    assert board.dispatch("rtc_datetime", []) == [2000, 1, 1, 5, 0, 0, 0, 0]
    clock.advance(1.25)
    assert board.dispatch("rtc_datetime", [])[5:] == [0, 1, 250_000]
    board.reset_requested = "hard"
    board.power_on()
    assert board.dispatch("rtc_datetime", [])[6] == 1
    board.power_off()
    board.power_on()  # power cycled
    assert board.dispatch("rtc_datetime", [])[4:7] == [0, 0, 0]


def test_a_board_model_finds_its_one_wired_part_of_a_kind() -> None:
    board = BoardModel(PICO_W, seed=0)
    hx711 = board.attach_gpio_part(Hx711(sck_pin=5, dout_pin=6, weight=1.0))
    assert board.part(Hx711) is hx711 and board.parts == [hx711]
    with pytest.raises(ConfigError, match="board pico_w: 0 StepperDriver part\\(s\\) wired, expected one"):
        board.part(StepperDriver)
    board.attach_gpio_part(Hx711(sck_pin=7, dout_pin=8, weight=2.0))
    with pytest.raises(ConfigError, match="2 Hx711 part\\(s\\) wired"):
        board.part(Hx711)
