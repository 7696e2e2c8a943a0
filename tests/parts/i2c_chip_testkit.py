"""Drive chip models the way MicroPython drivers do: the ``machine.I2C`` calls they make, in lab time.

:class:`DriverI2C` offers the calls the community drivers use (``writeto`` with and without STOP,
``readfrom``, ``readfrom_into``, ``readfrom_mem``, ``writeto_mem``) over an :class:`I2CBus`, and
raises ``OSError(EIO)`` for a NACK as the rp2 port does. Lab time stands still between calls
(a real transfer takes microseconds) and moves only with :meth:`DriverI2C.sleep_ms`, like the
driver's ``time.sleep_ms``; so a test states exactly when each transaction happens.
"""

from __future__ import annotations

import errno

from labtwin.twin.parts.i2c import I2CBus, I2CNack, I2CTarget

__all__ = ["DriverI2C", "sensirion_crc"]


def sensirion_crc(data: bytes) -> int:
    """The CRC the drivers compute (poly 0x31, init 0xFF), written out independently of the model's."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc << 1) ^ 0x31 if crc & 0x80 else crc << 1
    return crc & 0xFF


class DriverI2C:
    """A ``machine.I2C`` stand-in over one bus, with its own lab clock starting at ``t``."""

    def __init__(self, *targets: I2CTarget, t: float = 1.0) -> None:
        self.bus = I2CBus(targets)
        self.t = t

    def sleep_ms(self, ms: float) -> None:
        """Let ``ms`` milliseconds of lab time pass."""
        self.t += ms / 1000.0

    def writeto(self, address: int, buf: bytes, stop: bool = True) -> int:
        """``I2C.writeto``: the number of bytes ACKed; OSError(EIO) if the address is NACKed."""
        try:
            return self.bus.write(address, bytes(buf), self.t, stop=stop)
        except I2CNack:
            raise OSError(errno.EIO, "I2C address not acknowledged") from None

    def readfrom(self, address: int, n: int, stop: bool = True) -> bytes:
        """``I2C.readfrom``: ``n`` bytes; OSError(EIO) if the read header is NACKed."""
        try:
            return self.bus.read(address, n, self.t, stop=stop)
        except I2CNack:
            raise OSError(errno.EIO, "I2C address not acknowledged") from None

    def readfrom_into(self, address: int, buf: bytearray, stop: bool = True) -> None:
        """``I2C.readfrom_into``."""
        buf[:] = self.readfrom(address, len(buf), stop)

    def readfrom_mem(self, address: int, register: int, n: int) -> bytes:
        """``I2C.readfrom_mem``: the register address, a repeated START, then ``n`` bytes."""
        self.writeto(address, bytes([register]), False)
        return self.readfrom(address, n)

    def writeto_mem(self, address: int, register: int, buf: bytes) -> None:
        """``I2C.writeto_mem``: the register address and the data in one write."""
        self.writeto(address, bytes([register]) + bytes(buf))
