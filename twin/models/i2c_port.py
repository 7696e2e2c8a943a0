"""I2C as each MicroPython port implements it: constructors, pins, repr, and what a NACK raises.

:class:`I2cController` is one configured ``machine.I2C`` or ``machine.SoftI2C``; its methods run
the transfers of ``extmod/machine_i2c.c`` on an :class:`~labtwin.twin.parts.i2c.I2CBus` and
turn the bus's NACKs into the ``OSError`` errno the port raises:

==========================================  ==============  ===============  ==========
situation                                   rp2 I2C         esp32 I2C        SoftI2C
==========================================  ==============  ===============  ==========
address NACK, transfer with data            EIO (5)         ENODEV (19)      ENODEV (19)
address NACK, zero-length write / scan      ENODEV (19)     ENODEV (19)      ENODEV (19)
data byte NACK in a write                   short count     ENODEV (19)      short count
bus held low                                ETIMEDOUT 110   ETIMEDOUT 116    port's ETIMEDOUT
==========================================  ==============  ===============  ==========

Sources: ``ports/rp2/machine_i2c.c`` (``machine_i2c_make_new``, ``machine_i2c_transfer_single``:
zero-length writes go through a temporary SoftI2C, other failures are ``-MP_EIO``),
``ports/esp32/machine_i2c.c`` (``machine_hw_i2c_make_new``, ``machine_hw_i2c_transfer``:
``ESP_FAIL`` is ``-MP_ENODEV``; ``transfer_supports_write1``, so ``readfrom_mem`` is one combined
transaction), ``extmod/machine_i2c.c`` (SoftI2C, ``scan``, ``read_mem``/``write_mem``,
``invalid addrsize``), errno numbering from each port's ``mpconfigport.h``
(``MICROPY_USE_INTERNAL_ERRNO``: rp2 Linux numbers, esp32 newlib's ETIMEDOUT 116).

A bus held low makes a transfer wait its ``timeout`` (lab time) before it fails:
:class:`I2cTimeout` carries how long, the board model waits and raises. ``scan`` swallows every
probe's error, as the port does, so on a stuck bus it returns ``[]`` after 112 timeouts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from labtwin.twin.models.mp import MicroPythonError
from labtwin.twin.parts.i2c import FIRST_SCAN_ADDRESS, LAST_SCAN_ADDRESS, I2CBus, I2CBusStuck, I2CNack, I2CTarget

__all__ = ["EIO", "ENODEV", "ESP32_I2C", "ETIMEDOUT", "I2C_PORTS", "RP2_I2C", "I2cController", "I2cPortRules",
           "I2cTimeout", "memaddr_bytes", "soft_us_delay"]

EIO = 5
ENODEV = 19
ETIMEDOUT = {"rp2": 110, "esp32": 116}
"""ETIMEDOUT by port: rp2 uses MicroPython's internal (Linux) numbers, esp32 newlib's."""

_SCAN_PROBES = LAST_SCAN_ADDRESS - FIRST_SCAN_ADDRESS + 1


@dataclass(frozen=True)
class I2cPortRules:
    """What one port's hardware ``machine.I2C`` does.

    Attributes:
        port: ``"rp2"`` or ``"esp32"``.
        ids: the hardware ids.
        default_pins: id -> ``(scl, sda)`` when the constructor names none.
        address_nack_errno: errno of an address NACK in a transfer with data.
        data_nack_raises: whether a NACKed data byte raises (else the write returns a short count).
        combined_mem_read: ``readfrom_mem`` as one write+read transaction (``transfer_supports_write1``).
    """

    port: str
    ids: tuple[int, ...]
    default_pins: Mapping[int, tuple[int, int]]
    address_nack_errno: int
    data_nack_raises: bool
    combined_mem_read: bool

    @property
    def etimedout(self) -> int:
        """The port's ETIMEDOUT."""
        return ETIMEDOUT[self.port]

    def sda_ok(self, hw_id: int, gpio: int) -> bool:
        """Whether hardware I2C ``hw_id`` can have its SDA on ``gpio`` (rp2: GPIO function table; esp32: any)."""
        return self.port != "rp2" or (gpio & 1 == 0 and (gpio & 2) >> 1 == hw_id)

    def scl_ok(self, hw_id: int, gpio: int) -> bool:
        """Whether hardware I2C ``hw_id`` can have its SCL on ``gpio``."""
        return self.port != "rp2" or (gpio & 1 == 1 and (gpio & 2) >> 1 == hw_id)


RP2_I2C = I2cPortRules("rp2", (0, 1), {0: (5, 4), 1: (7, 6)}, address_nack_errno=EIO, data_nack_raises=False,
                       combined_mem_read=False)
