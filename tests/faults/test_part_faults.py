"""Faults of parts: started and cleared like every fault, felt by firmware as on the real bench."""

from __future__ import annotations

from pathlib import Path

import pytest
from testkit import ManualClock, wait_until

from labtwin.errors import ConfigError
from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.board.profiles import PICO_W
from labtwin.twin.faults.part_faults import (
    BusHeldLow,
    ButtonStuck,
    CorruptedReads,
    PartSilent,
    PumpStall,
    QuantityDrift,
    QuantityStuck,
    UartGarbage,
    UartUnplugged,
)
from labtwin.twin.parts.balance import Balance
from labtwin.twin.parts.bme280 import Bme280
from labtwin.twin.parts.button import Button
from labtwin.twin.parts.hx711 import Hx711
from labtwin.twin.parts.i2c import I2CBus
from labtwin.twin.parts.pump import Pump, Vessel
from labtwin.twin.parts.sht4x import Sht4x

# Reads the BME280's chip id every 20 ms and prints what happened, numbered.
POLLING_FIRMWARE = """\
import time
from machine import I2C, Pin
i2c = I2C(0, sda=Pin(4), scl=Pin(5), timeout=2000)
n = 0
while True:
    n += 1
    try:
        print(n, 'READ', hex(i2c.readfrom_mem(0x76, 0xD0, 1)[0]))
    except OSError as e:
        print(n, 'ERRNO', e.args[0])
    time.sleep_ms(20)
"""


def _lines_after(board: SimulatedBoard, seen: int) -> list[str]:
    return list(board.log_lines)[seen:]


async def _next(board: SimulatedBoard, text: str) -> None:
    """Wait for a line containing ``text`` printed after every line seen so far."""
    seen = len(board.log_lines)
    await wait_until(lambda: any(text in line for line in _lines_after(board, seen)), f"a line with {text!r}")


@pytest.fixture
async def polling_board(tmp_path: Path):
    firmware = tmp_path / "firmware"
    firmware.mkdir()
    (firmware / "main.py").write_text(POLLING_FIRMWARE)
    board = SimulatedBoard(device_id="parts-1", profile=PICO_W, firmware_dir=firmware, device_config={},
                           work_dir=tmp_path / "work", seed=1)
    chip = board.model.attach_i2c(Bme280(0x76), sda=4, scl=5)
    async with board:
        await _next(board, "READ 0x60")
        yield board, chip


async def test_a_silent_chip_is_nacked_with_the_ports_errno_until_cleared(polling_board):
    board, chip = polling_board
    fault = PartSilent("parts-1", chip, board.model.clock)
    await fault.start()
    await _next(board, "ERRNO 5")  # rp2 hardware I2C: a NACKed address is EIO
    await fault.clear()
    await _next(board, "READ 0x60")
    assert fault.windows[0][1] is not None and "stops answering" in fault.describe()


async def test_a_bus_held_low_times_out_with_etimedout_until_cleared(polling_board):
    board, _ = polling_board
    fault = BusHeldLow("parts-1", board.model.i2c_bus(sda=4, scl=5), board.model.clock)
    await fault.start()
    await _next(board, "ERRNO 110")  # rp2's ETIMEDOUT
    await fault.clear()
    await _next(board, "READ 0x60")


async def test_corrupted_reads_break_a_sensirion_crc():
    clock = ManualClock()
    chip = Sht4x(0x44, temperature=21.0, humidity=40.0, noise=0.0)
    bus = I2CBus([chip])
    fault = CorruptedReads("parts-1", chip, clock)

    def measure() -> bytes:
        bus.write(0x44, b"\xfd", clock.now())
        clock.advance(0.01)
        return bus.read(0x44, 6, clock.now())

    from labtwin.twin.parts.sensirion_crc import sensirion_crc8

    good = measure()
    assert sensirion_crc8(good[3:5]) == good[5]
    await fault.start()
    bad = measure()
    assert sensirion_crc8(bad[3:5]) != bad[5]
    await fault.clear()
    again = measure()
    assert sensirion_crc8(again[3:5]) == again[5]


async def test_quantity_stuck_and_drift_disturb_what_a_load_cell_senses_and_clear_back():
    clock = ManualClock()
    cell = Hx711(2, 3, weight=lambda t: 100.0 + t)
    stuck = QuantityStuck("parts-1", cell, "weight", clock)
    clock.advance(5.0)
    await stuck.start()
    clock.advance(10.0)
    assert cell.weight.value(clock.now()) == pytest.approx(105.0)
    await stuck.clear()
    assert cell.weight.value(clock.now()) == pytest.approx(115.0)
    drift = QuantityDrift("parts-1", cell, "weight", clock, rate=0.5)
    await drift.start()
    clock.advance(4.0)
    assert cell.weight.value(clock.now()) == pytest.approx(119.0 + 2.0)
    await drift.clear()
    assert cell.weight.value(clock.now()) == pytest.approx(119.0)


def test_a_fault_on_a_missing_quantity_is_a_config_error():
    with pytest.raises(ConfigError, match="no quantity 'mass'"):
        QuantityStuck("parts-1", Hx711(2, 3, weight=1.0), "mass", ManualClock())


async def test_button_stuck_pressed_holds_the_contact():
    clock = ManualClock()
    button = Button(14)
    released_level = button.level(14, clock.now())
    fault = ButtonStuck("parts-1", button, clock, pressed=True)
    await fault.start()
    assert button.level(14, clock.now()) != released_level
    await fault.clear()
    assert button.level(14, clock.now()) == released_level


async def test_a_stalled_pump_doses_nothing_until_cleared():
    clock = ManualClock()
    vessel = Vessel("beaker")
    pump = Pump(16, vessel, flow_ml_s=2.0)
    pump.on_level(16, 1, clock.now())
    clock.advance(1.0)
    fault = PumpStall("parts-1", pump, clock)
    await fault.start()
    dosed = vessel.value(clock.now())
    clock.advance(5.0)
    assert vessel.value(clock.now()) == pytest.approx(dosed)
    await fault.clear()
    clock.advance(1.0)
    assert vessel.value(clock.now()) == pytest.approx(dosed + 2.0)


async def test_an_unplugged_balance_sends_nothing_and_line_noise_arrives_as_bytes():
    clock = ManualClock()
    balance = Balance(12.345)
    unplugged = UartUnplugged("parts-1", balance, clock)
    await unplugged.start()
    balance.receive(b"SI\r\n", clock.now())
    clock.advance(1.0)
    assert balance.transmit(clock.now()) == b""
    await unplugged.clear()
    noise = UartGarbage("parts-1", balance, clock, length=8, seed=3)
    await noise.start()
    assert len(balance.transmit(clock.now())) >= 8
    assert not noise.active and len(noise.windows) == 1
