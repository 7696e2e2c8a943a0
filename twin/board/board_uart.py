"""The board's UARTs: the firmware's ``machine.UART`` operations and the serial devices wired to its pins.

A device is wired to a board's TX and RX pins (:meth:`BoardUART.attach`); a UART the firmware
opens on those pins talks to it over a :class:`~labtwin.twin.models.uart_port.UartLine` timed by
the baud rate on the lab clock. Reads that must wait (``timeout``), writes that fill the TX
buffer, ``flush`` and ``sendbreak`` return a coroutine the hardware bus awaits, so the VM blocks
as the board would, in lab time.

For asyncio (``asyncio.StreamReader(uart)``) the shim asks for a doorbell: a second loopback
connection whose socket becomes readable when bytes are waiting in the RX buffer. The VM's poll
then wakes on a real file descriptor; :meth:`BoardUART.serve_doorbell` watches the line while
nothing is rung. Port rules live in :mod:`labtwin.twin.models.uart_port`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from labtwin.twin.board.board_i2c import from_hex
from labtwin.twin.board.bus_pins import FUNC_UART, BusPins
from labtwin.twin.clock import Clock
from labtwin.twin.models.mp import MicroPythonError, mp_get_int
from labtwin.twin.models.mp_args import NOT_GIVEN, Arg, ParsedArgs, check_arg_count, parse_args
from labtwin.twin.models.uart_port import UART_PORTS, UartConfig, UartLine
from labtwin.twin.parts.serial_link import UartDevice

__all__ = ["BoardUART"]

_POLL = 0.001  # lab seconds between looks at a device while a read waits for bytes nobody has sent yet
_BELL_POLL = 0.005  # real seconds between the doorbell's looks while nothing is on the wire
_MAX_READ = 16_384  # bytes one read returns at most (a hardware-bus line holds 64 KiB of hex)

_RP2_ARGS = (Arg("baudrate", default=-1), Arg("bits", default=-1), Arg("parity", is_int=False, default=-1),
             Arg("stop", default=-1),
             *(Arg(n, is_int=False, kw_only=True) for n in ("tx", "rx", "cts", "rts")),
             *(Arg(n, kw_only=True, default=-1)
               for n in ("timeout", "timeout_char", "invert", "flow", "txbuf", "rxbuf")))
_ESP32_ARGS = (Arg("baudrate", default=0), Arg("bits", default=0),
               Arg("parity", is_int=False, default=NOT_GIVEN), Arg("stop", default=0),
               *(Arg(n, is_int=False, kw_only=True, default=NOT_GIVEN) for n in ("tx", "rx", "rts", "cts")),
               *(Arg(n, kw_only=True, default=-1)
                 for n in ("txbuf", "rxbuf", "timeout", "timeout_char", "invert", "flow")))


@dataclass(eq=False)
class _Uart:
    config: UartConfig
    line: UartLine
    initialised: bool = True
    bell: Callable[[], None] | None = None
    rung: bool = False
    rearmed: asyncio.Event | None = None


@dataclass
class _Read:
    """One port-level read in progress: what was read, and until when it waits for more."""

    limit: int
    deadline: float
    gap: float | None  # seconds to wait after each byte, or None: the deadline stays
    until_newline: bool
    got: bytearray = field(default_factory=bytearray)

    @property
    def done(self) -> bool:
        return len(self.got) >= self.limit or (self.until_newline and self.got[-1:] == b"\n")


class BoardUART:
    """UARTs of one board and the serial devices wired to its pins.

    Args:
        pins: how buses find and claim pins on this board.
        clock: lab clock (the line's timing, and what blocking calls wait on).
    """

    def __init__(self, pins: BusPins, clock: Clock) -> None:
        self._pins = pins
        self._clock = clock
        self.rules = UART_PORTS[pins.port]
        self._devices: dict[tuple[int, int], UartDevice] = {}
        self._uarts: dict[int, _Uart] = {}

    def reset(self) -> None:
        """A reboot: the UARTs are unconfigured; the wiring stays."""
        self._uarts.clear()

    # ----------------------------------------------------------------- wiring
    def attach(self, device: UartDevice, *, tx: object, rx: object) -> UartDevice:
        """Wire ``device`` to the board's ``tx`` pin (its receive line) and ``rx`` pin (its send line)."""
        self._devices[(self._pins.gpio_of(tx), self._pins.gpio_of(rx))] = device
        return device

    def line(self, uart_id: int) -> UartLine:
        """The line of a UART the firmware configured (read-only use: buffers, overflow count)."""
        return self._uart(uart_id).line

    def _uart(self, handle: object) -> _Uart:
        uart = self._uarts.get(handle) if isinstance(handle, int) else None
        if uart is None:
            raise MicroPythonError("OSError", "labtwin: UART not initialised on this board")
        return uart

    def _device(self, uart: _Uart) -> UartDevice | None:
        return self._devices.get((uart.config.tx, uart.config.rx))

    def _look(self, uart: _Uart) -> None:
        uart.line.look(self._device(uart), self._clock.now())

    # ----------------------------------------------------------------- configuration
    def _pin(self, value: object, what: str, uart_id: int, remainder: int) -> int:
        pin = self._pins.gpio_of(value)
        if self.rules.port == "rp2" and (pin & 3 != remainder or ((pin + 4) & 8) >> 3 != uart_id):
            raise MicroPythonError.value_error(f"bad {what} pin")
        return pin

    def _configure_rp2(self, cfg: UartConfig, p: ParsedArgs, first: bool) -> bool:
        if p["baudrate"] > 0:
            cfg.baudrate = p["baudrate"]
        if p["bits"] > 0:
            cfg.bits = p["bits"]
        if p["parity"] != -1:
            cfg.parity = None if p["parity"] is None else mp_get_int(p["parity"]) & 1
        if p["stop"] > 0:
            cfg.stop = p["stop"]
        for name, remainder in (("tx", 0), ("rx", 1), ("cts", 2), ("rts", 3)):
            if p[name] is not None:
                setattr(cfg, name, self._pin(p[name], name.upper(), cfg.uart_id, remainder))
        cfg.shown_tx, cfg.shown_rx = cfg.tx, cfg.rx
        if p["timeout"] >= 0:
            cfg.timeout = p["timeout"]
        if p["timeout_char"] >= 0:
            cfg.timeout_char = p["timeout_char"]
        if p["invert"] >= 0:
            if p["invert"] & ~(self.rules.inv_tx | self.rules.inv_rx):
                raise MicroPythonError.value_error("bad inversion mask")
            cfg.invert = p["invert"]
        if p["flow"] >= 0:
            if p["flow"] & ~(self.rules.cts | self.rules.rts):
                raise MicroPythonError.value_error("bad hardware flow control mask")
            cfg.flow = p["flow"]
        sizes = {}
        for name in ("rxbuf", "txbuf"):
            size = p[name] if p[name] > 0 else 256
            if size > 32_766:
                raise MicroPythonError.value_error(f"{name} too large")
            sizes[name] = max(size, 32)
        if not (p.n_pos > 0 or p.n_kw > 0 or first):
            return False
        cfg.rxbuf, cfg.txbuf = sizes["rxbuf"], sizes["txbuf"]
        cfg.timeout_char = max(cfg.timeout_char, 13_000 // max(cfg.baudrate, 1) + 1)
        return True

    def _configure_esp32(self, cfg: UartConfig, p: ParsedArgs) -> None:
        if p["txbuf"] >= 0 or p["rxbuf"] >= 0:
            if cfg.uart_id == 0:
                raise MicroPythonError.value_error("UART buffer size is fixed")
            cfg.txbuf = p["txbuf"] if p["txbuf"] >= 0 else cfg.txbuf
            cfg.rxbuf = p["rxbuf"] if p["rxbuf"] >= 0 else cfg.rxbuf
        if p["baudrate"] > 0:
            cfg.baudrate = p["baudrate"]
        for name in ("tx", "rx", "rts", "cts"):
            if p[name] is not NOT_GIVEN:
                setattr(cfg, name, self._pins.gpio_of(p[name]))
                if name in ("tx", "rx"):
                    setattr(cfg, f"shown_{name}", getattr(cfg, name))
        if p["bits"]:
            if not 5 <= p["bits"] <= 8:
                raise MicroPythonError.value_error("invalid data bits")
            cfg.bits = p["bits"]
        if p["parity"] is not NOT_GIVEN:
            cfg.parity = None if p["parity"] is None else mp_get_int(p["parity"]) & 1
        if p["stop"]:
            if p["stop"] not in (1, 2):
                raise MicroPythonError.value_error("invalid stop bits")
            cfg.stop = p["stop"]
        if p["timeout"] != -1:
            cfg.timeout = p["timeout"]
        if p["timeout_char"] != -1:
            cfg.timeout_char = p["timeout_char"]
        if p["invert"] != -1:
            if p["invert"] & ~self.rules.invert_mask:
                raise MicroPythonError.value_error("invalid inversion mask")
            cfg.invert = p["invert"]
        if p["flow"] != -1:
            if p["flow"] & ~(self.rules.cts | self.rules.rts):
                raise MicroPythonError.value_error("invalid flow control mask")
            cfg.flow = p["flow"]

    def _claim(self, cfg: UartConfig) -> None:
        hw = self.rules.port == "rp2"
        pins = [("TX", cfg.tx, True), ("RX", cfg.rx, True),
                ("CTS", cfg.cts, not hw or bool(cfg.flow & self.rules.cts)),
                ("RTS", cfg.rts, not hw or bool(cfg.flow & self.rules.rts))]
        for name, pin, used in pins:
            if used and pin >= 0:
                self._pins.claim_peripheral(pin, FUNC_UART, f"UART({cfg.uart_id}) {name}")

    def _fresh(self, uart_id: int) -> _Uart:
        tx, rx = self.rules.default_pins[uart_id]
        cfg = UartConfig(self.rules, uart_id, tx=tx, rx=rx, shown_tx=tx, shown_rx=rx)
        if self.rules.port == "rp2":
            cfg.cts, cfg.rts = tx + 2, tx + 3
        elif uart_id == 0:
            cfg.shown_tx = cfg.shown_rx = -1  # the REPL's pins, left as they are
        return _Uart(cfg, UartLine(cfg), initialised=False)

    def op_uart_init(self, args: Sequence[Any], kwargs: dict[str, Any]) -> int:
        """``UART(id, ...)``: returns the handle (the id)."""
        if self.rules.port == "esp32":
            check_arg_count(len(args) if isinstance(args, list) else 0, 1)
        elif not args and "id" not in kwargs:
            raise MicroPythonError("TypeError", "'id' argument required")
        uart_id = mp_get_int(args[0] if args else kwargs["id"])
        if uart_id not in self.rules.ids:
            word = "does not" if self.rules.port == "esp32" else "doesn't"
            raise MicroPythonError.value_error(f"UART({uart_id}) {word} exist")
        rest_kw = {k: v for k, v in kwargs.items() if not (k == "id" and not args)}
        old = self._uarts.get(uart_id)
        uart = old if old is not None and self.rules.port == "rp2" else self._fresh(uart_id)
        self._apply(uart, list(args[1:]), rest_kw)
        self._uarts[uart_id] = uart
        self._look(uart)  # the line exists from now: what the device sends later starts no earlier
        return uart_id

    def _apply(self, uart: _Uart, args: list[Any], kwargs: dict[str, Any]) -> None:
        # rp2 reallocates its ring buffers when it (re)initialises; esp32 reinstalls its driver
        # in the constructor (a fresh _Uart) but keeps its buffers through init().
        cfg = uart.config
        if self.rules.port == "rp2":
            if not self._configure_rp2(cfg, parse_args(_RP2_ARGS, args, kwargs), not uart.initialised):
                return
            uart.line.clear_rx()
        else:
            self._configure_esp32(cfg, parse_args(_ESP32_ARGS, args, kwargs))
        uart.initialised = True
        self._claim(cfg)

    def op_uart_reinit(self, handle: object, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        """``uart.init(...)``: the constructor's arguments without the id."""
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise MicroPythonError("TypeError", "labtwin: malformed constructor arguments")
        self._apply(self._uart(handle), args, kwargs)

    def op_uart_deinit(self, handle: object) -> None:
        """``uart.deinit()``: the next ``UART(id)`` initialises it afresh."""
        uart = self._uart(handle)
        uart.initialised = False
        uart.line.clear_rx()

    def op_uart_repr(self, handle: object) -> str:
        """``repr(uart)``."""
        return self._uart(handle).config.repr()

    # ----------------------------------------------------------------- reading
    def _after_rx_op(self, uart: _Uart) -> None:
        # The shim drains the doorbell before every RX operation; ring again if bytes are left.
        uart.rung = False
        if uart.rearmed is not None:
            uart.rearmed.set()
        if uart.bell is not None and uart.line.rx_buffer:
            uart.bell()
            uart.rung = True

    def op_uart_any(self, handle: object) -> int:
        """``uart.any()``: bytes waiting in the RX buffer."""
        uart = self._uart(handle)
        self._look(uart)
        self._after_rx_op(uart)
        return len(uart.line.rx_buffer)

    def _step(self, uart: _Uart, read: _Read) -> float | None:
        """Take what has arrived; None when the read is over, else the lab time to look again."""
        now = self._clock.now()
        self._look(uart)
        buf = uart.line.rx_buffer
        if buf and not read.done:
            want = read.limit - len(read.got)
            if read.until_newline:
                end = buf.find(b"\n", 0, want)
                want = want if end < 0 else end + 1
            read.got += uart.line.take(want)
            if read.gap is not None:
                read.deadline = now + read.gap
        if read.done:
            return None
        nxt = uart.line.next_event(self._device(uart))
        if nxt is not None and nxt <= read.deadline:
            return nxt
        if now >= read.deadline:
            return None
        return min(read.deadline, now + _POLL)

    def _read(self, handle: object, read: _Read) -> Any:
        uart = self._uart(handle)
        again = self._step(uart, read)
        if again is None:
            self._after_rx_op(uart)
            return read.got.hex() if read.got else None
        return self._read_waiting(uart, read, again)

    async def _read_waiting(self, uart: _Uart, read: _Read, again: float | None) -> str | None:
        while again is not None:
            await self._clock.sleep(max(0.0, again - self._clock.now()))
            again = self._step(uart, read)
        self._after_rx_op(uart)
        return read.got.hex() if read.got else None

    def op_uart_read(self, handle: object, nbytes: object) -> Any:
        """One port-level read of up to ``nbytes`` (``read(n)``, ``readinto``; ``read()`` repeats it).

        rp2 waits ``timeout`` ms for the first byte, then ``timeout_char`` ms for each next one;
        esp32 waits up to ``timeout`` ms for all of them. Hex of what arrived, or null for nothing.
        """
        cfg = self._uart(handle).config
        n = min(mp_get_int(nbytes), _MAX_READ)
        if n <= 0:
            return ""
        gap = cfg.timeout_char / 1000 if self.rules.port == "rp2" else None
        return self._read(handle, _Read(n, self._clock.now() + cfg.timeout / 1000, gap, False))

    def op_uart_readline(self, handle: object, limit: object = -1) -> Any:
        """``readline([size])``: a byte at a time, each waited for up to ``timeout`` ms; ends after ``\\n``."""
        cfg = self._uart(handle).config
        size = mp_get_int(limit)
        n = _MAX_READ if size < 0 else min(size, _MAX_READ)
        if n == 0:
            return ""
        timeout = cfg.timeout / 1000
        return self._read(handle, _Read(n, self._clock.now() + timeout, timeout, True))

    # ----------------------------------------------------------------- writing
    def op_uart_write(self, handle: object, data: object) -> Any:
        """``write(buf)``: queues the bytes; blocks until all but a buffer's worth are on the wire."""
        uart = self._uart(handle)
        buf = from_hex(data)
        self._look(uart)
        uart.line.send(buf, self._clock.now())
        room = uart.line.tx_room_time(uart.config.txbuf + self.rules.fifo)
        if room is None:
            return len(buf)
        return self._wait_then(uart, room, len(buf))

    async def _wait_then(self, uart: _Uart, until: float, result: Any) -> Any:
        await self._clock.sleep(max(0.0, until - self._clock.now()))
        self._look(uart)
        return result

    def op_uart_flush(self, handle: object) -> Any:
        """``flush()``: waits until everything written has left the board."""
        uart = self._uart(handle)
        self._look(uart)
        if uart.line.tx_idle(self._clock.now()):
            return None
        return self._wait_then(uart, uart.line.tx_done_at, None)

    def op_uart_txdone(self, handle: object) -> bool:
        """``txdone()``: whether everything written has left the board."""
        uart = self._uart(handle)
        self._look(uart)
        return uart.line.tx_idle(self._clock.now())

    def op_uart_sendbreak(self, handle: object) -> Any:
        """``sendbreak()``: rp2 holds TX low 13 bit times; esp32 sends a 0 at 6/15 of the baud rate."""
        uart = self._uart(handle)
        bit = 1 / max(uart.config.baudrate, 1)
        seconds = 13 * bit if self.rules.port == "rp2" else 25 * bit
        self._look(uart)
        return self._wait_then(uart, uart.line.occupy_tx(seconds, self._clock.now()), None)

    # ----------------------------------------------------------------- asyncio doorbell
    async def serve_doorbell(self, handle: object, ring: Callable[[], None]) -> None:
        """Ring ``ring`` whenever bytes wait in the RX buffer and the VM has not been told; runs until cancelled."""
        uart = self._uart(handle)
        uart.bell, uart.rung, uart.rearmed = ring, False, asyncio.Event()
        try:
            while True:
                if not uart.rung:
                    self._look(uart)
                    if uart.line.rx_buffer:
                        ring()
                        uart.rung = True
                if uart.rung:
                    uart.rearmed.clear()
                    await uart.rearmed.wait()
                    continue
                nxt = uart.line.next_event(self._device(uart))
                delay = _BELL_POLL if nxt is None else min(_BELL_POLL, max(0.0, nxt - self._clock.now()))
                await asyncio.sleep(delay)
        finally:
            if uart.bell is ring:
                uart.bell, uart.rearmed = None, None
