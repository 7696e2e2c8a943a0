# labtwin shim: machine.UART (loaded by machine on first use).
#
# Reads, writes and waits are hardware-bus requests; the host times the line by
# the baud rate on the lab clock and blocks a read for its timeout as the board
# would (a timeout with nothing read returns None). For select.poll and asyncio
# (asyncio.StreamReader(uart)) the UART is a stream whose file descriptor is a
# doorbell socket: the host writes to it while received bytes wait, so the VM's
# poll wakes without spinning. Bytes travel as hex.

import io
from binascii import hexlify, unhexlify

from _labtwin_bus import CHUNK as _CHUNK
from _labtwin_bus import PORT as _PORT
from _labtwin_bus import doorbell as _doorbell
from _labtwin_bus import pack as _pack
from machine import _call

try:
    _Stream = io.IOBase  # makes the UART pollable: select.poll asks ioctl() for a file descriptor
except AttributeError:
    _Stream = object

_GET_FILENO = 10  # MP_STREAM_GET_FILENO
_POLL = 3  # MP_STREAM_POLL
_FLUSH = 1  # MP_STREAM_FLUSH


class UART(_Stream):
    if _PORT == "esp32":
        RTS = 1
        CTS = 2
        INV_TX = 32
        INV_RX = 4
        INV_RTS = 64
        INV_CTS = 8
    else:
        CTS = 1
        RTS = 2
        INV_TX = 1
        INV_RX = 2

    def __init__(self, *args, **kw):
        a, k = _pack(args, kw)
        self._h = _call("uart_init", a, k)
        self._bell = None

    def init(self, *args, **kw):
        a, k = _pack(args, kw)
        _call("uart_reinit", self._h, a, k)

    def deinit(self):
        _call("uart_deinit", self._h)

    def _rx(self, op, *args):
        # Empty the doorbell first: the host rings it again if bytes are still waiting after this.
        if self._bell is not None:
            try:
                self._bell.recv(64)
            except OSError:
                pass
        return _call(op, self._h, *args)

    def any(self):
        return self._rx("uart_any")

    def read(self, nbytes=-1):
        if nbytes is not None and nbytes >= 0:
            r = self._rx("uart_read", nbytes)
            return None if r is None else unhexlify(r)
        out = b""
        while True:  # read(): until a read finds nothing
            r = self._rx("uart_read", 4096)
            if r is None:
                return out or None
            out += unhexlify(r)

    def readline(self, size=-1):
        r = self._rx("uart_readline", size)
        return None if r is None else unhexlify(r)

    def readinto(self, buf, nbytes=None):
        n = len(buf) if nbytes is None else min(nbytes, len(buf))
        done = 0
        while done < n:  # like the port: read again until full or a read finds nothing
            r = self._rx("uart_read", n - done)
            if r is None:
                break
            data = unhexlify(r)
            buf[done:done + len(data)] = data
            done += len(data)
        return done or None if n else 0

    def write(self, buf):
        if len(buf) <= _CHUNK:
            return _call("uart_write", self._h, hexlify(buf).decode())
        src = memoryview(buf)
        done = 0
        for i in range(0, len(src), _CHUNK):  # a request holds at most _CHUNK bytes
            done += _call("uart_write", self._h, hexlify(src[i:i + _CHUNK]).decode())
        return done

    def flush(self):
        _call("uart_flush", self._h)

    def txdone(self):
        return _call("uart_txdone", self._h)

    def sendbreak(self):
        _call("uart_sendbreak", self._h)

    def ioctl(self, req, arg):
        if req == _GET_FILENO:
            if self._bell is None:
                self._bell = _doorbell(self._h)
            return self._bell.fileno()
        if req == _POLL:
            ready = 4 if arg & 4 else 0  # POLLOUT: writes never refuse (the port blocks instead)
            if arg & 1 and self.any():
                ready |= 1
            return ready
        if req == _FLUSH:
            self.flush()
        return 0

    def __repr__(self):
        return _call("uart_repr", self._h)
