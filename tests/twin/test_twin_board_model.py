"""BoardModel: the Pico W pin map, the rp2 port's errors, hazards, WiFi, dispatch."""

from __future__ import annotations

from typing import Any

import pytest
from testkit import ManualClock

from labtwin.twin.board.model import (
    PWRON_RESET,
    WDT_RESET,
    BoardModel,
    Hazard,
    MicroPythonError,
)
from labtwin.twin.board.profiles import BOARD_PROFILES, PICO_W
from labtwin.twin.models.wifi import (
    STAT_CONNECTING,
    STAT_GOT_IP,
    STAT_IDLE,
    STAT_NO_AP_FOUND,
    STAT_WRONG_PASSWORD,
)

OUT, IN = 1, 0


@pytest.fixture
def board(clock: ManualClock) -> BoardModel:
    m = BoardModel(PICO_W, seed=11, clock=clock, wifi_ssid="lab", wifi_password="pw", association_delay=0.5)
    m.power_on()
    return m


def raises(board: BoardModel, op: str, *args: Any) -> tuple[str, object]:
    with pytest.raises(MicroPythonError) as info:
        board.dispatch(op, list(args))
    return info.value.exc_type, info.value.arg


def test_pico_w_profile() -> None:
    assert BOARD_PROFILES["pico_w"] is PICO_W
    assert sorted(PICO_W.header_gpios) == [*range(23), 26, 27, 28]
    assert dict(PICO_W.adc_gpio_channels) == {26: 0, 27: 1, 28: 2, 29: 3}
    assert PICO_W.temp_channel == 4 and PICO_W.adc_channel_count == 5
    assert dict(PICO_W.wireless_pins) == {23: "WL_ON", 24: "WL_D", 25: "WL_CS", 29: "WL_CLK"}
    assert PICO_W.board_pins["LED"] == "EXT_GPIO0" and PICO_W.has_wifi
    assert 150_000 <= PICO_W.heap_bytes <= 260_000


def test_pin_resolution_follows_the_rp2_pin_tables(board: BoardModel) -> None:
    assert board.resolve_pin("GP0") == 0 and board.resolve_pin("GP28") == 28
    assert board.resolve_pin("GPIO25") == 25  # CPU names always work
    assert board.resolve_pin(29) == 29
    assert board.resolve_pin("LED") == "EXT_GPIO0" == board.resolve_pin("WL_GPIO0")
    for name in ("GP23", "GP25", "GP29", "D5", "led"):
        with pytest.raises(MicroPythonError, match=f'unknown named pin "{name}"'):
            board.resolve_pin(name)
    for bad in (30, -1, 1.0, None, True):
        with pytest.raises(MicroPythonError, match="^ValueError: invalid pin$"):
            board.resolve_pin(bad)


def test_adc_id_semantics(board: BoardModel) -> None:
    assert board.dispatch("adc_init", [0]) == 0  # int 0-4 is a channel
    assert board.dispatch("adc_init", [4]) == 4
    assert board.dispatch("adc_init", [26]) == 0  # 26-29 is a GPIO
    assert board.dispatch("adc_init", [28, True]) == 2
    assert board.dispatch("adc_init", ["GP27"]) == 1
    assert raises(board, "adc_init", 15) == ("ValueError", "Pin doesn't have ADC capabilities")
    assert raises(board, "adc_init", 4, True) == ("ValueError", "Pin doesn't have ADC capabilities")
    assert raises(board, "adc_init", 5) == ("ValueError", "Pin doesn't have ADC capabilities")
    assert raises(board, "adc_init", 31) == ("ValueError", "invalid pin")
    assert raises(board, "adc_init", "LED") == ("ValueError", "Pin doesn't have ADC capabilities")
    assert raises(board, "adc_read_u16", 9) == ("ValueError", "invalid channel")


def test_pwm_errors(board: BoardModel) -> None:
    assert raises(board, "pwm_init", "LED") == ("ValueError", "expecting a regular GPIO Pin")
    assert raises(board, "pwm_init", 30) == ("ValueError", "invalid pin")
    assert raises(board, "pwm_init", 3, 50.5) == ("TypeError", "can't convert float to int")
    assert board.dispatch("pwm_init", [3, 50]) == [1, 1, 3]
    assert raises(board, "pwm_freq", 3, 2) == ("ValueError", "freq too small")
    assert board.pin_mode(3) == "ALT"


def test_external_pin_errors(board: BoardModel) -> None:
    assert raises(board, "pin_init", "LED", True, OUT, 1) == (
        "ValueError", "pulls are not supported for external pins")
    assert raises(board, "pin_init", "LED", True, 2) == (
        "ValueError", "only Pin.OUT and Pin.IN are supported for this pin")
    assert raises(board, "pin_init", "LED", True, OUT, None, None, 4) == (
        "ValueError", "alternate functions are not supported for external pins")


@pytest.mark.parametrize("gpio, signal", [(23, "WL_ON"), (24, "WL_D"), (25, "WL_CS"), (29, "WL_CLK")])
def test_driving_a_wireless_pin_is_allowed_but_recorded(clock: ManualClock, gpio: int, signal: str) -> None:
    seen: list[Hazard] = []
    board = BoardModel(PICO_W, seed=1, clock=clock, on_hazard=seen.append)
    board.power_on()
    clock.advance(2.5)
    assert board.dispatch("pin_init", [gpio, True, OUT]) == gpio  # works, as on the real board
    board.dispatch("pin_value", [gpio, 1])
    assert board.pin_level(gpio) == 1
    assert len(seen) == 2 and board.hazards == tuple(seen)
    hazard = seen[0]
    assert hazard.time == 2.5 and hazard.pin == gpio and signal in hazard.pin_name
    assert "wireless chip" in hazard.message


