"""neopixel/machine.bitstream and onewire/ds18x20 inside the real MicroPython VM, against part models per port.

The modules are the ones the rp2 and esp32 ports freeze (research notes: /work/notes/micropython-buses.md,
section 9); the part models are tests/parts' WS2812 chain and DS18B20.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
from twin_testkit import run_vm_results

from labtwin.twin.board.bus import HardwareBus
from labtwin.twin.board.model import BoardModel
from labtwin.twin.board.profiles import BOARD_PROFILES
from labtwin.twin.parts.ds18b20 import Ds18b20
from labtwin.twin.parts.ds18b20_faults import CorruptibleDs18b20
from labtwin.twin.parts.ws2812 import Ws2812Chain

PROFILES = ["pico_w", "esp32"]
# Firmware heap the modules take once imported (the ports freeze them in flash; here they compile
# onto the VM's heap). Measured: about 1.5 KB for neopixel, 5.3 KB for onewire + _onewire + ds18x20;
# the budgets leave room for the interpreter's qstr pools, which grow in chunks.
NEOPIXEL_HEAP_BUDGET = 3_000
ONEWIRE_HEAP_BUDGET = 7_000


def _pins(model: BoardModel) -> dict[str, int]:
    if model.profile.port == "esp32":
        return {"leds": 25, "rgbw": 26, "slow": 27, "two": 26, "one": 27, "none": 23}
    return {"leds": 16, "rgbw": 17, "slow": 18, "two": 22, "one": 21, "none": 20}


@pytest.fixture(params=PROFILES)
def board(request: pytest.FixtureRequest) -> BoardModel:
    model = BoardModel(BOARD_PROFILES[request.param], seed=3)
    model.power_on()
    return model


@pytest.fixture
async def hwbus(board: BoardModel) -> AsyncIterator[HardwareBus]:
    async with HardwareBus(board) as bus:
        yield bus


async def test_neopixel_colours_reach_the_ws2812_chains(board: BoardModel, hwbus: HardwareBus) -> None:
    """micropython-lib neopixel.py (GRB order, fill, timing=0/1, bpp=4) over extmod/machine_bitstream.c."""
    pins = _pins(board)
    leds = board.attach_ws2812(Ws2812Chain(pins["leds"], 8))
    rgbw = board.attach_ws2812(Ws2812Chain(pins["rgbw"], 2, bytes_per_led=4))
    slow = board.attach_ws2812(Ws2812Chain(pins["slow"], 3))
    r = await run_vm_results(hwbus, "neopixel_chains.py")
    assert r["sizes"] == "8 8 3 (400, 850, 800, 450)"
    assert r["get"] == "(255, 0, 0) (1, 2, 3)"
    assert r["buf"] == "00ff00ff0000"  # G, R, B per LED
    t = board.clock.now()
    expected = [(255, 0, 0), (0, 255, 0)] + [(0, 0, 16)] * 5 + [(1, 2, 3)]
    assert leds.colors(t).tolist() == [list(c) for c in expected]
    assert rgbw.colors(t).tolist() == [[10, 20, 30, 40], [0, 0, 0, 255]]
    # 400 kHz pulses: every high lasts past the LEDs' sampling point, so every bit reads 1.
    assert np.all(slow.colors(t) == 255)
    assert leds.frames == 1  # one write, one latched frame
    assert board.pin_mode(pins["leds"]) == "OUT" and board.pin_level(pins["leds"]) == 0
    assert r["encoding"] == "ValueError: encoding"
    assert r["timing_len"] == "ValueError: requested length 4 but object has length 3"
    assert r["timing_type"] == "TypeError: object 'int' isn't a tuple or list"
    assert r["timing_float"] == "TypeError: can't convert float to int"
    assert r["buffer"] == "TypeError: object with buffer protocol required"
    assert r["bad_pin"] == "ValueError: invalid pin"
    if board.profile.port == "rp2":
        assert r["led_pin"] == "ValueError: expecting a regular GPIO Pin"
    assert 0 < int(r["heap_neopixel"]) <= NEOPIXEL_HEAP_BUDGET
    assert r["done"] == ""


async def test_two_ds18b20_on_one_pin_read_through_ds18x20(board: BoardModel, hwbus: HardwareBus) -> None:
    """drivers/onewire/onewire.py and micropython-lib ds18x20.py over extmod/modonewire.c: scan, convert,
    the 750 ms wait, read_temp within 1/16 degC; a corrupted scratchpad raises the module's CRC error."""
    pins = _pins(board)
    warm = board.attach_onewire(Ds18b20(21.3, serial=0xA1), pin=pins["two"])
    cold = board.attach_onewire(Ds18b20(-5.55, serial=0xB2), pin=pins["two"])
    faulty = CorruptibleDs18b20(30.0, serial=0xC3)
    faulty.corrupt_reads = True
    board.attach_onewire(faulty, pin=pins["one"])
    r = await run_vm_results(hwbus, "onewire_ds18x20.py")
    # Serial bytes 0xA1 and 0xB2 first differ in their bit 0; the search takes the 1 branch first.
    assert r["roms"] == f"{warm.rom.hex()} {cold.rom.hex()} bytearray"
    assert r["power_on"] == "85.0"
    first, second = (float(x) for x in r["temps"].split())
    assert first == pytest.approx(21.3, abs=1 / 16) and second == pytest.approx(-5.55, abs=1 / 16)
    assert (first, second) == (341 / 16, -89 / 16)  # the 12-bit registers, rounded to 1/16 degC
    assert r["t9"] == "-5.5 4b461f"  # 9 bits: 0.5 degC steps; the configuration as written back
    # Whole operations per request: two search passes, reset + command bytes, and for read_temp
    # reset, select_rom's reset and MATCH ROM + ROM, READ SCRATCHPAD, nine bytes.
    assert (r["trips_scan"], r["trips_convert"], r["trips_read_temp"]) == ("2", "2", "5")
    assert r["present"] == "True"
    assert r["read_rom"] == f"{faulty.rom.hex()} 0"
    assert r["powered"] == "1"
    assert r["crc8"] == "0xa2 0"  # Maxim's worked example (AN27)
    assert r["crc"] == "Exception: CRC error"
    assert faulty.corrupted == 1
    assert r["writebyte_float"] == "TypeError: can't convert float to int"
    assert r["crc8_list"] == "TypeError: object with buffer protocol required"
    assert r["empty_scan"] == "[] False"
    assert r["absent"] == "OneWireError: "
    assert r["absent_convert"] == "OneWireError: "
    if board.profile.port == "rp2":
        assert r["led_pin"] == "ValueError: expecting a regular GPIO Pin"
    assert 0 < int(r["heap_onewire"]) <= ONEWIRE_HEAP_BUDGET
    assert r["done"] == ""
