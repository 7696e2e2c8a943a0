"""The board's I2C: the firmware's ``machine.I2C``/``SoftI2C`` operations and the buses wired to its pins.

A bus is identified by its SDA and SCL GPIOs: :meth:`BoardI2C.bus` returns (creating on demand)
the :class:`~labtwin.twin.parts.i2c.I2CBus` on a pin pair, and every controller the firmware
opens on those pins, hardware or SoftI2C, reaches its targets. Pins with nothing wired give an
empty bus: ``scan()`` finds nothing, transfers NACK. Wiring survives reboots; the controllers the
firmware configured do not.

Port rules (signatures, pins, errno values) live in :mod:`labtwin.twin.models.i2c_port`. Bytes
cross the hardware bus as hex strings (docs/hardware-bus.md).
"""

from __future__ import annotations

import binascii
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from labtwin.twin.board.bus_pins import FUNC_I2C, BusPins
from labtwin.twin.clock import Clock
from labtwin.twin.models.i2c_port import I2C_PORTS, I2cController, I2cTimeout, memaddr_bytes, soft_us_delay
from labtwin.twin.models.mp import MicroPythonError, mp_get_int
from labtwin.twin.models.mp_args import NOT_GIVEN, Arg, ParsedArgs, parse_args
from labtwin.twin.parts.i2c import I2CBus, I2CTarget

__all__ = ["BoardI2C", "from_hex"]

_RP2_I2C_ARGS = (Arg("id", default=0), Arg("freq", default=400_000),
                 Arg("scl", is_int=False, kw_only=True), Arg("sda", is_int=False, kw_only=True),
                 Arg("timeout", kw_only=True, default=50_000))
_ESP32_I2C_ARGS = (Arg("id", is_int=False, required=True),
                   Arg("scl", is_int=False, kw_only=True, default=NOT_GIVEN),
                   Arg("sda", is_int=False, kw_only=True, default=NOT_GIVEN),
                   Arg("freq", kw_only=True, default=400_000), Arg("timeout", kw_only=True, default=50_000))
_SOFT_I2C_ARGS = (Arg("scl", is_int=False, required=True), Arg("sda", is_int=False, required=True),
                  Arg("freq", kw_only=True, default=400_000), Arg("timeout", kw_only=True, default=50_000))
_LEGACY_WARNING = "Warning: I2C(-1, ...) is deprecated, use SoftI2C(...) instead"
_SOFT_BASE = 100  # SoftI2C handles start here; hardware handles are the ids


def from_hex(data: object) -> bytes:
    """Bytes sent by the shim as a hex string.

    Raises:
        MicroPythonError: ``TypeError`` for anything else.
    """
    try:
        if isinstance(data, str):
            return binascii.unhexlify(data)
    except (binascii.Error, ValueError):
        pass
    raise MicroPythonError("TypeError", "object with buffer protocol required")


def _discard(_: object) -> None:
    return None


def _rp2_freq(freq: int, sys_hz: int) -> int:
    # pico-sdk i2c_set_baudrate: the period in clk_sys cycles, rounded to nearest.
    freq = max(freq, 1)
    return sys_hz // max(1, (sys_hz + freq // 2) // freq)


