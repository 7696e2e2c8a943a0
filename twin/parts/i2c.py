"""I2C as the parts see it: targets on a bus, transactions of bytes, NACKs and a stuck bus.

The board model turns a firmware's ``machine.I2C``/``SoftI2C`` call into transactions on an
:class:`I2CBus` and maps the bus's exceptions to what the port raises (``OSError`` with the port's
errno; docs/parts.md). A chip model is an :class:`I2CTarget`; most are register machines and extend
:class:`RegisterTarget`, which implements the usual "write a register pointer, then read or write
from there with auto-increment" framing.

Times are lab seconds: a target answers as the chip would at that moment (a conversion in progress,
a status bit not yet set).
"""

from __future__ import annotations

from collections.abc import Iterable

from labtwin.errors import ConfigError

__all__ = ["I2CBus", "I2CBusStuck", "I2CNack", "I2CTarget", "RegisterTarget"]

FIRST_SCAN_ADDRESS = 0x08
LAST_SCAN_ADDRESS = 0x77


class I2CNack(Exception):
    """No target acknowledged the address (absent, busy, or told to stop answering)."""

    def __init__(self, address: int) -> None:
        super().__init__(f"no ACK from I2C address 0x{address:02x}")
        self.address = address


class I2CBusStuck(Exception):
    """SDA or SCL is held low: no transaction completes (the port times out)."""


class I2CTarget:
    """One device on an I2C bus, at a 7-bit ``address``.

    Subclasses override :meth:`write` and :meth:`read`; :meth:`acknowledges` lets a chip refuse
    its address (e.g. while it converts). Fault switches: :attr:`responding` makes it stop
    answering altogether, :attr:`corrupt_reads` garbles what it sends.
    """

    def __init__(self, address: int) -> None:
        if not 0 <= address <= 0x7F:
            raise ConfigError(f"I2C address 0x{address:x} is not a 7-bit address")
        self.address = address
        self.responding = True
        self.corrupt_reads = False
        """Fault switch: the bus flips one bit in every byte string the chip sends (CRCs then fail)."""

    def acknowledges(self, read: bool, t: float) -> bool:
        """Whether the chip ACKs its address for a read (``read``) or a write at lab time ``t``."""
        return self.responding

    def write(self, data: bytes, t: float) -> int:
        """Bytes the controller writes after the address; returns how many the chip ACKed."""
        return len(data)

    def read(self, n: int, t: float) -> bytes:
        """``n`` bytes the chip sends after the address."""
        return bytes(n)

    def stop(self, t: float) -> None:
        """The controller ended the transaction with STOP (a repeated START does not call this)."""


class RegisterTarget(I2CTarget):
    """A register-file chip: the first byte written is the register pointer, the rest auto-increment.

    ``registers`` holds the chip's byte registers; override :meth:`read_register` and
    :meth:`write_register` for registers with behaviour (status bits, triggers, read-only data).
    ``pointer_wraps_at`` is where the auto-increment wraps (256 for a full 8-bit map).
    """

    pointer_wraps_at = 256

    def __init__(self, address: int, *, size: int = 256) -> None:
        super().__init__(address)
        self.registers = bytearray(size)
        self.pointer = 0

    def read_register(self, register: int, t: float) -> int:
        """The byte the chip returns for ``register``."""
        return self.registers[register] if register < len(self.registers) else 0xFF

    def write_register(self, register: int, value: int, t: float) -> None:
        """The controller wrote ``value`` to ``register``."""
        if register < len(self.registers):
            self.registers[register] = value

    def write(self, data: bytes, t: float) -> int:
        """Pointer byte, then register writes with auto-increment."""
        if not data:
            return 0
        self.pointer = data[0]
        for value in data[1:]:
            self.write_register(self.pointer, value, t)
            self.pointer = (self.pointer + 1) % self.pointer_wraps_at
        return len(data)

    def read(self, n: int, t: float) -> bytes:
        """``n`` registers from the pointer on, with auto-increment."""
        out = bytearray()
        for _ in range(n):
            out.append(self.read_register(self.pointer, t) & 0xFF)
            self.pointer = (self.pointer + 1) % self.pointer_wraps_at
        return bytes(out)


class I2CBus:
    """The targets wired to one bus (a hardware I2C id, or a SoftI2C's pin pair)."""

    def __init__(self, targets: Iterable[I2CTarget] = ()) -> None:
        self._targets: dict[int, I2CTarget] = {}
        self.held_low = False
        """Fault switch: SDA held low, so nothing on this bus completes."""
        for target in targets:
            self.attach(target)

    def attach(self, target: I2CTarget) -> I2CTarget:
        """Wire ``target`` to the bus; two targets may not share an address."""
        if target.address in self._targets:
            raise ConfigError(f"I2C address 0x{target.address:02x} is taken on this bus "
                              f"({type(self._targets[target.address]).__name__})")
        self._targets[target.address] = target
        return target

    def target(self, address: int) -> I2CTarget | None:
        """The target at ``address``, if any."""
        return self._targets.get(address)

    def _addressed(self, address: int, read: bool, t: float) -> I2CTarget:
        if self.held_low:
            raise I2CBusStuck()
        target = self._targets.get(address)
        if target is None or not target.acknowledges(read, t):
            raise I2CNack(address)
        return target

    def scan(self, t: float) -> list[int]:
        """Addresses 0x08..0x77 that ACK a write, in order (as ``I2C.scan()`` probes them)."""
        if self.held_low:
            raise I2CBusStuck()
        return [a for a in range(FIRST_SCAN_ADDRESS, LAST_SCAN_ADDRESS + 1)
                if (target := self._targets.get(a)) is not None and target.acknowledges(False, t)]

    def write(self, address: int, data: bytes, t: float, *, stop: bool = True) -> int:
        """A write transaction; returns the number of data bytes ACKed. Raises I2CNack, I2CBusStuck."""
        target = self._addressed(address, False, t)
        acked = target.write(bytes(data), t)
        if stop:
            target.stop(t)
        return acked

    def read(self, address: int, n: int, t: float, *, stop: bool = True) -> bytes:
        """A read transaction of ``n`` bytes. Raises I2CNack, I2CBusStuck."""
        target = self._addressed(address, True, t)
        data = target.read(n, t)
        if target.corrupt_reads and data:
            # One bit of the last byte: a CRC-protected word's checksum no longer matches.
            data = data[:-1] + bytes([data[-1] ^ 0x01])
        if stop:
            target.stop(t)
        return data
