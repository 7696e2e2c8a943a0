# labtwin shim helpers shared by machine.I2C, SPI and UART (_labtwin_i2c/_spi/_uart),
# loaded with the first bus a firmware opens: the port, argument packing, hex
# bytes, and the doorbell connection a UART polls on.

import json
import os
import socket
from binascii import hexlify, unhexlify

from machine import _PROTOCOL, Pin, _info

# "rp2" or "esp32": whose constants, signatures and errors the buses follow.
PORT = _info.get("port") or ("esp32" if os.getenv("LABTWIN_BOARD_PROFILE") == "esp32" else "rp2")
CHUNK = 4096  # bytes per request for bulk SPI/UART transfers


def _j(v):
    # A constructor argument as JSON: a Pin as what it resolved to, other objects as null.
    if isinstance(v, Pin):
        return v._id
    return v if v is None or isinstance(v, (int, float, str)) else None


def pack(args, kw):
    # Constructor arguments as given; the host parses them by the port's rules.
    return [_j(a) for a in args], {k: _j(kw[k]) for k in kw}


def to_hex(buf):
    return hexlify(buf).decode()


def fill(buf, data):
    data = unhexlify(data)
    buf[:len(data)] = data


def doorbell(handle, kind="uart_doorbell"):
    # A second connection to the hardware bus on which the host rings while the UART has bytes
    # (or, kind "events", while pin edges wait for the soft-IRQ scheduler).
    host, port = os.getenv("LABTWIN_HWBUS").rsplit(":", 1)
    s = socket.socket()
    s.connect(socket.getaddrinfo(host, int(port))[0][-1])
    s.write(json.dumps(["hello", _PROTOCOL, os.getenv("LABTWIN_HWBUS_TOKEN"), kind, handle]) + "\n")
    reply = json.loads(s.readline() or "[0, \"OSError\", \"labtwin: hardware bus closed\"]")
    if not reply[0]:
        s.close()
        raise OSError(reply[2])
    s.setblocking(False)
    return s
