"""1-Wire as the parts see it: one open-drain line, time slots, and devices with 64-bit ROM codes.

Every slot is modelled as on the wire: the master either pulls the line low (writes 0) or releases
it (writes 1, which is also how it reads), each device either pulls it low or releases it, and the
line is the wired-AND of them all; every device then samples it. So a read slot during a ROM command
is a written 1 to a device that listens, and two devices answering SEARCH ROM at once read as 0,
exactly the collisions the search algorithm relies on.

:class:`OneWireBus` offers what MicroPython's ``_onewire`` C module does on a pin (``reset``,
``readbit``, ``readbyte``, ``writebit``, ``writebyte``, ``crc8``), with the lab time of each call;
within a byte, slots are :data:`SLOT_S` apart. :class:`OneWireDevice` implements the ROM layer
(SEARCH ROM 0xF0, READ ROM 0x33, MATCH ROM 0x55, SKIP ROM 0xCC, ALARM SEARCH 0xEC); a subclass
implements its function commands as a generator (see :meth:`OneWireDevice.function`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable

from labtwin.errors import ConfigError

__all__ = ["ALARM_SEARCH", "MATCH_ROM", "READ_ROM", "RESET_S", "SEARCH_ROM", "SKIP_ROM", "SLOT_S", "OneWireBus",
           "OneWireDevice", "Slots", "crc8", "rom_code"]

SEARCH_ROM, READ_ROM, MATCH_ROM, SKIP_ROM, ALARM_SEARCH = 0xF0, 0x33, 0x55, 0xCC, 0xEC
RESET_S = 960e-6  # 480 us low, then the presence window, as MicroPython's _onewire times it
SLOT_S = 65e-6  # one read or write slot plus recovery

Drive = int | Callable[[float], int]
"""What a device puts on the line in a slot: 0 (pull low), 1 (release), or a function of the slot's time."""
Slots = Generator[Drive, int, None]
"""A device's side of a transaction: yields what it drives in each slot, receives the line's level."""


def crc8(data: bytes | bytearray | Iterable[int]) -> int:
    """Dallas/Maxim CRC-8 (x^8 + x^5 + x^4 + 1, reflected: 0x8C), as ``_onewire.crc8`` computes it.

    Over a block that ends with its own CRC byte the result is 0.
    """
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return crc


def rom_code(family: int, serial: int) -> bytes:
    """The 8-byte ROM code as sent on the wire: family, 48-bit serial LSB first, CRC-8."""
    if not 0 <= family <= 0xFF or not 0 <= serial < 1 << 48:
        raise ConfigError(f"1-Wire ROM: family must be a byte and serial 48 bits (got {family:#x}, {serial:#x})")
    body = bytes([family]) + serial.to_bytes(6, "little")
    return body + bytes([crc8(body)])