def _esp32_freq(freq: int) -> int:
    # ESP-IDF's ESP32 I2C timing: half a period in 80 MHz APB cycles; repr shows APB / (high + low).
    half = max(1, 80_000_000 // max(freq, 1) // 2)
    return 80_000_000 // (2 * half)


class BoardI2C:
    """I2C controllers of one board and the buses wired to its pins.

    Args:
        pins: how buses find and claim pins on this board.
        clock: lab clock (transfer times; a stuck bus waits its timeout on it).
        sys_hz: the CPU clock now (the rp2 I2C clock divides it).
    """

    def __init__(self, pins: BusPins, clock: Clock, sys_hz: Callable[[], int]) -> None:
        self._pins = pins
        self._clock = clock
        self._sys_hz = sys_hz
        self.rules = I2C_PORTS[pins.port]
        self._buses: dict[tuple[int, int], I2CBus] = {}
        self._controllers: dict[int, I2cController] = {}
        self._soft_handles: dict[tuple[int, int, int, int], int] = {}

    def reset(self) -> None:
        """A reboot: the firmware's controllers are gone; the wiring stays."""
        self._controllers.clear()
        self._soft_handles.clear()

    # ----------------------------------------------------------------- wiring
    def bus(self, *, sda: object, scl: object) -> I2CBus:
        """The bus on these SDA/SCL pins (numbers or names), created empty on first use."""
        key = (self._pins.gpio_of(sda), self._pins.gpio_of(scl))
        bus = self._buses.get(key)
        if bus is None:
            bus = self._buses[key] = I2CBus()
        return bus

    def attach(self, target: I2CTarget, *, sda: object, scl: object) -> I2CTarget:
        """Wire ``target`` to the bus on these pins."""
        return self.bus(sda=sda, scl=scl).attach(target)

    def controller(self, handle: object) -> I2cController:
        """The controller behind a handle ``i2c_init`` returned."""
        ctl = self._controllers.get(handle) if isinstance(handle, int) else None
        if ctl is None:
            raise MicroPythonError("OSError", "labtwin: I2C object not initialised on this board")
        return ctl

    # ----------------------------------------------------------------- constructors
    def _new(self, hw_id: int | None, scl: int, sda: int, freq: int, timeout: int) -> I2cController:
        bus = self.bus(sda=sda, scl=scl)
        if hw_id is None:
            self._pins.claim_open_drain(scl, "SoftI2C SCL")
            self._pins.claim_open_drain(sda, "SoftI2C SDA")
        else:
            self._pins.claim_peripheral(scl, FUNC_I2C, f"I2C({hw_id}) SCL", pull_up=True)
            self._pins.claim_peripheral(sda, FUNC_I2C, f"I2C({hw_id}) SDA", pull_up=True)
        return I2cController(self.rules, hw_id, scl, sda, freq, timeout, bus)

    def _soft(self, parsed: ParsedArgs) -> int:
        scl = self._pins.gpio_of(parsed["scl"])
        sda = self._pins.gpio_of(parsed["sda"])
        freq, timeout = parsed["freq"], parsed["timeout"]
        key = (scl, sda, soft_us_delay(freq), timeout)
        handle = self._soft_handles.get(key)
        if handle is None or handle not in self._controllers:
            handle = self._soft_handles[key] = _SOFT_BASE + len(self._soft_handles)
            self._controllers[handle] = self._new(None, scl, sda, freq, timeout)
        return handle

    def _check_id(self, hw_id: int) -> None:
        if hw_id not in self.rules.ids:
            raise MicroPythonError.value_error(f"I2C({hw_id}) doesn't exist")

    def op_i2c_init(self, args: Sequence[Any], kwargs: dict[str, Any]) -> list[Any]:
        """``I2C(...)``: returns ``[handle, is_soft, warning]`` (esp32's legacy ``I2C(-1, ...)`` is a SoftI2C)."""
        if self.rules.port == "esp32":
            if not args or args[0] == -1:
                return [self._soft(parse_args(_SOFT_I2C_ARGS, args[1:], kwargs)), True, _LEGACY_WARNING]
            p = parse_args(_ESP32_I2C_ARGS, args, kwargs)
            hw_id = mp_get_int(p["id"])
            self._check_id(hw_id)
            old = self._controllers.get(hw_id)
            scl, sda = (old.scl, old.sda) if old else self.rules.default_pins[hw_id]
            if p["scl"] is not NOT_GIVEN:
                scl = self._pins.gpio_of(p["scl"])
            if p["sda"] is not NOT_GIVEN:
                sda = self._pins.gpio_of(p["sda"])
            self._controllers[hw_id] = self._new(hw_id, scl, sda, _esp32_freq(p["freq"]), p["timeout"])
            return [hw_id, False, None]
        p = parse_args(_RP2_I2C_ARGS, args, kwargs)
        hw_id = p["id"]
        self._check_id(hw_id)
        old = self._controllers.get(hw_id)
        scl, sda = (old.scl, old.sda) if old else self.rules.default_pins[hw_id]
        if p["scl"] is not None:
            scl = self._pins.gpio_of(p["scl"])
            if not self.rules.scl_ok(hw_id, scl):
                raise MicroPythonError.value_error("bad SCL pin")
        if p["sda"] is not None:
            sda = self._pins.gpio_of(p["sda"])
            if not self.rules.sda_ok(hw_id, sda):
                raise MicroPythonError.value_error("bad SDA pin")
        if p.n_pos > 1 or p.n_kw > 0 or old is None:
            freq = _rp2_freq(p["freq"], self._sys_hz())
            self._controllers[hw_id] = self._new(hw_id, scl, sda, freq, p["timeout"])
        return [hw_id, False, None]

    def op_softi2c_init(self, args: Sequence[Any], kwargs: dict[str, Any]) -> int:
        """``SoftI2C(scl, sda, *, freq=400000, timeout=50000)``: returns a handle."""
        return self._soft(parse_args(_SOFT_I2C_ARGS, args, kwargs))

    def op_i2c_reinit(self, handle: object, args: Sequence[Any], kwargs: dict[str, Any]) -> int:
        """``i2c.init(...)``: SoftI2C only (its new handle); hardware I2C has no ``init``."""
        if not self.controller(handle).soft:
            raise MicroPythonError("OSError", "I2C operation not supported")
        return self._soft(parse_args(_SOFT_I2C_ARGS, args, kwargs))

    def op_i2c_repr(self, handle: object) -> str:
        """``repr(i2c)``."""
        return self.controller(handle).repr()

    # ----------------------------------------------------------------- transfers
    def _run(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except I2cTimeout as stuck:
            return self._after(stuck)

    async def _after(self, stuck: I2cTimeout) -> Any:
        await self._clock.sleep(stuck.seconds)
        if stuck.raises:
            raise MicroPythonError("OSError", stuck.errno)
        return stuck.result

    def op_i2c_scan(self, handle: object) -> list[int] | Awaitable[list[int]]:
        """``i2c.scan()``."""
        ctl = self.controller(handle)
        result: list[int] | Awaitable[list[int]] = self._run(lambda: ctl.scan(self._clock.now()))
        return result

    def op_i2c_readfrom(self, handle: object, addr: object, nbytes: object, stop: object = True) -> Any:
        """``readfrom``/``readfrom_into``: the bytes read, as hex."""
        ctl, a, n = self.controller(handle), mp_get_int(addr), mp_get_int(nbytes)
        return self._run(lambda: ctl.read(a, n, self._clock.now(), stop=bool(stop)).hex())

    def op_i2c_writeto(self, handle: object, addr: object, data: object, stop: object = True) -> Any:
        """``writeto``: the port's return value (bytes written, or ACKs)."""
        ctl, a, buf = self.controller(handle), mp_get_int(addr), from_hex(data)
        return self._run(lambda: ctl.write(a, buf, self._clock.now(), stop=bool(stop)))

    def op_i2c_writevto(self, handle: object, addr: object, vector: object, stop: object = True) -> Any:
        """``writevto``: the buffers written as one transfer (empty ones skipped)."""
        ctl, a = self.controller(handle), mp_get_int(addr)
        if not isinstance(vector, list):
            raise MicroPythonError("TypeError", "object with buffer protocol required")
        buf = b"".join(from_hex(item) for item in vector)
        return self._run(lambda: ctl.write(a, buf, self._clock.now(), stop=bool(stop)))

    def op_i2c_readfrom_mem(self, handle: object, addr: object, memaddr: object, nbytes: object,
                            addrsize: object = 8) -> Any:
        """``readfrom_mem``/``readfrom_mem_into``: the bytes read, as hex."""
        ctl, a, n = self.controller(handle), mp_get_int(addr), mp_get_int(nbytes)
        mem = memaddr_bytes(mp_get_int(memaddr), mp_get_int(addrsize))
        return self._run(lambda: ctl.read_mem(a, mem, n, self._clock.now()).hex())

    def op_i2c_writeto_mem(self, handle: object, addr: object, memaddr: object, data: object,
                           addrsize: object = 8) -> Any:
        """``writeto_mem``: the memory address and the data in one write transfer."""
        ctl, a = self.controller(handle), mp_get_int(addr)
        buf = memaddr_bytes(mp_get_int(memaddr), mp_get_int(addrsize)) + from_hex(data)
        return self._run(lambda: _discard(ctl.write(a, buf, self._clock.now())))

    def op_i2c_start(self, handle: object) -> Any:
        """SoftI2C ``start()``."""
        ctl = self.controller(handle)
        return self._run(lambda: ctl.start(self._clock.now()))

    def op_i2c_stop(self, handle: object) -> Any:
        """SoftI2C ``stop()``."""
        ctl = self.controller(handle)
        return self._run(lambda: ctl.stop(self._clock.now()))

    def op_i2c_write(self, handle: object, data: object) -> Any:
        """SoftI2C ``write(buf)``: the number of ACKs."""
        ctl, buf = self.controller(handle), from_hex(data)
        return self._run(lambda: ctl.write_raw(buf, self._clock.now()))

    def op_i2c_readinto(self, handle: object, nbytes: object, nack: object = True) -> Any:
        """SoftI2C ``readinto(buf, nack=True)``: the bytes read, as hex."""
        ctl, n = self.controller(handle), mp_get_int(nbytes)
        return self._run(lambda: ctl.readinto_raw(n, self._clock.now()).hex())
