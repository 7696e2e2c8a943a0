"""The board's ``machine.bitstream``: a timed pulse train on one pin, for the part wired there.

``machine.bitstream(pin, 0, (high_0, low_0, high_1, low_1), buf)`` (extmod/machine_bitstream.c)
drives ``pin`` high then low for every bit of ``buf``, MSB first, each half as long as the timing
(in ns) for that bit's value; the port makes the pin an output first and leaves it low. rp2
counts CPU cycles with interrupts off, esp32 uses its RMT peripheral; both take the time the
pulses take. What ``neopixel.NeoPixel.write`` sends to a WS2812 chain is exactly this.

The whole buffer crosses the hardware bus in one request (hex, like the bus operations). The part
wired to the pin (:class:`~labtwin.twin.parts.ws2812.Ws2812Chain`, or anything with the same
``bitstream`` method) receives the train with its start time and decodes it by its own pulse
rules, so wrong timings give wrong colours as on a bench. The operation replies when the last
pulse ends, in lab time (:mod:`~labtwin.twin.board.timed_lines`); a pin with nothing wired takes as
long and goes nowhere.
"""

from __future__ import annotations

from typing import Any, Protocol

from labtwin.errors import ConfigError
from labtwin.twin.board.board_i2c import from_hex
from labtwin.twin.board.bus_pins import BusPins
from labtwin.twin.board.timed_lines import TimedLines
from labtwin.twin.models.mp import MicroPythonError, mp_get_int

__all__ = ["BitstreamReceiver", "BoardBitstream"]

ENCODING_HIGH_LOW = 0  # the only encoding the ports define


class BitstreamReceiver(Protocol):
    """A part that takes a ``machine.bitstream`` pulse train (a WS2812 chain)."""

    def bitstream(self, timing_ns: tuple[int, int, int, int], data: bytes, t: float) -> float:
        """The train starting at lab time ``t``, with the port's timing in ns; returns when it ends."""
        ...


def _timing_ns(timing: object) -> tuple[int, int, int, int]:
    # mp_obj_get_array_fixed_n(timing, 4) then mp_obj_get_int on each, into uint32_t. The shim
    # sends a tuple or list as a JSON list and any other object as its type name.
    if not isinstance(timing, list):
        raise MicroPythonError("TypeError", f"object '{timing}' isn't a tuple or list")
    if len(timing) != 4:
        raise MicroPythonError.value_error(f"requested length 4 but object has length {len(timing)}")
    # A zero-length half still costs the port's loop a few cycles: never less than 1 ns here.
    t0h, t0l, t1h, t1l = (max(1, mp_get_int(v) & 0xFFFFFFFF) for v in timing)
    return t0h, t0l, t1h, t1l


class BoardBitstream:
    """``machine.bitstream`` on one board and the parts wired to take it.

    Args:
        pins: how the board finds and claims pins.
        lines: when each bit-banged pin is free (shared with the board's 1-Wire).
    """

    def __init__(self, pins: BusPins, lines: TimedLines) -> None:
        self._pins = pins
        self._lines = lines
        self._receivers: dict[int, BitstreamReceiver] = {}

    def attach(self, receiver: BitstreamReceiver, *, pin: object) -> BitstreamReceiver:
        """Wire ``receiver``'s data input to ``pin`` (a number or a name)."""
        gpio = self._pins.gpio_of(pin)
        if gpio in self._receivers:
            raise ConfigError(f"GPIO{gpio} already drives a bitstream part; one data line, one first part")
        self._receivers[gpio] = receiver
        return receiver

    def op_bitstream(self, pin: object, encoding: object, timing: object, data: object) -> Any:
        """``machine.bitstream(pin, encoding, timing, buf)``: ``None`` once the train has been sent."""
        gpio = self._pins.gpio_of(pin)
        kind = mp_get_int(encoding)
        buf = from_hex(data)
        if kind != ENCODING_HIGH_LOW:
            raise MicroPythonError.value_error("encoding")
        timing_ns = _timing_ns(timing)
        self._pins.claim_output(gpio, 0, "a bitstream")  # mp_hal_pin_output; the train ends low
        start = self._lines.start(gpio)
        receiver = self._receivers.get(gpio)
        if receiver is not None:
            end = receiver.bitstream(timing_ns, buf, start)
        else:
            ones = sum(bin(byte).count("1") for byte in buf)
            zeros = 8 * len(buf) - ones
            end = start + (ones * (timing_ns[2] + timing_ns[3]) + zeros * (timing_ns[0] + timing_ns[1])) * 1e-9
        return self._lines.finish(gpio, end, None)
