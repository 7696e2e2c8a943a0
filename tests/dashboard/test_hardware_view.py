"""What the dashboard reads from a board model: power, LED, pins, servos, part readings and a display's pixels."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from testkit import ManualClock

from labtwin.dashboard.hardware_view import board_hardware, new_trace_samples
from labtwin.twin.board.model import BoardModel
from labtwin.twin.board.profiles import PICO_W
from labtwin.twin.parts.balance import Balance
from labtwin.twin.parts.pump import Pump, Vessel
from labtwin.twin.parts.ssd1306 import Ssd1306

PUMP_PIN = 16


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(10.0)


@pytest.fixture
def model(clock: ManualClock) -> BoardModel:
    board = BoardModel(PICO_W, seed=3, clock=clock, board_id="pico-a")
    board.power_on()
    return board


def test_power_led_and_changed_pins_are_read_from_the_model(model: BoardModel, clock: ManualClock) -> None:
    model.op_pin_init("LED", True, 1)
    model.op_pin_value("LED", 1)
    model.op_pin_init(5, True, 1)
    model.op_pin_value(5, 1)

    seen = board_hardware(model, clock.now())

    assert seen["powered"] is True and seen["led"] is True
    assert seen["pins"]["GPIO5"] == 1
    model.power_off()
    assert board_hardware(model, clock.now())["led"] is False


def test_a_pump_a_balance_and_a_display_show_their_readings(model: BoardModel, clock: ManualClock) -> None:
    beaker = Vessel("beaker", 80.0)
    pump = model.attach_gpio_part(Pump(PUMP_PIN, beaker, flow_ml_s=0.5, name="feed"))
    model.attach_uart(Balance(beaker, name="scale"), tx=0, rx=1)
    display = model.attach_i2c(Ssd1306(name="oled"), sda=4, scl=5)
    assert isinstance(pump, Pump) and isinstance(display, Ssd1306)
    pump.on_level(PUMP_PIN, 1, 10.0)
    pattern = np.zeros((64, 128), dtype=bool)
    pattern[0, :3] = True  # three lit pixels at the top left, one at the bottom right
    pattern[63, 127] = True
    display.frame = lambda: pattern  # type: ignore[method-assign]

    parts = {part["name"]: part for part in board_hardware(model, 14.0)["parts"]}

    assert parts["feed"]["readings"]["flow_ml_s"] == 0.5
    assert parts["feed"]["readings"]["dispensed_ml"] == pytest.approx(2.0)
    assert parts["scale"]["readings"]["weight_g"] == pytest.approx(82.0, abs=0.01)
    shown = parts["oled"]["display"]
    rows = np.unpackbits(np.frombuffer(base64.b64decode(shown["bits"]), dtype=np.uint8)).reshape(64, 128)
    assert (shown["width"], shown["height"]) == (128, 64)
    assert np.array_equal(rows.astype(bool), pattern)


def test_trace_samples_are_handed_out_once(model: BoardModel, clock: ManualClock) -> None:
    sent: dict[str, float] = {}
    model.trace.record("adc.0", 11.0, 1.5)
    assert new_trace_samples(model, sent)["adc.0"] == [(11.0, 1.5)]
    assert "adc.0" not in new_trace_samples(model, sent)
    model.trace.record("adc.0", 12.0, 1.6)
    assert new_trace_samples(model, sent)["adc.0"] == [(12.0, 1.6)]