"""rp2 (Pico W): I2C0 defaults to GP5/GP4 (``PICO_DEFAULT_I2C_SCL/SDA_PIN``), I2C1 to GP7/GP6."""

ESP32_I2C = I2cPortRules("esp32", (0, 1), {0: (18, 19), 1: (25, 26)}, address_nack_errno=ENODEV,
                         data_nack_raises=True, combined_mem_read=True)
"""esp32 (ESP32_GENERIC): I2C0 defaults to SCL 18 / SDA 19, I2C1 to SCL 25 / SDA 26."""

I2C_PORTS = {"rp2": RP2_I2C, "esp32": ESP32_I2C}


class I2cTimeout(Exception):
    """A transfer on a stuck bus: wait ``seconds`` of lab time, then raise ``OSError(errno)``."""

    def __init__(self, seconds: float, errno: int, result: object = None, *, raises: bool = True) -> None:
        super().__init__(f"I2C bus stuck: times out after {seconds * 1e6:.0f} us")
        self.seconds = seconds
        self.errno = errno
        self.result = result
        self.raises = raises


def soft_us_delay(freq: int) -> int:
    """SoftI2C's half-period delay in microseconds (``mp_hal_i2c_init``): ``500000 // freq``, at least 1."""
    return max(1, 500_000 // freq) if freq > 0 else 1


def memaddr_bytes(memaddr: int, addrsize: int) -> bytes:
    """The memory address as the port sends it, most significant byte first (``fill_memaddr_buf``).

    Raises:
        MicroPythonError: ``ValueError("invalid addrsize")`` unless a multiple of 8 up to 32.
    """
    if addrsize & 7 or not 0 <= addrsize <= 32:
        raise MicroPythonError.value_error("invalid addrsize")
    return bytes((memaddr >> shift) & 0xFF for shift in range(addrsize - 8, -1, -8))


def _oserror(errno: int) -> MicroPythonError:
    return MicroPythonError("OSError", errno)


@dataclass(eq=False)
class I2cController:
    """One configured I2C controller: a hardware id of the port, or a SoftI2C on two pins.

    Attributes:
        rules: the port's rules.
        hw_id: the hardware id, or None for a SoftI2C.
        scl: SCL GPIO.
        sda: SDA GPIO.
        freq: the clock as the port reports it (rp2: ``i2c_set_baudrate``'s result).
        timeout_us: how long a stuck bus is waited for.
        bus: the targets wired to ``(sda, scl)``.
    """

    rules: I2cPortRules
    hw_id: int | None
    scl: int
    sda: int
    freq: int
    timeout_us: int
    bus: I2CBus
    _raw_phase: str = field(default="idle", repr=False)
    _raw_target: I2CTarget | None = field(default=None, repr=False)
    _raw_pending: bytearray = field(default_factory=bytearray, repr=False)

    @property
    def soft(self) -> bool:
        """Whether this is a SoftI2C (bit-banged: start/stop/readinto/write work)."""
        return self.hw_id is None

    def repr(self) -> str:
        """``repr()`` of the firmware's object, in the port's format."""
        if self.soft:
            return f"SoftI2C(scl={self.scl}, sda={self.sda}, freq={500_000 // soft_us_delay(self.freq)})"
        if self.rules.port == "esp32":
            return f"I2C({self.hw_id}, scl={self.scl}, sda={self.sda}, freq={self.freq})"
        return f"I2C({self.hw_id}, freq={self.freq}, scl={self.scl}, sda={self.sda}, timeout={self.timeout_us})"

    # ----------------------------------------------------------------- errors
    def _timeout(self, *, result: object = None, raises: bool = True, probes: int = 1) -> I2cTimeout:
        return I2cTimeout(probes * self.timeout_us / 1e6, self.rules.etimedout, result, raises=raises)

    def _nack_errno(self, with_data: bool) -> int:
        # Zero-length writes go through a SoftI2C on rp2 too; SoftI2C always says ENODEV.
        if self.soft or not with_data:
            return ENODEV
        return self.rules.address_nack_errno

    # ----------------------------------------------------------------- transfers
    def write(self, address: int, data: bytes, t: float, *, stop: bool = True) -> int:
        """One write transfer (``writeto``, ``writevto``, ``writeto_mem``); returns what ``writeto`` returns.

        Raises:
            MicroPythonError: ``OSError`` with the port's errno on a NACK.
            I2cTimeout: the bus is held low.
        """
        try:
            acked = self.bus.write(address & 0x7F, data, t, stop=stop)
        except I2CBusStuck:
            raise self._timeout() from None
        except I2CNack:
            raise _oserror(self._nack_errno(bool(data))) from None
        if acked < len(data) and not self.soft and self.rules.data_nack_raises:
            raise _oserror(ENODEV)
        return acked

    def read(self, address: int, n: int, t: float, *, stop: bool = True) -> bytes:
        """One read transfer of ``n`` bytes (``readfrom``, ``readfrom_into``).

        Raises:
            MicroPythonError: ``OSError`` with the port's errno on a NACK.
            I2cTimeout: the bus is held low.
        """
        try:
            data = self.bus.read(address & 0x7F, max(n, 0), t, stop=stop)
        except I2CBusStuck:
            raise self._timeout() from None
        except I2CNack:
            raise _oserror(self._nack_errno(True)) from None
        return bytes(data[:n]).ljust(max(n, 0), b"\x00")

    def read_mem(self, address: int, memaddr: bytes, n: int, t: float) -> bytes:
        """``readfrom_mem``: write the memory address, then read ``n`` bytes (``read_mem``).

        On a port without combined transfers a memory address the chip does not fully ACK ends
        the transfer without an error; the port then returns a buffer it never filled (zeros here).
        """
        if self.rules.combined_mem_read and not self.soft:
            self.write(address, memaddr, t, stop=False)  # raises ENODEV on any NACK
            return self.read(address, n, t)
        acked = self.write(address, memaddr, t, stop=False)
        if acked != len(memaddr):
            try:
                self.write(address, b"", t)  # the port's "must generate STOP"; its result is ignored
            except (MicroPythonError, I2cTimeout):
                pass
            return bytes(max(n, 0))
        return self.read(address, n, t)

    def scan(self, t: float) -> list[int]:
        """``scan()``: zero-length writes to 0x08..0x77; every failed probe is skipped.

        Raises:
            I2cTimeout: the bus is held low (the result after the wait is ``[]``).
        """
        try:
            return self.bus.scan(t)
        except I2CBusStuck:
            raise self._timeout(result=[], raises=False, probes=_SCAN_PROBES) from None

    # ----------------------------------------------------------------- SoftI2C primitives
    def _require_soft(self) -> None:
        if not self.soft:
            raise MicroPythonError("OSError", "I2C operation not supported")

    def _check_stuck(self) -> None:
        if self.bus.held_low:
            raise self._timeout()

    def _flush_raw_write(self, t: float) -> None:
        # Targets see a write transaction's data bytes in one call, so the primitives collect them.
        if self._raw_phase == "write" and self._raw_target is not None and self._raw_pending:
            self._raw_target.write(bytes(self._raw_pending), t)
        self._raw_pending = bytearray()

    def start(self, t: float) -> None:
        """``start()``: a START, or a repeated START inside a transaction."""
        self._require_soft()
        self._check_stuck()
        self._flush_raw_write(t)
        self._raw_phase, self._raw_target = "address", None

    def stop(self, t: float) -> None:
        """``stop()``: a STOP; the addressed target sees the end of its transaction."""
        self._require_soft()
        self._check_stuck()
        self._flush_raw_write(t)
        if self._raw_target is not None:
            self._raw_target.stop(t)
        self._raw_phase, self._raw_target = "idle", None

    def write_raw(self, data: bytes, t: float) -> int:
        """``write(buf)``: bytes on the wire after a START; returns the ACKs, stopping at the first NACK.

        The first byte after a START is the address byte. Data bytes are counted as ACKed and
        handed to the target as one write at the next STOP or repeated START.
        """
        self._require_soft()
        self._check_stuck()
        acks = 0
        for i, byte in enumerate(data):
            if self._raw_phase == "address":
                target = self.bus.target(byte >> 1)
                if target is None or not target.acknowledges(bool(byte & 1), t):
                    self._raw_phase = "nacked"
                    return acks
                self._raw_phase, self._raw_target = ("read" if byte & 1 else "write"), target
                acks += 1
            elif self._raw_phase == "write":
                self._raw_pending += data[i:]
                return acks + len(data) - i
            else:  # nobody addressed, or a target sending: nothing ACKs
                return acks
        return acks

    def readinto_raw(self, n: int, t: float) -> bytes:
        """``readinto(buf, nack)``: ``n`` bytes from the addressed target, or a released bus (0xFF)."""
        self._require_soft()
        self._check_stuck()
        if self._raw_phase == "read" and self._raw_target is not None:
            return bytes(self._raw_target.read(n, t)[:n]).ljust(n, b"\xff")
        return b"\xff" * n
