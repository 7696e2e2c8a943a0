"""UART as each MicroPython port implements it, and the serial line to the device at the other end.

:class:`UartPortRules` and :class:`UartConfig` hold what differs by port (ids, pins, constants,
repr, read semantics); :class:`UartLine` carries bytes both ways at the configured baud rate on
the lab clock, so a device's answer arrives no faster than the line allows and a firmware that
reads too late loses what overflowed its RX buffer.

Sources: ``ports/rp2/machine_uart.c`` (``machine_uart_make_new``/``init_helper``: ids 0/1, ``bad
TX/RX/CTS/RTS pin``, ``timeout_char`` at least 13 bit times, ``machine_uart_read``: wait up to
``timeout`` for the first byte, then up to ``timeout_char`` between bytes; ``CTS=1, RTS=2,
INV_TX=1, INV_RX=2``), ``ports/esp32/machine_uart.c`` (``UART(%d) does not exist``, ``invalid data
bits``/``stop bits``/``inversion mask``/``flow control mask``, ``uart_read_bytes``: up to
``timeout`` for the whole request; ``RTS=1, CTS=2, INV_TX=32, INV_RX=4, INV_RTS=64, INV_CTS=8``;
the baud rate ESP-IDF actually sets, shown by ``repr``), ``extmod/machine_uart.c`` and
``py/stream.c`` (``read`` returns ``None`` on a timeout with nothing read, ``readline`` reads a byte
at a time and returns the partial line on a timeout).

How the line is timed: a byte takes ``(1 + bits + parity + stop) / baudrate`` seconds. Bytes the
firmware writes reach the device's :meth:`~labtwin.twin.parts.serial_link.UartDevice.receive` at
the time their last bit arrives (delivered when the board model next looks, with that time);
bytes the device has sent are collected whenever the board model looks (an operation of the
firmware, or the asyncio doorbell's poll) and taken to start at the previous look, one after the
other. A device that answers from ``receive`` therefore answers exactly after the request, and a
device that schedules its answers and says when the next is due (a ``next_answer_at()`` method,
like :class:`~labtwin.twin.parts.balance.Balance`) has each answer start exactly then.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from labtwin.twin.parts.serial_link import UartDevice

__all__ = ["ESP32_UART", "RP2_UART", "UART_PORTS", "UartConfig", "UartLine", "UartPortRules"]


def _next_answer(device: UartDevice) -> Callable[[], float | None] | None:
    # Optional on a device: when its next scheduled answer is due (None: nothing scheduled).
    due = getattr(device, "next_answer_at", None)
    return due if callable(due) else None


@dataclass(frozen=True)
class UartPortRules:
    """What one port's ``machine.UART`` does.

    Attributes:
        port: ``"rp2"`` or ``"esp32"``.
        ids: the UART ids.
        default_pins: id -> ``(tx, rx)`` when the constructor names none.
        fifo: bytes the hardware TX FIFO holds beyond ``txbuf``.
        cts: ``UART.CTS``.
        rts: ``UART.RTS``.
        inv_tx: ``UART.INV_TX``.
        inv_rx: ``UART.INV_RX``.
        inv_other: ``UART.INV_RTS | UART.INV_CTS`` (esp32), 0 where the port has none.
    """

    port: str
    ids: tuple[int, ...]
    default_pins: Mapping[int, tuple[int, int]]
    fifo: int
    cts: int
    rts: int
    inv_tx: int
    inv_rx: int
    inv_other: int = 0

    @property
    def invert_mask(self) -> int:
        """Every inversion bit the port accepts."""
        return self.inv_tx | self.inv_rx | self.inv_other


RP2_UART = UartPortRules("rp2", (0, 1), {0: (0, 1), 1: (4, 5)}, fifo=32, cts=1, rts=2, inv_tx=1, inv_rx=2)
"""rp2: UART0 on GP0/GP1, UART1 on GP4/GP5 by default; a 32-byte FIFO behind the ring buffers."""

ESP32_UART = UartPortRules("esp32", (0, 1, 2), {0: (1, 3), 1: (10, 9), 2: (17, 16)}, fifo=128, cts=2, rts=1,
                           inv_tx=32, inv_rx=4, inv_other=64 | 8)
"""esp32: UART0 is the REPL's (TX 1, RX 3); UART1 defaults to TX 10 / RX 9, the WROOM module's flash
pins (always pass ``tx``/``rx``); UART2 to TX 17 / RX 16; a 128-byte FIFO."""

UART_PORTS = {"rp2": RP2_UART, "esp32": ESP32_UART}


@dataclass
class UartConfig:
    """The settings of one UART, as ``repr`` shows them.

    ``tx``/``rx`` are the pins in use; ``shown_tx``/``shown_rx`` what the repr prints (esp32's
    UART0 keeps the REPL's pins and prints ``-1``). ``parity`` is None, 0 (even) or 1 (odd).
    """

    rules: UartPortRules
    uart_id: int
    baudrate: int = 115_200
    bits: int = 8
    parity: int | None = None
    stop: int = 1
    tx: int = -1
    rx: int = -1
    shown_tx: int = -1
    shown_rx: int = -1
    cts: int = -1
    rts: int = -1
    timeout: int = 0
    timeout_char: int = 0
    invert: int = 0
    flow: int = 0
    txbuf: int = 256
    rxbuf: int = 256

    @property
    def char_time(self) -> float:
        """Seconds one character takes on the line: start bit, data, parity, stop bits."""
        frame = 1 + self.bits + (0 if self.parity is None else 1) + self.stop
        return frame / max(self.baudrate, 1)

    def esp32_actual_baud(self) -> int:
        """The baud rate ESP-IDF sets: 80 MHz APB over a divider with four fractional bits."""
        sixteenth = 80_000_000 << 4
        return sixteenth // max(1, sixteenth // max(self.baudrate, 1))

    def repr(self) -> str:
        """``repr()`` of the firmware's UART, in the port's format."""
        parity = "None" if self.parity is None else str(self.parity)
        if self.rules.port == "rp2":
            invert = {0: "None", 1: "INV_TX", 2: "INV_RX", 3: "INV_TX|INV_RX"}.get(self.invert, str(self.invert))
            return (f"UART({self.uart_id}, baudrate={self.baudrate}, bits={self.bits}, parity={parity}, "
                    f"stop={self.stop}, tx={self.shown_tx}, rx={self.shown_rx}, txbuf={self.txbuf}, "
                    f"rxbuf={self.rxbuf}, timeout={self.timeout}, timeout_char={self.timeout_char}, "
                    f"invert={invert})")
        text = (f"UART({self.uart_id}, baudrate={self.esp32_actual_baud()}, bits={self.bits}, parity={parity}, "
                f"stop={self.stop}, tx={self.shown_tx}, rx={self.shown_rx}, rts={self.rts}, cts={self.cts}, "
                f"txbuf={self.txbuf}, rxbuf={self.rxbuf}, timeout={self.timeout}, "
                f"timeout_char={self.timeout_char}")
        if self.invert:
            names = [n for bit, n in ((32, "INV_TX"), (4, "INV_RX"), (64, "INV_RTS"), (8, "INV_CTS"))
                     if self.invert & bit]
            text += ", invert=" + "|".join(names)
        if self.flow:
            text += ", flow=" + "|".join(n for bit, n in ((1, "RTS"), (2, "CTS")) if self.flow & bit)
        return text + ")"


@dataclass(eq=False)
class UartLine:
    """The two wires between one UART and its device, and the board's RX buffer.

    Attributes:
        config: the UART's settings (baud rate, buffer sizes).
        rx_buffer: bytes arrived and not yet read by the firmware.
        overflowed: bytes lost because the RX buffer was full when they arrived.
    """

    config: UartConfig
    rx_buffer: bytearray = field(default_factory=bytearray)
    overflowed: int = 0
    _rx_wire: deque[tuple[float, int]] = field(default_factory=deque)
    _tx_wire: deque[tuple[float, int]] = field(default_factory=deque)
    _rx_free: float = 0.0
    _tx_free: float = 0.0
    _last_look: float | None = None

    def look(self, device: UartDevice | None, now: float) -> None:
        """Bring the line up to lab time ``now``: deliver arrived TX bytes, collect the device's output."""
        if self._last_look is None:
            self._last_look = now
        tx = self._tx_wire
        while tx and tx[0][0] <= now:
            chunk = bytearray()
            t = tx[0][0]
            while tx and tx[0][0] <= now:
                t, byte = tx.popleft()
                chunk.append(byte)
                if byte == 0x0A:  # a line ends: the device may answer before the next one arrives
                    break
            self._arrived_rx(t)
            if device is not None and device.connected:
                self._collect_due(device, t)
                device.receive(bytes(chunk), t)
                self._collect(device, t, t)
        if device is not None:
            self._collect_due(device, now)
            self._collect(device, self._last_look, now)
        self._arrived_rx(now)
        self._last_look = max(self._last_look, now)

    def _collect_due(self, device: UartDevice, until: float) -> None:
        # Answers the device scheduled start exactly when they are due.
        due = _next_answer(device)
        last = None
        while due is not None and (at := due()) is not None and at <= until and at != last:
            self._collect(device, at, at)
            last = at

    def _collect(self, device: UartDevice, sent: float, now: float) -> None:
        data = device.transmit(now)
        if not data:
            return
        start = max(sent, self._rx_free)
        step = self.config.char_time
        for byte in data:
            start += step
            self._rx_wire.append((start, byte))
        self._rx_free = start

    def _arrived_rx(self, now: float) -> None:
        wire, room = self._rx_wire, self.config.rxbuf + self.config.rules.fifo
        while wire and wire[0][0] <= now:
            _, byte = wire.popleft()
            if len(self.rx_buffer) < room:
                self.rx_buffer.append(byte)
            else:
                self.overflowed += 1

    def next_event(self, device: UartDevice | None = None) -> float | None:
        """Lab time of the next byte to arrive at either end, or of the device's next scheduled answer."""
        times = [wire[0][0] for wire in (self._rx_wire, self._tx_wire) if wire]
        due = _next_answer(device) if device is not None else None
        at = due() if due is not None else None
        if at is not None:
            times.append(at)
        return min(times) if times else None

    def take(self, n: int) -> bytes:
        """Up to ``n`` bytes from the RX buffer."""
        data = bytes(self.rx_buffer[:n])
        del self.rx_buffer[:n]
        return data

    def send(self, data: bytes, now: float) -> float:
        """Queue ``data`` towards the device; returns when the last byte has fully left the board."""
        start = max(now, self._tx_free)
        step = self.config.char_time
        for byte in data:
            start += step
            self._tx_wire.append((start, byte))
        self._tx_free = start
        return start

    def tx_room_time(self, capacity: int) -> float | None:
        """When the TX side holds ``capacity`` bytes or fewer again (None if it already does)."""
        excess = len(self._tx_wire) - capacity
        return self._tx_wire[excess - 1][0] if excess > 0 else None

    @property
    def tx_done_at(self) -> float:
        """When the last byte written leaves the board."""
        return self._tx_free

    def tx_idle(self, now: float) -> bool:
        """Whether everything written has left the board by ``now``."""
        return self._tx_free <= now

    def occupy_tx(self, seconds: float, now: float) -> float:
        """Hold the TX line (a break) for ``seconds``; returns when it is free again."""
        self._tx_free = max(now, self._tx_free) + seconds
        return self._tx_free

    def clear_rx(self) -> None:
        """Reconfiguring drops what the old RX buffer held."""
        self.rx_buffer.clear()
