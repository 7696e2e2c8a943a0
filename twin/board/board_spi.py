"""The board's SPI: the firmware's ``machine.SPI``/``SoftSPI`` operations and the devices wired to its pins.

A bus is identified by its SCK, MOSI and MISO GPIOs; devices on it are told apart by their
chip-select pin, an ordinary GPIO the firmware drives. A transfer reaches the devices whose CS
pin is low at that moment; CS edges reach :meth:`~labtwin.twin.parts.spi.SpiDevice.select` and
``deselect`` as the firmware drives the pin. Port rules live in :mod:`labtwin.twin.models.spi_port`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from labtwin.twin.board.board_i2c import from_hex
from labtwin.twin.board.bus_pins import FUNC_SPI, BusPins
from labtwin.twin.clock import Clock
from labtwin.twin.models.mp import MicroPythonError, mp_get_int
from labtwin.twin.models.mp_args import NOT_GIVEN, Arg, ParsedArgs, parse_args
from labtwin.twin.models.spi_port import (
    SPI_PORTS,
    SpiController,
    esp32_spi_clock,
    rp2_spi_clock,
)
from labtwin.twin.parts.spi import SpiDevice

__all__ = ["BoardSPI"]


def _pin_args(kw_default: Any) -> tuple[Arg, ...]:
    return tuple(Arg(name, is_int=False, kw_only=True, default=kw_default) for name in ("sck", "mosi", "miso"))


def _format_args(baudrate: int, msb: int, pins_default: Any) -> tuple[Arg, ...]:
    return (Arg("baudrate", default=baudrate), Arg("polarity", kw_only=True, default=0),
            Arg("phase", kw_only=True, default=0), Arg("bits", kw_only=True, default=8),
            Arg("firstbit", kw_only=True, default=msb), *_pin_args(pins_default))


_LEGACY_WARNING = "Warning: SPI(-1, ...) is deprecated, use SoftSPI(...) instead"
_SOFT_BASE = 100


class BoardSPI:
    """SPI controllers of one board and the devices wired to its pins.

    Args:
        pins: how buses find and claim pins on this board.
        clock: lab clock (transfer times).
        sys_hz: the CPU clock now (rp2's ``clk_peri`` follows it; esp32's SoftSPI top speed).
    """

    def __init__(self, pins: BusPins, clock: Clock, sys_hz: Callable[[], int]) -> None:
        self._pins = pins
        self._clock = clock
        self._sys_hz = sys_hz
        self.rules = SPI_PORTS[pins.port]
        self._devices: dict[tuple[int, int, int], list[SpiDevice]] = {}
        self._cs_levels: dict[int, int] = {}  # id(device) -> last CS level seen
        self._controllers: dict[int, SpiController] = {}
        self._soft_count = 0

    def reset(self) -> None:
        """A reboot: the firmware's controllers are gone; the wiring stays."""
        self._controllers.clear()
        self._soft_count = 0

    # ----------------------------------------------------------------- wiring
    def attach(self, device: SpiDevice, *, sck: object, mosi: object, miso: object) -> SpiDevice:
        """Wire ``device`` to the bus on these pins; its ``cs_pin`` selects it."""
        key = (self._pins.gpio_of(sck), self._pins.gpio_of(mosi), self._pins.gpio_of(miso))
        self._devices.setdefault(key, []).append(device)
        self._cs_levels[id(device)] = self._pins.level(self._pins.gpio_of(device.cs_pin))
        return device

    def devices(self, *, sck: object, mosi: object, miso: object) -> list[SpiDevice]:
        """The devices wired to these pins."""
        key = (self._pins.gpio_of(sck), self._pins.gpio_of(mosi), self._pins.gpio_of(miso))
        return list(self._devices.get(key, ()))

    def pins_changed(self) -> None:
        """A pin may have changed level: tell devices whose chip select moved."""
        t = self._clock.now()
        for devices in self._devices.values():
            for device in devices:
                level = self._pins.level(self._pins.gpio_of(device.cs_pin))
                if level != self._cs_levels.get(id(device)):
                    self._cs_levels[id(device)] = level
                    if level:
                        device.deselect(t)
                    else:
                        device.select(t)

    def controller(self, handle: object) -> SpiController:
        """The controller behind a handle ``spi_init`` returned."""
        ctl = self._controllers.get(handle) if isinstance(handle, int) else None
        if ctl is None:
            raise MicroPythonError("OSError", "labtwin: SPI object not initialised on this board")
        return ctl

    # ----------------------------------------------------------------- constructors
    def _claim(self, ctl: SpiController) -> None:
        if ctl.hw_id is None:
            self._pins.claim_output(ctl.sck, ctl.polarity, "SoftSPI SCK")
            self._pins.claim_output(ctl.mosi, 0, "SoftSPI MOSI")
            self._pins.claim_input(ctl.miso, "SoftSPI MISO")
            return
        for pin, name in zip(ctl.pins, ("SCK", "MOSI", "MISO"), strict=True):
            if pin >= 0:
                self._pins.claim_peripheral(pin, FUNC_SPI, f"SPI({ctl.hw_id}) {name}")

    def _soft(self, p: ParsedArgs) -> int:
        if p["bits"] != 8:
            raise MicroPythonError.value_error("bits must be 8")
        if p["firstbit"] != self.rules.msb:
            raise MicroPythonError.value_error("firstbit must be MSB")
        if NOT_GIVEN in (p["sck"], p["mosi"], p["miso"]):
            raise MicroPythonError.value_error("must specify all of sck/mosi/miso")
        sck, mosi, miso = (self._pins.gpio_of(p[name]) for name in ("sck", "mosi", "miso"))
        top = self._sys_hz() // 200 if self.rules.port == "esp32" else None
        ctl = SpiController(self.rules, None, p["baudrate"], p["polarity"], p["phase"], 8, self.rules.msb,
                            sck, mosi, miso, soft_max_baudrate=top)
        self._claim(ctl)
        handle = _SOFT_BASE + self._soft_count
        self._soft_count += 1
        self._controllers[handle] = ctl
        return handle

    def _clock_of(self, baudrate: int) -> int:
        if self.rules.port == "esp32":
            return esp32_spi_clock(baudrate)
        return rp2_spi_clock(baudrate, self._sys_hz())

    def op_softspi_init(self, args: Sequence[Any], kwargs: dict[str, Any]) -> int:
        """``SoftSPI(baudrate=500000, *, polarity, phase, bits, firstbit, sck, mosi, miso)``."""
        return self._soft(parse_args(_format_args(500_000, self.rules.msb, NOT_GIVEN), args, kwargs))

    def op_spi_init(self, args: Sequence[Any], kwargs: dict[str, Any]) -> list[Any]:
        """``SPI(id, ...)``: returns ``[handle, is_soft, warning]`` (esp32's ``SPI(-1, ...)`` is a SoftSPI)."""
        rules = self.rules
        if rules.port == "esp32" and (not args or args[0] == -1):
            p = parse_args(_format_args(500_000, rules.msb, NOT_GIVEN), args[1:], kwargs)
            return [self._soft(p), True, _LEGACY_WARNING]
        pin_default = NOT_GIVEN if rules.port == "esp32" else None
        table = (Arg("id", is_int=False, required=True),
                 *_format_args(rules.default_baudrate, rules.msb, pin_default))
        p = parse_args(table, args, kwargs)
        hw_id = mp_get_int(p["id"])
        if hw_id not in rules.ids:
            raise MicroPythonError.value_error(f"SPI({hw_id}) doesn't exist")
        old = self._controllers.get(hw_id)
        pins = list(old.pins if old else rules.default_pins[hw_id])
        for i, (name, remainder) in enumerate((("sck", 2), ("mosi", 3), ("miso", 0))):
            value = p[name]
            if rules.port == "esp32":
                if value is not NOT_GIVEN:
                    pins[i] = -1 if value is None else self._pins.gpio_of(value)
            elif value is not None:
                pin = self._pins.gpio_of(value)
                if pin & 3 != remainder or (pin & 8) >> 3 != hw_id:
                    raise MicroPythonError.value_error(f"bad {name.upper()} pin")
                pins[i] = pin
        if rules.port == "rp2" and not (p.n_pos > 1 or p.n_kw > 0 or old is None):
            return [hw_id, False, None]
        if rules.port == "rp2" and p["firstbit"] == rules.lsb:
            raise MicroPythonError("NotImplementedError", "LSB")
        ctl = SpiController(rules, hw_id, self._clock_of(p["baudrate"]), p["polarity"], p["phase"], p["bits"],
                            p["firstbit"], pins[0], pins[1], pins[2])
        self._claim(ctl)
        self._controllers[hw_id] = ctl
        return [hw_id, False, None]

    def op_spi_reinit(self, handle: object, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        """``spi.init(...)``: rp2 takes keywords only and keeps its pins; the others may move pins."""
        ctl = self.controller(handle)
        if ctl.hw_id is None:
            table: tuple[Arg, ...] = (Arg("baudrate", default=-1), Arg("polarity", default=-1),
                                      Arg("phase", default=-1), *_pin_args(NOT_GIVEN))
        elif self.rules.port == "rp2":
            table = tuple(Arg(n, kw_only=True, default=-1)
                          for n in ("baudrate", "polarity", "phase", "bits", "firstbit"))
        else:
            table = (Arg("id", default=-1), Arg("baudrate", default=-1),
                     *(Arg(n, kw_only=True, default=-1) for n in ("polarity", "phase", "bits", "firstbit")),
                     *_pin_args(NOT_GIVEN))
        p = parse_args(table, args, kwargs)
        if "firstbit" in p.given and self.rules.port == "rp2" and p["firstbit"] == self.rules.lsb:
            raise MicroPythonError("NotImplementedError", "LSB")
        for name in ("polarity", "phase", "bits", "firstbit"):
            if name in p.values and p[name] != -1:
                setattr(ctl, name, p[name])
        if p["baudrate"] != -1:
            ctl.baudrate = p["baudrate"] if ctl.hw_id is None else self._clock_of(p["baudrate"])
        for name in ("sck", "mosi", "miso"):
            value = p.values.get(name, NOT_GIVEN)
            if value is not NOT_GIVEN:
                setattr(ctl, name, -1 if value is None else self._pins.gpio_of(value))
        ctl.active = True
        self._claim(ctl)

    def op_spi_deinit(self, handle: object) -> None:
        """``spi.deinit()``: esp32 frees the host (a later transfer fails); rp2 and SoftSPI do nothing."""
        ctl = self.controller(handle)
        if ctl.hw_id is not None and self.rules.port == "esp32":
            ctl.active = False

    def op_spi_repr(self, handle: object) -> str:
        """``repr(spi)``."""
        return self.controller(handle).repr()

    def op_spi_transfer(self, handle: object, data: object, want_read: object = True) -> str | None:
        """``write``/``read``/``readinto``/``write_readinto``: MOSI bytes in, MISO bytes out (hex, or null)."""
        ctl = self.controller(handle)
        mosi = from_hex(data)
        if not ctl.active:
            raise MicroPythonError("OSError", "transfer on deinitialized SPI")
        if ctl.hw_id is not None and self.rules.port == "esp32" and ctl.bits != 8 and mosi:
            if len(mosi) * 8 < ctl.bits:
                raise MicroPythonError.value_error("buffer too short")
        devices = self._devices.get(ctl.pins, ())
        miso = ctl.transfer(mosi, devices, self._selected, self._clock.now())
        return miso.hex() if want_read else None

    def _selected(self, device: SpiDevice) -> bool:
        return self._pins.level(self._pins.gpio_of(device.cs_pin)) == 0
