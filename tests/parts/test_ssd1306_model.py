"""SSD1306 model: MicroPython's ssd1306 driver traffic in, the panel's image out."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import numpy.typing as npt
import pytest

from labtwin.errors import ConfigError
from labtwin.twin.parts.i2c import I2CBus
from labtwin.twin.parts.ssd1306 import Ssd1306


def cmd(bus: I2CBus, *commands: int, address: int = 0x3C) -> None:
    """ssd1306.SSD1306_I2C.write_cmd: one transaction per command byte, Co=1 D/C#=0."""
    for c in commands:
        bus.write(address, bytes([0x80, c]), 0.0)


def init(bus: I2CBus, width: int, height: int, address: int = 0x3C) -> None:
    sequence = [0xAE, 0x20, 0x00, 0x40, 0xA1, 0xA8, height - 1, 0xC8, 0xD3, 0x00,
                0xDA, 0x02 if width > 2 * height else 0x12, 0xD5, 0x80, 0xD9, 0xF1, 0xDB, 0x30,
                0x81, 0xFF, 0xA4, 0xA6, 0xAD, 0x30, 0x8D, 0x14, 0xAF]
    cmd(bus, *sequence, address=address)


def framebuffer(image: npt.NDArray[np.bool_]) -> bytes:
    """framebuf.MONO_VLSB: one byte per column per 8-row page, LSB on top."""
    height, width = image.shape
    pages = image.reshape(height // 8, 8, width)
    return np.packbits(pages, axis=1, bitorder="little").reshape(height // 8, width).tobytes()


def show(bus: I2CBus, image: npt.NDArray[np.bool_], address: int = 0x3C) -> None:
    """ssd1306.show: column and page windows, then the buffer as one data write."""
    height, width = image.shape
    x0 = (128 - width) // 2
    cmd(bus, 0x21, x0, x0 + width - 1, 0x22, 0, height // 8 - 1, address=address)
    bus.write(address, b"\x40" + framebuffer(image), 0.0)


def pattern(height: int, width: int = 128) -> npt.NDArray[np.bool_]:
    rng = np.random.default_rng(3)
    image = rng.random((height, width)) < 0.3
    image[0, 0] = True  # a corner marker makes mirroring visible
    image[0, 1:4] = False
    return image


@pytest.mark.parametrize(("width", "height"), [(128, 64), (128, 32), (64, 48)])
def test_driver_frame_appears_upright(width: int, height: int):
    panel = Ssd1306(width=width, height=height)
    bus = I2CBus([panel])
    init(bus, width, height)
    image = pattern(height, width)
    show(bus, image)
    assert np.array_equal(panel.frame(), image)


def test_display_off_invert_and_entire_on():
    panel = Ssd1306()
    bus = I2CBus([panel])
    init(bus, 128, 64)
    image = pattern(64)
    show(bus, image)
    cmd(bus, 0xA7)
    assert np.array_equal(panel.frame(), ~image)
    cmd(bus, 0xA6, 0xA5)
    assert panel.frame().all()
    cmd(bus, 0xA4, 0xAE)
    assert not panel.frame().any()
    assert bus.read(0x3C, 1, 0.0) == b"\x40"  # status: display off


def test_charge_pump_off_keeps_the_glass_dark():
    panel = Ssd1306()
    bus = I2CBus([panel])
    init(bus, 128, 64)
    show(bus, pattern(64))
    cmd(bus, 0x8D, 0x10)
    assert not panel.frame().any()


def test_segment_remap_and_com_direction_mirror_and_flip():
    panel = Ssd1306()
    bus = I2CBus([panel])
    init(bus, 128, 64)
    image = pattern(64)
    show(bus, image)
    cmd(bus, 0xA0)  # rotate(0) sends 0xC0 and 0xA0: upside down
    assert np.array_equal(panel.frame(), image[:, ::-1])
    cmd(bus, 0xC0)
    assert np.array_equal(panel.frame(), image[::-1, ::-1])


def test_wrong_com_pin_configuration_interleaves_rows():
    panel = Ssd1306()
    bus = I2CBus([panel])
    init(bus, 128, 64)
    image = pattern(64)
    show(bus, image)
    cmd(bus, 0xDA, 0x02)  # the 128x32 setting on a 128x64 panel
    frame = panel.frame()
    assert not np.array_equal(frame, image)
    assert sorted(map(bytes, np.packbits(frame, axis=1))) == sorted(map(bytes, np.packbits(image, axis=1)))


def test_start_line_scrolls_the_ram_vertically():
    panel = Ssd1306()
    bus = I2CBus([panel])
    init(bus, 128, 64)
    image = pattern(64)
    show(bus, image)
    cmd(bus, 0x40 | 8)
    assert np.array_equal(panel.frame(), np.roll(image, -8, axis=0))


def test_address_window_wraps_in_horizontal_and_vertical_modes():
    panel = Ssd1306()
    bus = I2CBus([panel])
    init(bus, 128, 64)
    cmd(bus, 0x21, 10, 11, 0x22, 2, 3)
    bus.write(0x3C, b"\x40" + bytes([1, 2, 3, 4, 5]), 0.0)  # 2x2 window, then wraps to (2, 10)
    assert panel.gddram[2, 10:12].tolist() == [5, 2]
    assert panel.gddram[3, 10:12].tolist() == [3, 4]
    cmd(bus, 0x20, 0x01, 0x21, 20, 21, 0x22, 0, 1)  # vertical: pages first
    bus.write(0x3C, b"\x40" + bytes([7, 8, 9]), 0.0)
    assert panel.gddram[0:2, 20].tolist() == [7, 8]
    assert panel.gddram[0, 21] == 9


def test_page_mode_uses_page_and_column_start_commands():
    panel = Ssd1306()
    bus = I2CBus([panel])
    cmd(bus, 0xB5, 0x07, 0x11)  # reset mode is page addressing; page 5, column 0x17
    bus.write(0x3C, b"\x40\xff\x81", 0.0)
    assert panel.gddram[5, 0x17:0x19].tolist() == [0xFF, 0x81]


def test_command_stream_with_co_zero_and_multi_byte_commands():
    panel = Ssd1306()
    bus = I2CBus([panel])
    bus.write(0x3C, bytes([0x00, 0x81, 0x42, 0xA7, 0x26, 0, 0, 0, 7, 0, 0xFF, 0x2F]), 0.0)
    assert (panel.contrast, panel.inverted, panel.scrolling) == (0x42, True, True)


def test_to_png_writes_the_frame(tmp_path: Path):
    panel = Ssd1306(height=32)
    bus = I2CBus([panel])
    init(bus, 128, 32)
    image = pattern(32)
    show(bus, image)
    path = panel.to_png(tmp_path / "oled.png", scale=2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.shape == (64, 256, 3)
    assert np.array_equal(pixels[::2, ::2].sum(axis=2) > 0, image)


def test_other_addresses_are_refused():
    with pytest.raises(ConfigError):
        Ssd1306(0x3E)
