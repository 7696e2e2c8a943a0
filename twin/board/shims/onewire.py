# labtwin: the `onewire` module the rp2 and esp32 ports freeze (micropython-lib's 1-Wire driver),
# written from its documented API: OneWire(pin) on top of `_onewire` (here labtwin's shim).
# Byte strings (`write`, `readinto`, `select_rom`) and each ROM-search pass of `scan` are one
# hardware-bus request; the bus sees the same slots as from the port's byte-by-byte loops.

import _onewire as _ow


class OneWireError(Exception):
    pass


class OneWire:
    SEARCH_ROM = 0xF0
    MATCH_ROM = 0x55
    SKIP_ROM = 0xCC

    def __init__(self, pin):
        self.pin = pin
        self.pin.init(pin.OPEN_DRAIN, pin.PULL_UP)

    def reset(self, required=False):
        present = _ow.reset(self.pin)
        if required and not present:
            raise OneWireError
        return present

    def readbit(self):
        return _ow.readbit(self.pin)

    def readbyte(self):
        return _ow.readbyte(self.pin)

    def readinto(self, buf):
        _ow._readinto(self.pin, buf)

    def writebit(self, value):
        return _ow.writebit(self.pin, value)

    def writebyte(self, value):
        return _ow.writebyte(self.pin, value)

    def write(self, buf):
        _ow._write(self.pin, buf)

    def select_rom(self, rom):
        self.reset()
        self.write(bytes((self.MATCH_ROM,)) + bytes(rom))

    def scan(self):
        # Every ROM on the bus (1 branches first), as bytearray(8)s, CRC unchecked; at most 255 passes.
        found = []
        rom = None
        branch = 0
        for _ in range(255):
            rom, branch = _ow._search(self.pin, rom, branch)
            if rom:
                found.append(rom)
            if not branch:
                break
        return found

    def crc8(self, data):
        return _ow.crc8(data)
