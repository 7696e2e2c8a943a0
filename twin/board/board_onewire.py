"""The board's 1-Wire: the ``_onewire`` operations on a pin and the 1-Wire bus wired to it.

Both ports build ``_onewire`` (extmod/modonewire.c): ``reset``, ``readbit``, ``readbyte``,
``writebit``, ``writebyte`` and ``crc8`` bit-bang an open-drain pin with fixed slot timings, and the
frozen ``onewire`` and ``ds18x20`` modules are Python on top of it. A bus is identified by its pin:
:meth:`BoardOneWire.bus` returns (creating on demand) the
:class:`~labtwin.twin.parts.onewire.OneWireBus` there, whose devices answer slot by slot.

Besides the C module's operations, the shim's ``onewire`` module sends whole byte strings
(``onewire_write``, ``onewire_read``) and whole ROM-search passes (``onewire_search``) in one
request each: the same slots reach the devices in the same order, at the same lab times, as bit by
bit, in one bus round trip instead of up to 192. Every operation's slots follow the line's previous
ones in lab time, and the reply waits for the last of them as the port's call does (waits under a
millisecond excepted: :mod:`~labtwin.twin.board.timed_lines`).
"""

from __future__ import annotations

from typing import Any

from labtwin.twin.board.board_i2c import from_hex
from labtwin.twin.board.bus_pins import BusPins
from labtwin.twin.board.timed_lines import TimedLines
from labtwin.twin.models.mp import MicroPythonError, mp_get_int
from labtwin.twin.parts.onewire import RESET_S, SEARCH_ROM, SLOT_S, OneWireBus, OneWireDevice

__all__ = ["BoardOneWire", "search_pass"]

BYTE_S = 8 * SLOT_S


def search_pass(bus: OneWireBus, last_rom: bytes, last_branch: int, t: float) -> tuple[bytes | None, int, float]:
    """One pass of the SEARCH ROM algorithm at lab time ``t``, as the frozen ``onewire.scan`` runs it.

    At each bit the devices send the bit and its complement; when both read 0 the devices disagree
    and the master picks a branch: 1 beyond ``last_branch`` (the first pass has 0), 0 at it, and
    ``last_rom``'s bit before it, so the ROMs come out in the port's order (1 branches first).

    Returns:
        (the ROM found, or None if nobody answered; the position 1..64 of the last disagreement
        where 1 was taken, 0 when none is left to explore; the lab time the pass ends).
    """
    if not bus.reset(t):
        return None, 0, t + RESET_S
    t += RESET_S
    bus.writebyte(SEARCH_ROM, t)
    t += BYTE_S
    rom = bytearray(8)
    branch = 0
    for k in range(64):
        bit, complement = bus.readbit(t), bus.readbit(t + SLOT_S)
        t += 2 * SLOT_S
        if bit and complement:
            return None, 0, t  # nobody left on this path
        if not bit and not complement:
            position = k + 1
            if position == last_branch:
                bit = 0
            elif position > last_branch:
                bit = 1
            else:
                bit = (last_rom[k // 8] >> (k % 8)) & 1
            if bit:
                branch = position
        bus.writebit(bit, t)
        t += SLOT_S
        rom[k // 8] |= bit << (k % 8)
    return bytes(rom), branch, t


class BoardOneWire:
    """``_onewire`` on one board and the 1-Wire buses wired to its pins.

    Args:
        pins: how the board finds pins (``mp_hal_get_pin_obj``: the port's pin errors).
        lines: when each bit-banged pin is free (shared with the board's ``bitstream``).
    """

    def __init__(self, pins: BusPins, lines: TimedLines) -> None:
        self._pins = pins
        self._lines = lines
        self._buses: dict[int, OneWireBus] = {}

    # ----------------------------------------------------------------- wiring
    def bus(self, *, pin: object) -> OneWireBus:
        """The 1-Wire bus on ``pin`` (a number or a name), created empty on first use."""
        gpio = self._pins.gpio_of(pin)
        bus = self._buses.get(gpio)
        if bus is None:
            bus = self._buses[gpio] = OneWireBus()
        return bus

    def attach(self, device: OneWireDevice, *, pin: object) -> OneWireDevice:
        """Wire ``device`` to the bus on ``pin``."""
        return self.bus(pin=pin).attach(device)

    def _line(self, pin: object) -> tuple[int, OneWireBus, float]:
        gpio = self._pins.gpio_of(pin)
        bus = self._buses.get(gpio)
        if bus is None:
            bus = self._buses[gpio] = OneWireBus()  # nothing wired: the pull-up holds the line high
        return gpio, bus, self._lines.start(gpio)

    # ----------------------------------------------------------------- _onewire
    def op_onewire_reset(self, pin: object) -> Any:
        """``_onewire.reset(pin)``: True if a device answered with a presence pulse."""
        gpio, bus, t = self._line(pin)
        return self._lines.finish(gpio, t + RESET_S, bus.reset(t))

    def op_onewire_readbit(self, pin: object) -> Any:
        """``_onewire.readbit(pin)``: 0 or 1."""
        gpio, bus, t = self._line(pin)
        return self._lines.finish(gpio, t + SLOT_S, bus.readbit(t))

    def op_onewire_writebit(self, pin: object, value: object) -> Any:
        """``_onewire.writebit(pin, value)``: any non-zero value writes a 1."""
        gpio, bus, t = self._line(pin)
        bus.writebit(1 if mp_get_int(value) else 0, t)
        return self._lines.finish(gpio, t + SLOT_S, None)

    def op_onewire_readbyte(self, pin: object) -> Any:
        """``_onewire.readbyte(pin)``: eight read slots, LSB first."""
        gpio, bus, t = self._line(pin)
        return self._lines.finish(gpio, t + BYTE_S, bus.readbyte(t))

    def op_onewire_writebyte(self, pin: object, value: object) -> Any:
        """``_onewire.writebyte(pin, value)``: the low eight bits, LSB first."""
        gpio, bus, t = self._line(pin)
        bus.writebyte(mp_get_int(value) & 0xFF, t)
        return self._lines.finish(gpio, t + BYTE_S, None)

    # ----------------------------------------------------------------- whole operations (labtwin's)
    def op_onewire_write(self, pin: object, data: object) -> Any:
        """``OneWire.write(buf)``: ``writebyte`` for each byte, in one request."""
        gpio, bus, t = self._line(pin)
        for byte in from_hex(data):
            bus.writebyte(byte, t)
            t += BYTE_S
        return self._lines.finish(gpio, t, None)

    def op_onewire_read(self, pin: object, nbytes: object) -> Any:
        """``OneWire.readinto(buf)``: ``readbyte`` ``nbytes`` times, in one request; hex."""
        gpio, bus, t = self._line(pin)
        n = mp_get_int(nbytes)
        if n < 0:
            raise MicroPythonError.value_error("negative length")
        out = bytearray()
        for _ in range(n):
            out.append(bus.readbyte(t))
            t += BYTE_S
        return self._lines.finish(gpio, t, out.hex())

    def op_onewire_search(self, pin: object, last_rom: object, last_branch: object) -> Any:
        """One pass of ``OneWire.scan()``: ``[rom as hex or null, last branch taken]`` (see :func:`search_pass`)."""
        gpio, bus, t = self._line(pin)
        previous = bytes(8) if last_rom is None else from_hex(last_rom).ljust(8, b"\0")
        rom, branch, end = search_pass(bus, previous, mp_get_int(last_branch), t)
        return self._lines.finish(gpio, end, [None if rom is None else rom.hex(), branch])
