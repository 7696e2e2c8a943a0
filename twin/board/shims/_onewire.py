# labtwin shim of the ports' `_onewire` C module (extmod/modonewire.c), on which the frozen
# `onewire` module is built. Each call is one hardware-bus request: the host runs its slots on the
# 1-Wire bus wired to the pin (twin/board/board_onewire.py) and replies when the last slot ends.
#
# The underscored functions are labtwin's: the frozen `onewire` here sends whole byte strings and
# whole ROM-search passes with them, one request each instead of one per byte or bit. A firmware's
# own copy of `onewire` uses only the C module's functions and works as well, just more slowly.

from binascii import hexlify, unhexlify

from machine import _call, _src


def _n(value):
    # An argument as JSON carries it; the host raises mp_obj_get_int's TypeError for the rest.
    return value if isinstance(value, (int, float, str)) else None


def reset(pin):
    return _call("onewire_reset", _src(pin))


def readbit(pin):
    return _call("onewire_readbit", _src(pin))


def readbyte(pin):
    return _call("onewire_readbyte", _src(pin))


def writebit(pin, value):
    _call("onewire_writebit", _src(pin), _n(value))


def writebyte(pin, value):
    _call("onewire_writebyte", _src(pin), _n(value))


def crc8(data):
    # Dallas/Maxim CRC-8 (x^8 + x^5 + x^4 + 1, LSB first): 0 over data ending in its own CRC.
    crc = 0
    for byte in memoryview(data):
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


def _write(pin, buf):
    _call("onewire_write", _src(pin), hexlify(buf).decode())


def _readinto(pin, buf):
    data = unhexlify(_call("onewire_read", _src(pin), len(buf)))
    buf[:len(data)] = data


def _search(pin, rom, branch):
    # One SEARCH ROM pass: (the ROM found or None, the last branch taken; 0 when the search is over).
    found, branch = _call("onewire_search", _src(pin), None if rom is None else hexlify(rom).decode(), branch)
    return (None if found is None else bytearray(unhexlify(found))), branch