class OneWireDevice:
    """A slave on a 1-Wire bus, answering the ROM commands with its ROM code.

    Args:
        rom: its 8-byte ROM code (family, serial, CRC); checked.
    """

    def __init__(self, rom: bytes) -> None:
        if len(rom) != 8 or crc8(rom) != 0:
            raise ConfigError(f"1-Wire ROM {bytes(rom).hex()} is not 8 bytes ending in their CRC-8")
        self.rom = bytes(rom)
        self.present = True
        """Fault switch: an unplugged device neither answers a reset nor drives the line."""
        self.now = 0.0
        """Lab time of the slot being run (set by the bus before the device acts)."""
        self._slots: Slots | None = None
        self._drive: Drive = 1

    # --- the bus side --------------------------------------------------------------------------------

    def bus_reset(self, t: float) -> bool:
        """A reset pulse ending at ``t``: start listening for a ROM command; True = presence pulse."""
        self.now = t
        self._slots = self._transaction() if self.present else None
        self._drive = next(self._slots) if self._slots is not None else 1
        return self.present

    def drive(self, t: float) -> int:
        """What the device puts on the line in the slot at ``t``."""
        self.now = t
        if self._slots is None or not self.present:
            return 1
        return self._drive(t) if callable(self._drive) else self._drive

    def sample(self, line: int) -> None:
        """The line's level at the end of the slot: the device moves on."""
        if self._slots is None:
            return
        try:
            self._drive = self._slots.send(line)
        except StopIteration:
            self._slots = None

    # --- protocol helpers for generators -------------------------------------------------------------

    @staticmethod
    def receive_bit() -> Generator[Drive, int, int]:
        """Listen for one bit (release the line, return what it was)."""
        line = yield 1
        return line

    @staticmethod
    def receive_byte() -> Generator[Drive, int, int]:
        """Listen for a byte, LSB first."""
        value = 0
        for i in range(8):
            line = yield 1
            value |= (line & 1) << i
        return value

    @staticmethod
    def send_byte(value: int) -> Generator[Drive, int, None]:
        """Send a byte, LSB first, in the master's read slots."""
        for i in range(8):
            yield (value >> i) & 1

    def alarm(self) -> bool:
        """Whether the device answers ALARM SEARCH (none by default)."""
        return False

    def _transaction(self) -> Slots:
        command = yield from self.receive_byte()
        if command in (SEARCH_ROM, ALARM_SEARCH):
            if command == ALARM_SEARCH and not self.alarm():
                return
            for i in range(64):
                bit = (self.rom[i // 8] >> (i % 8)) & 1
                yield bit
                yield bit ^ 1
                chosen = yield 1
                if chosen != bit:
                    return  # the master went the other way: wait for the next reset
        elif command == READ_ROM:
            for byte in self.rom:
                yield from self.send_byte(byte)
        elif command == MATCH_ROM:
            for byte in self.rom:
                if (yield from self.receive_byte()) != byte:
                    return
        elif command != SKIP_ROM:
            return
        yield from self.function()

    def function(self) -> Slots:
        """The device's function commands after a ROM command selected it (none by default)."""
        return
        yield  # a generator that ends at once


class OneWireBus:
    """The line on one pin and the devices on it; the ``_onewire`` operations with lab times."""

    def __init__(self, devices: Iterable[OneWireDevice] = ()) -> None:
        self.devices: list[OneWireDevice] = []
        self.held_low = False
        """Fault switch: the line is shorted to ground (a reset then "sees" presence, every bit reads 0)."""
        for device in devices:
            self.attach(device)

    def attach(self, device: OneWireDevice) -> OneWireDevice:
        """Wire ``device`` to the bus; ROM codes must be unique."""
        if any(other.rom == device.rom for other in self.devices):
            raise ConfigError(f"1-Wire ROM {device.rom.hex()} is already on this bus")
        self.devices.append(device)
        return device

    def reset(self, t: float) -> bool:
        """``_onewire.reset``: True when something pulled the line low in the presence window."""
        present = [device.bus_reset(t + RESET_S) for device in self.devices]
        return self.held_low or any(present)

    def slot(self, master: int, t: float) -> int:
        """One time slot at ``t``: the master writes ``master`` (1 = release/read); returns the line."""
        line = 0 if self.held_low else master & 1
        for device in self.devices:
            line &= device.drive(t)
        for device in self.devices:
            device.sample(line)
        return line

    def readbit(self, t: float) -> int:
        """``_onewire.readbit``: a read slot."""
        return self.slot(1, t)

    def writebit(self, value: int, t: float) -> None:
        """``_onewire.writebit``."""
        self.slot(value & 1, t)

    def readbyte(self, t: float) -> int:
        """``_onewire.readbyte``: eight read slots, LSB first."""
        return sum(self.slot(1, t + i * SLOT_S) << i for i in range(8))

    def writebyte(self, value: int, t: float) -> None:
        """``_onewire.writebyte``: eight write slots, LSB first."""
        for i in range(8):
            self.slot((value >> i) & 1, t + i * SLOT_S)

    @staticmethod
    def crc8(data: bytes | bytearray) -> int:
        """``_onewire.crc8``."""
        return crc8(data)
