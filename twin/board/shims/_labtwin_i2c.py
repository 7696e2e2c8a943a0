# labtwin shim: machine.I2C and machine.SoftI2C (loaded by machine on first use).
#
# Every call is one hardware-bus request; the host routes it to the I2C bus wired
# to the controller's SDA/SCL pins and raises what the board's port raises (a
# NACK's errno differs by port). Bytes travel as hex strings.

from binascii import unhexlify

from _labtwin_bus import fill as _fill
from _labtwin_bus import pack as _pack
from _labtwin_bus import to_hex as _hex
from machine import _call


class _I2CBase:
    def scan(self):
        return _call("i2c_scan", self._h)

    def readfrom(self, addr, nbytes, stop=True):
        return unhexlify(_call("i2c_readfrom", self._h, addr, nbytes, bool(stop)))

    def readfrom_into(self, addr, buf, stop=True):
        _fill(buf, _call("i2c_readfrom", self._h, addr, len(buf), bool(stop)))

    def writeto(self, addr, buf, stop=True):
        return _call("i2c_writeto", self._h, addr, _hex(buf), bool(stop))

    def writevto(self, addr, vector, stop=True):
        return _call("i2c_writevto", self._h, addr, [_hex(b) for b in vector], bool(stop))

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        return unhexlify(_call("i2c_readfrom_mem", self._h, addr, memaddr, nbytes, addrsize))

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        _fill(buf, _call("i2c_readfrom_mem", self._h, addr, memaddr, len(buf), addrsize))

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        _call("i2c_writeto_mem", self._h, addr, memaddr, _hex(buf), addrsize)

    # The primitives: SoftI2C only; hardware I2C raises OSError("I2C operation not supported").
    def start(self):
        _call("i2c_start", self._h)

    def stop(self):
        _call("i2c_stop", self._h)

    def readinto(self, buf, nack=True):
        _fill(buf, _call("i2c_readinto", self._h, len(buf), bool(nack)))

    def write(self, buf):
        return _call("i2c_write", self._h, _hex(buf))

    def init(self, *args, **kw):
        a, k = _pack(args, kw)
        self._h = _call("i2c_reinit", self._h, a, k)

    def __repr__(self):
        return _call("i2c_repr", self._h)


class I2C(_I2CBase):
    def __init__(self, *args, **kw):
        a, k = _pack(args, kw)
        r = _call("i2c_init", a, k)
        self._h = r[0]
        if r[2]:
            print(r[2])  # esp32: I2C(-1, ...) is a SoftI2C, with the port's deprecation warning


class SoftI2C(_I2CBase):
    def __init__(self, *args, **kw):
        a, k = _pack(args, kw)
        self._h = _call("softi2c_init", a, k)
