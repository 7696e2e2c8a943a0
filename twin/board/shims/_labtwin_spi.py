# labtwin shim: machine.SPI and machine.SoftSPI (loaded by machine on first use).
#
# A transfer is one hardware-bus request; the host hands it to the device wired
# to the controller's pins whose chip-select pin is low. Bytes travel as hex, in
# requests of at most _CHUNK bytes (a display's frame buffer takes several).

from binascii import unhexlify

from _labtwin_bus import CHUNK as _CHUNK
from _labtwin_bus import PORT as _PORT
from _labtwin_bus import fill as _fill
from _labtwin_bus import pack as _pack
from _labtwin_bus import to_hex as _hex
from machine import _call


def _xfer(h, out, into):
    # Full duplex: clock out `out`, fill `into` (same length) with MISO unless it is None.
    if len(out) <= _CHUNK:
        r = _call("spi_transfer", h, _hex(out), into is not None)
        if into is not None:
            _fill(into, r)
        return
    src = memoryview(out)
    dst = None if into is None else memoryview(into)
    for i in range(0, len(src), _CHUNK):
        r = _call("spi_transfer", h, _hex(src[i:i + _CHUNK]), dst is not None)
        if dst is not None:
            _fill(dst[i:i + _CHUNK], r)


class _SPIBase:
    # SPI.MSB/LSB are the port's numbers: pico-sdk's SPI_MSB_FIRST=1 on rp2, 0 on esp32.
    if _PORT == "esp32":
        MSB = 0
        LSB = 1
    else:
        MSB = 1
        LSB = 0

    def read(self, nbytes, write=0):
        if nbytes <= _CHUNK:
            return unhexlify(_call("spi_transfer", self._h, ("%02x" % (write & 0xFF)) * nbytes, True))
        into = bytearray(nbytes)
        _xfer(self._h, bytes([write & 0xFF]) * nbytes, into)
        return bytes(into)

    def readinto(self, buf, write=0):
        _xfer(self._h, bytes([write & 0xFF]) * len(buf), buf)

    def write(self, buf):
        _xfer(self._h, buf, None)

    def write_readinto(self, write_buf, read_buf):
        if len(write_buf) != len(read_buf):
            raise ValueError("buffers must be the same length")
        _xfer(self._h, write_buf, read_buf)

    def init(self, *args, **kw):
        a, k = _pack(args, kw)
        _call("spi_reinit", self._h, a, k)

    def deinit(self):
        _call("spi_deinit", self._h)

    def __repr__(self):
        return _call("spi_repr", self._h)


class SPI(_SPIBase):
    def __init__(self, *args, **kw):
        a, k = _pack(args, kw)
        r = _call("spi_init", a, k)
        self._h = r[0]
        if r[2]:
            print(r[2])  # esp32: SPI(-1, ...) is a SoftSPI, with the port's deprecation warning


class SoftSPI(_SPIBase):
    def __init__(self, *args, **kw):
        a, k = _pack(args, kw)
        self._h = _call("softspi_init", a, k)
