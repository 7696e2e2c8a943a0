"""Firmware on a twin board driving an output chip over machine.I2C, read back from the chip model.

- PCA9685: the PyPI driver ``micropython-pca9685``, copied unchanged onto the board's flash as
  ``mpremote cp`` would, sets a servo angle; the servo model on that channel must sit where the
  real chip would put it. The driver rounds PRE_SCALE to ``osc / 4096 / freq`` where the datasheet
  says ``osc / (4096 * freq) - 1``, so the chip runs at 49.6 Hz instead of 50 and every pulse is
  123/122 (0.8 %) longer than the driver meant: a real servo sits 1.7 degrees off at 120 degrees,
  and so does the model's.
- SSD1306: no installable MicroPython driver exists, so the firmware carries a ten-line one written
  from the datasheet over MicroPython's built-in ``framebuf``; the glass (``frame()``) must show
  exactly the pixels the frame buffer holds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from testkit import copy_distribution, values_until_done

from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.board.profiles import PICO_W
from labtwin.twin.models.pwm import ServoModel
from labtwin.twin.parts.i2c import I2CTarget
from labtwin.twin.parts.pca9685 import PRE_SCALE, Pca9685
from labtwin.twin.parts.ssd1306 import Ssd1306

I2C0 = "from machine import I2C, Pin\ni2c = I2C(0, sda=Pin(4), scl=Pin(5))\n"
DONE = "import time\nprint('DONE')\nwhile True:\n    time.sleep_ms(50)\n"
OSC_HZ = 25_000_000


def _board(tmp_path: Path, main: str, *, distribution: str | None = None) -> SimulatedBoard:
    firmware = tmp_path / "firmware"
    firmware.mkdir()
    if distribution is not None:
        copy_distribution(distribution, firmware)
    (firmware / "main.py").write_text(I2C0 + main + DONE)
    return SimulatedBoard(device_id="output-board", profile=PICO_W, firmware_dir=firmware, device_config={},
                          work_dir=tmp_path / "work", seed=1)


async def _run(board: SimulatedBoard, part: I2CTarget) -> dict[str, str]:
    board.model.attach_i2c(part, sda=4, scl=5)
    return await values_until_done(board)


async def test_micropython_pca9685_servo_sits_where_the_real_chip_puts_it(tmp_path: Path) -> None:
    board = _board(tmp_path, (
        "from micropython_pca9685 import PCA9685, Servo\n"
        "pca = PCA9685(i2c)\n"
        "pca.frequency = 50\n"
        "servo = Servo(pca.channels[3])\n"  # 750..2250 us for 0..180 degrees
        "servo.angle = 120\n"
        "print('frequency=' + str(pca.frequency))\n"
        "print('duty=' + str(pca.channels[3].duty_cycle))\n"), distribution="micropython-pca9685")
    chip = Pca9685(0x40)
    servo = chip.attach_servo(3, ServoModel(board.model.clock, name="ch3", min_pulse_s=750e-6,
                                            max_pulse_s=2250e-6, range_deg=180.0))
    values = await _run(board, chip)

    assert chip.registers[PRE_SCALE] == 122  # round(25 MHz / 4096 / 50 Hz); the datasheet's value is 121
    driver_hz = OSC_HZ / 4096 / 122
    assert float(values["frequency"]) == pytest.approx(driver_hz)
    assert chip.frequency_hz() == pytest.approx(OSC_HZ / (4096 * 123))  # 49.62 Hz on the output
    count = int(values["duty"]) >> 4  # the 12-bit OFF count the driver wrote
    meant_us = count / 4096 / driver_hz * 1e6
    assert meant_us == pytest.approx(750 + 120 / 180 * 1500, abs=1e6 / 4096 / 50)  # within one count
    t = servo.settle_time()
    real_us = chip.pulse_us(3, t)
    assert real_us == pytest.approx(meant_us * 123 / 122)
    angle = chip.angle(3, t)
    assert angle == pytest.approx((real_us - 750) / 1500 * 180)
    assert angle - (meant_us - 750) / 1500 * 180 == pytest.approx(1.7, abs=0.1)  # the driver's off-by-one


SSD1306_FIRMWARE = """\
import framebuf

W, H = 128, 64
buf = bytearray(W * H // 8)
fb = framebuf.FrameBuffer(buf, W, H, framebuf.MONO_VLSB)  # GDDRAM's layout: a byte is 8 rows of a column


def command(*codes):
    i2c.writeto(0x3C, bytes((0x00,) + codes))  # control byte Co=0, D/C#=0: a stream of commands


# Datasheet (Rev 1.1) power-on sequence for a 128x64 module on its internal charge pump.
command(0xAE, 0xD5, 0x80, 0xA8, H - 1, 0xD3, 0x00, 0x40, 0x8D, 0x14, 0x20, 0x00,  # horizontal addressing
        0xA1, 0xC8, 0xDA, 0x12, 0x81, 0xCF, 0xD9, 0xF1, 0xDB, 0x40, 0xA4, 0xA6, 0xAF)
fb.fill(0)
fb.text("labtwin", 0, 0, 1)
fb.hline(0, 20, W, 1)
fb.line(0, H - 1, W - 1, 30, 1)
fb.rect(100, 40, 20, 20, 1)
command(0x21, 0, W - 1, 0x22, 0, H // 8 - 1)
i2c.writevto(0x3C, (b"\\x40", buf))  # control byte D/C#=1: display data
print("page0=" + bytes(buf[:W]).hex())
print("lit=" + str(sum(bin(b).count("1") for b in buf)))
"""


async def test_framebuf_text_and_lines_reach_the_ssd1306_glass(tmp_path: Path) -> None:
    board = _board(tmp_path, SSD1306_FIRMWARE)
    display = Ssd1306(0x3C)
    values = await _run(board, display)
    frame = display.frame()
    assert display.display_on and display.charge_pump
    assert int(frame.sum()) == int(values["lit"])
    # Rows 0-7: the text, bit by bit as framebuf drew it into page 0.
    page0 = np.frombuffer(bytes.fromhex(values["page0"]), dtype=np.uint8)
    text_rows = np.unpackbits(page0[None, :], axis=0, bitorder="little").astype(bool)  # (8, 128)
    assert np.array_equal(frame[0:8], text_rows)
    assert text_rows[:, :7 * 8].any() and not text_rows[:, 7 * 8:].any()  # 7 glyphs of 8 columns
    assert frame[20].all()  # the hline
    assert frame[63, 0] and frame[30, 127]  # the diagonal's ends
    assert frame[40, 100:120].all() and frame[59, 100:120].all()  # the rectangle's edges
    assert frame[40:60, 100].all() and frame[40:60, 119].all()
    assert not frame[10:20].any()  # nothing between the text and the line
