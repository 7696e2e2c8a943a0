"""A chain of WS2812 ("NeoPixel") LEDs on one data pin.

Each LED takes the first 24 bits it receives after a reset (G, R, B, MSB first), passes the rest
down the chain, and shows its new colour when the line stays low for the reset time (>= 50 us on the
WS2812, 280 us on newer WS2812B). A bit is a high pulse: the LED samples about 0.6 us after the
rising edge, so a short high (T0H, nominally 0.4 us) is a 0 and a long one (T1H, 0.8 us) a 1; a low
longer than the reset time in the middle of a frame ends it.

Firmware reaches a chain in one of two ways, and the model takes either:

- ``machine.bitstream(pin, 0, (t0h, t0l, t1h, t1l), buf)`` (what ``neopixel.NeoPixel.write`` does):
  :meth:`Ws2812Chain.bitstream` with the timing in nanoseconds and the buffer, decoded through the
  same pulse rules, so wrong timings give wrong colours as on a bench;
- timed edges on the pin (:meth:`Ws2812Chain.on_level`), for a board model that has them.

RGBW parts (SK6812) take 32 bits (G, R, B, W) per LED: ``bytes_per_led=4``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.gpio_part import GpioPart

__all__ = ["NEOPIXEL_800KHZ", "Ws2812Chain"]

NEOPIXEL_800KHZ = (400, 850, 800, 450)
"""The ``machine.bitstream`` timing MicroPython's ``neopixel`` module uses at 800 kHz (ns)."""


class Ws2812Chain(GpioPart):
    """``count`` LEDs with their data input on ``pin``.

    Args:
        pin: the board output driving DIN of the first LED.
        count: LEDs in the chain.
        bytes_per_led: 3 (GRB) or 4 (GRBW).
        threshold_s: high time above which a pulse is a 1.
        reset_s: low time that latches the frame.
        name: label in trace signals (``ws2812.<name>.frames``).
        trace: where latched frames are counted.
    """

    def __init__(self, pin: int, count: int, *, bytes_per_led: int = 3, threshold_s: float = 0.6e-6,
                 reset_s: float = 50e-6, name: str = "ws2812", trace: Trace | None = None) -> None:
        super().__init__(watches=[pin])
        if count < 1 or bytes_per_led not in (3, 4):
            raise ConfigError(f"WS2812 chain: need count >= 1 and bytes_per_led 3 or 4 (got {count}, {bytes_per_led})")
        self.pin, self.count, self.bytes_per_led = pin, count, bytes_per_led
        self.threshold_s, self.reset_s = threshold_s, reset_s
        self.name, self._trace = name, trace
        self._shown = np.zeros((count, bytes_per_led), dtype=np.uint8)  # G, R, B(, W) per LED
        self._bits: list[int] = []
        self._level, self._rise, self._fall = 0, 0.0, -1.0
        self.frames = 0
        """Frames latched so far."""

    # --- input ---------------------------------------------------------------------------------------

    def on_level(self, pin: int, level: int, t: float) -> None:
        """An edge on the data line."""
        self._check_pin(pin, self.watched_pins, "watch")
        level = 1 if level else 0
        if level == self._level:
            return
        self._level = level
        if level:
            if self._bits and t - self._fall >= self.reset_s:
                self._latch(self._fall + self.reset_s)
            self._rise = t
        else:
            self._bits.append(1 if t - self._rise > self.threshold_s else 0)
            self._fall = t

    def bitstream(self, timing_ns: tuple[int, int, int, int], data: bytes, t: float) -> float:
        """``machine.bitstream(pin, 0, timing_ns, data)`` starting at ``t``; returns when it ends.

        The line is left low afterwards, so the frame latches ``reset_s`` later.
        """
        if len(timing_ns) != 4 or min(timing_ns) <= 0:
            raise ConfigError(f"bitstream timing is four positive nanosecond values, not {timing_ns}")
        high = (timing_ns[0] * 1e-9, timing_ns[2] * 1e-9)
        low = (timing_ns[1] * 1e-9, timing_ns[3] * 1e-9)
        for byte in data:
            for i in range(7, -1, -1):
                bit = (byte >> i) & 1
                self.on_level(self.pin, 1, t)
                t += high[bit]
                self.on_level(self.pin, 0, t)
                t += low[bit]
        return t

    def write(self, data: bytes, t: float) -> None:
        """Ideal bits (a buffer already in the chain's byte order), latched at once."""
        for byte in data:
            self._bits.extend((byte >> i) & 1 for i in range(7, -1, -1))
        self._latch(t)

    def _latch(self, t: float) -> None:
        per_led = 8 * self.bytes_per_led
        bits, self._bits = self._bits, []
        for led in range(min(self.count, len(bits) // per_led)):  # a partial last LED keeps its colour
            chunk = np.array(bits[led * per_led:(led + 1) * per_led], dtype=np.uint8)
            self._shown[led] = np.packbits(chunk)
        self.frames += 1
        if self._trace is not None:
            self._trace.record(f"ws2812.{self.name}.frames", t, self.frames)

    # --- output --------------------------------------------------------------------------------------

    def colors(self, t: float | None = None) -> npt.NDArray[np.uint8]:
        """Per-LED colours as an (N, 3) uint8 array of R, G, B (N, 4 with W for RGBW parts).

        With ``t``, a frame whose line has been low for the reset time by then is latched first.
        """
        if t is not None and self._bits and self._level == 0 and t - self._fall >= self.reset_s:
            self._latch(self._fall + self.reset_s)
        order = [1, 0, 2, 3][: self.bytes_per_led]
        return self._shown[:, order].copy()
