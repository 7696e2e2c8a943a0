"""SSD1306: Solomon Systech's 128x64 OLED controller on I2C, as a framebuf driver uses it.

Every I2C write starts with a control byte: Co (bit 7) and D/C# (bit 6). Co = 0 means every byte
after it is a command (D/C# = 0, e.g. 0x00) or display data (D/C# = 1, 0x40); Co = 1 means one byte,
then another control byte (MicroPython's ``ssd1306`` sends each command as ``0x80, cmd``, its own
transaction, so a command's parameters arrive in later transactions: the parser keeps its state
across writes).

Commands handled as the datasheet (Rev 1.1) defines them: contrast 0x81, entire display on 0xA4/A5,
normal/inverse 0xA6/A7, display off/on 0xAE/AF, memory addressing mode 0x20 (horizontal, vertical,
page; page is the reset mode), column and page address windows 0x21/0x22, page-mode column and page
starts 0x00-0x1F and 0xB0-0xB7, start line 0x40-0x7F, segment remap 0xA0/A1, multiplex ratio 0xA8,
COM scan direction 0xC0/C8, display offset 0xD3, COM pin configuration 0xDA, charge pump 0x8D,
timing (0xD5, 0xD9, 0xDB), IREF select 0xAD, NOP 0xE3, and the scroll, fade and zoom commands
(parsed with their parameters; scrolling does not move the image in :meth:`Ssd1306.frame`).

The panel: a module is wired so that MicroPython's initialisation (0xA1, 0xC8, COM pins 0x02 when
the panel is more than twice as wide as high, else 0x12) shows the frame buffer upright; other settings mirror, flip or
interleave the image as the glass would. :meth:`Ssd1306.frame` returns that image as an (H, W) bool
array and :meth:`Ssd1306.to_png` writes it for reports.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.i2c import I2CTarget

__all__ = ["Ssd1306", "write_png"]

COLUMNS, PAGES, RAM_ROWS = 128, 8, 64
HORIZONTAL, VERTICAL, PAGE = 0, 1, 2
# Commands followed by parameter bytes, and how many.
PARAMETERS = {0x81: 1, 0x20: 1, 0x21: 2, 0x22: 2, 0xA8: 1, 0xD3: 1, 0xDA: 1, 0xD5: 1, 0xD9: 1, 0xDB: 1,
              0x8D: 1, 0xAD: 1, 0x26: 6, 0x27: 6, 0x29: 5, 0x2A: 5, 0xA3: 2, 0x23: 1, 0xD6: 1}


class Ssd1306(I2CTarget):
    """An SSD1306 module of ``width`` x ``height`` pixels (128x64 or 128x32; 64-wide panels use the
    centre columns) at ``address`` 0x3C or 0x3D.

    Args:
        external_vcc: the module has its own VCC supply; otherwise (most modules) the glass stays dark
            until firmware enables the charge pump (0x8D 0x14).
        name: label in trace signals (``ssd1306.<name>.display_on``).
        trace: where display on/off changes go.
    """

    def __init__(self, address: int = 0x3C, *, width: int = 128, height: int = 64, external_vcc: bool = False,
                 name: str = "ssd1306", trace: Trace | None = None) -> None:
        if address not in (0x3C, 0x3D):
            raise ConfigError(f"SSD1306 answers at 0x3C or 0x3D (its SA0 pin), not 0x{address:02x}")
        if height not in (16, 32, 48, 64) or width not in (64, 72, 96, 128):
            raise ConfigError(f"no SSD1306 module of {width}x{height}")
        super().__init__(address)
        self.width, self.height, self.external_vcc = width, height, external_vcc
        self.name, self._trace = name, trace
        # How the module's COM lines are wired: alternative unless the panel is over twice as wide as high.
        self._native_alternative = width <= 2 * height
        self.gddram = np.zeros((PAGES, COLUMNS), dtype=np.uint8)
        """Display RAM: 8 pages of 128 columns, one byte = 8 vertical pixels, LSB on top."""
        self.reset()

    def reset(self) -> None:
        """The controller's reset state (RES# pulled low): display off, page addressing, RAM kept."""
        self.display_on, self.inverted, self.entire_on, self.charge_pump = False, False, False, False
        self.contrast, self.mode, self.start_line, self.offset = 0x7F, PAGE, 0, 0
        self.segment_remap, self.com_reversed, self.mux = False, False, 64
        self.com_alternative, self.com_left_right = True, False
        self.scrolling = False
        self.col_start, self.col_end, self.page_start, self.page_end = 0, COLUMNS - 1, 0, PAGES - 1
        self.column, self.page, self.page_column = 0, 0, 0
        self._command: list[int] = []  # a command waiting for its parameters

    # --- I2C -----------------------------------------------------------------------------------------

    def write(self, data: bytes, t: float) -> int:
        """Control byte(s), then commands or display data."""
        i = 0
        while i < len(data):
            control = data[i]
            i += 1
            is_data = bool(control & 0x40)
            if not control & 0x80:  # Co = 0: the rest of the transaction is one stream
                for byte in data[i:]:
                    self._byte(is_data, byte, t)
                break
            if i < len(data):
                self._byte(is_data, data[i], t)
                i += 1
        return len(data)

    def _byte(self, is_data: bool, byte: int, t: float) -> None:
        if is_data:
            self._data(byte)
        else:
            self._command_byte(byte, t)

    def read(self, n: int, t: float) -> bytes:
        """The status byte (bit 6 set while the display is off), repeated."""
        return bytes([0x40 if not self.display_on else 0x00]) * n

    # --- commands ------------------------------------------------------------------------------------

    def _command_byte(self, byte: int, t: float) -> None:
        self._command.append(byte)
        if len(self._command) - 1 < PARAMETERS.get(self._command[0], 0):
            return
        command, params = self._command[0], self._command[1:]
        self._command = []
        self._execute(command, params, t)

    def _execute(self, c: int, p: list[int], t: float) -> None:
        if c in (0xAE, 0xAF):
            self.display_on = c == 0xAF
            if self._trace is not None:
                self._trace.record(f"ssd1306.{self.name}.display_on", t, float(self.display_on))
        elif c in (0xA4, 0xA5):
            self.entire_on = c == 0xA5
        elif c in (0xA6, 0xA7):
            self.inverted = c == 0xA7
        elif c == 0x81:
            self.contrast = p[0]
        elif c == 0x20:
            self.mode = p[0] & 0x03 if p[0] & 0x03 != 3 else self.mode  # 3 is invalid: ignored
        elif c == 0x21:
            self.col_start, self.col_end = p[0] & 0x7F, p[1] & 0x7F
            self.column = self.col_start
        elif c == 0x22:
            self.page_start, self.page_end = p[0] & 0x07, p[1] & 0x07
            self.page = self.page_start
        elif c <= 0x0F:
            self.page_column = self.column = (self.page_column & 0xF0) | c
        elif c <= 0x1F:
            self.page_column = self.column = (self.page_column & 0x0F) | (c & 0x07) << 4
        elif 0xB0 <= c <= 0xB7:
            self.page = c & 0x07
        elif 0x40 <= c <= 0x7F:
            self.start_line = c & 0x3F
        elif c in (0xA0, 0xA1):
            self.segment_remap = c == 0xA1
        elif c == 0xA8:
            if (p[0] & 0x3F) >= 15:  # values 0..14 are invalid
                self.mux = (p[0] & 0x3F) + 1
        elif c in (0xC0, 0xC8):
            self.com_reversed = c == 0xC8
        elif c == 0xD3:
            self.offset = p[0] & 0x3F
        elif c == 0xDA:
            self.com_alternative, self.com_left_right = bool(p[0] & 0x10), bool(p[0] & 0x20)
        elif c == 0x8D:
            self.charge_pump = bool(p[0] & 0x04)
        elif c in (0x26, 0x27, 0x29, 0x2A, 0x2F):
            self.scrolling = self.scrolling or c == 0x2F
        elif c == 0x2E:
            self.scrolling = False
        # 0xD5, 0xD9, 0xDB, 0xAD, 0xA3, 0x23, 0xD6 (timing, IREF, scroll area, fade, zoom) and NOP
        # 0xE3 change nothing the frame shows.

    # --- display RAM ---------------------------------------------------------------------------------

    def _data(self, byte: int) -> None:
        self.gddram[self.page, self.column] = byte
        if self.mode == PAGE:
            self.column = self.column + 1 if self.column < COLUMNS - 1 else self.page_column
        elif self.mode == HORIZONTAL:
            if self.column < self.col_end:
                self.column += 1
            else:
                self.column = self.col_start
                self.page = self.page + 1 if self.page < self.page_end else self.page_start
        else:
            if self.page < self.page_end:
                self.page += 1
            else:
                self.page = self.page_start
                self.column = self.column + 1 if self.column < self.col_end else self.col_start

    def ram_pixels(self) -> npt.NDArray[np.bool_]:
        """The display RAM as (64, 128) pixels, row 0 = bit 0 of page 0."""
        bits = np.unpackbits(self.gddram[:, None, :], axis=1, bitorder="little")  # (8, 8, 128)
        return bits.reshape(RAM_ROWS, COLUMNS).astype(bool)

    def _com_pin(self, output: int, alternative: bool, left_right: bool) -> int:
        pin = output // 2 + (32 if output % 2 else 0) if alternative else output
        return (pin + 32) % 64 if left_right else pin

    def frame(self) -> npt.NDArray[np.bool_]:
        """What the glass shows: (height, width) bools, True = lit."""
        image = np.zeros((self.height, self.width), dtype=bool)
        if not self.display_on or not (self.charge_pump or self.external_vcc):
            return image
        ram = self.ram_pixels()
        # Which panel row each COM pin lights: the module is wired for an upright 0xC8 image.
        row_of_pin = {self._com_pin(self.height - 1 - y, self._native_alternative, False): y
                      for y in range(self.height)}
        first = (COLUMNS - self.width) // 2
        segments = np.arange(COLUMNS - 1 - first, COLUMNS - 1 - first - self.width, -1)  # panel x -> SEG
        columns = COLUMNS - 1 - segments if self.segment_remap else segments
        for r in range(self.mux):
            output = self.mux - 1 - r if self.com_reversed else r
            y = row_of_pin.get(self._com_pin(output, self.com_alternative, self.com_left_right))
            if y is None:
                continue
            row = ram[(r + self.start_line + self.offset) % RAM_ROWS, columns]
            image[y] = True if self.entire_on else row != self.inverted
        return image

    def to_png(self, path: Path, *, scale: int = 4, lit: tuple[int, int, int] = (120, 200, 255)) -> Path:
        """Write :meth:`frame` as a PNG, each pixel ``scale`` x ``scale``, lit pixels in ``lit``."""
        frame = np.repeat(np.repeat(self.frame(), scale, axis=0), scale, axis=1)
        rgb = np.zeros(frame.shape + (3,), dtype=np.uint8)
        rgb[frame] = lit
        return write_png(path, rgb)


def write_png(path: Path, rgb: npt.NDArray[np.uint8]) -> Path:
    """Write an (H, W, 3) uint8 array as an 8-bit RGB PNG (no dependency beyond zlib)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ConfigError("write_png needs an (H, W, 3) uint8 array")
    height, width = rgb.shape[:2]

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + rgb[y].tobytes() for y in range(height))  # filter 0 on every row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path = Path(path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))
    return path