def test_reading_or_using_header_pins_is_not_a_hazard(board: BoardModel) -> None:
    board.dispatch("pin_init", [25, False])  # Pin(25) alone touches nothing
    board.dispatch("pin_value", [25])
    board.dispatch("pin_init", [22, True, OUT, None, 1])
    board.dispatch("pwm_init", [16, 50, 3000])
    board.dispatch("adc_init", [26])
    assert board.hazards == ()
    board.dispatch("adc_init", [29])  # ADC on GP29 takes WL_CLK from the wireless chip
    assert [h.pin for h in board.hazards] == [29]


def test_led_state(board: BoardModel) -> None:
    assert board.led is False
    board.dispatch("pin_init", ["LED", True, OUT])
    board.dispatch("pin_value", ["LED", 1])
    assert board.led is True and board.pin_level("WL_GPIO0") == 1
    board.dispatch("pin_toggle", ["EXT_GPIO0"])
    assert board.led is False
    t, v = board.trace.arrays("pin.EXT_GPIO0")
    assert v.tolist() == [0.0, 1.0, 0.0]
    board.dispatch("pin_value", ["LED", 1])
    board.power_off()
    assert board.led is False


def test_external_inputs_and_vbus_sense(board: BoardModel) -> None:
    board.dispatch("pin_init", [9, True, IN])
    board.set_input("GP9", 1)
    assert board.dispatch("pin_value", [9]) == 1
    assert board.dispatch("pin_value", ["WL_GPIO1"]) == 1  # USB power present


def test_wifi_association(board: BoardModel, clock: ManualClock) -> None:
    assert raises(board, "wlan_connect", 0, "lab", "pw") == ("OSError", 1)  # EPERM: STA not active
    board.dispatch("wlan_active", [0, True])
    board.dispatch("wlan_connect", [0, "lab", "pw"])
    assert board.dispatch("wlan_status", [0]) == STAT_CONNECTING
    assert board.dispatch("wlan_ifconfig", [0])[0] == "0.0.0.0"
    clock.advance(0.6)
    assert board.dispatch("wlan_status", [0]) == STAT_GOT_IP
    assert board.dispatch("wlan_isconnected", [0]) is True
    assert board.dispatch("wlan_ifconfig", [0])[0].startswith("192.168.1.")
    board.dispatch("wlan_connect", [0, "lab", "nope"])
    clock.advance(0.6)
    assert board.dispatch("wlan_status", [0]) == STAT_WRONG_PASSWORD
    board.dispatch("wlan_connect", [0, "elsewhere", "pw"])
    clock.advance(0.6)
    assert board.dispatch("wlan_status", [0]) == STAT_NO_AP_FOUND
    board.dispatch("wlan_active", [0, False])
    assert board.dispatch("wlan_status", [0]) == STAT_IDLE
    assert [int(v) for v in board.trace.arrays("wifi.status")[1]] == [0, 1, 3, 1, -3, 1, -2, 0]


def test_lost_access_point_drops_the_station_and_fails_joins_until_it_is_back(
        board: BoardModel, clock: ManualClock) -> None:
    wifi = board.wifi
    assert wifi is not None
    board.dispatch("wlan_active", [0, True])
    board.dispatch("wlan_connect", [0, "lab", "pw"])
    clock.advance(0.6)
    assert board.dispatch("wlan_isconnected", [0]) is True
    wifi.lose_access_point()
    assert board.dispatch("wlan_isconnected", [0]) is False
    assert board.dispatch("wlan_status", [0]) == STAT_IDLE
    board.dispatch("wlan_connect", [0, "lab", "pw"])
    clock.advance(0.6)
    assert board.dispatch("wlan_status", [0]) == STAT_NO_AP_FOUND
    board.power_off()
    board.power_on()  # the AP belongs to the lab: a power cycle does not bring it back
    assert not wifi.access_point_present
    wifi.restore_access_point()
    assert board.dispatch("wlan_isconnected", [0]) is False  # nothing rejoins by itself
    board.dispatch("wlan_active", [0, True])
    board.dispatch("wlan_connect", [0, "lab", "pw"])
    clock.advance(0.6)
    assert board.dispatch("wlan_isconnected", [0]) is True


def test_identity_is_seeded(clock: ManualClock) -> None:
    a = BoardModel(PICO_W, seed=1, clock=clock, board_id="a")
    assert a.unique_id == BoardModel(PICO_W, seed=1, clock=clock, board_id="a").unique_id
    assert a.unique_id != BoardModel(PICO_W, seed=1, clock=clock, board_id="b").unique_id
    assert len(a.unique_id) == 8
    assert a.dispatch("wlan_config", [0, "mac"]).startswith("28cdc1")


def test_reset_bookkeeping(board: BoardModel) -> None:
    kinds: list[str] = []
    board.on_reset = kinds.append
    assert board.dispatch("reset_cause", []) == PWRON_RESET
    board.dispatch("reset", ["hard"])
    assert board.reset_requested == "hard" and kinds == ["hard"]
    board.power_on(cause=WDT_RESET)
    assert board.reset_requested is None and board.dispatch("reset_cause", []) == WDT_RESET
    assert board.boot_count == 2


def test_dispatch_rejects_unknown_ops_and_bad_arity(board: BoardModel) -> None:
    assert raises(board, "frobnicate")[0] == "NotImplementedError"
    assert raises(board, "pin_value")[0] == "TypeError"
    assert raises(board, "freq", 1_234_567) == ("ValueError", "cannot change frequency")
    board.dispatch("freq", [133_000_000])
    assert board.pwm.sys_hz == 133_000_000
