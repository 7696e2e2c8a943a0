"""The host-side model of one simulated board, behind the hardware bus.

:class:`BoardModel` owns the pin, ADC, PWM/servo and WiFi models, validates
every operation the firmware's ``machine``/``network`` shims forward against
the board's :class:`~labtwin.twin.board.profiles.BoardProfile`, and raises what the real
MicroPython rp2 port (Pico W build) raises, as :class:`MicroPythonError`. Its buses (:attr:`i2c`,
:attr:`spi`, :attr:`uart`: the firmware's operations and the parts wired to its pins) follow the
profile's port; their operations are found by :meth:`dispatch` like the board's own.

It also watches for hazards: firmware driving a pin that belongs to the
wireless chip works on the real board (so it works here) but breaks WiFi;
each occurrence is recorded as a :class:`Hazard`, logged loudly and passed to
``on_hazard``. Tests and scenarios read state through the read-only helpers
(:attr:`led`, :meth:`pin_level`, :meth:`servo_angle`, :meth:`adc_signal`) and
:attr:`trace`.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from labtwin.errors import ConfigError
from labtwin.twin.board.board_bitstream import BoardBitstream
from labtwin.twin.board.board_i2c import BoardI2C
from labtwin.twin.board.board_irq import BoardIrq
from labtwin.twin.board.board_onewire import BoardOneWire
from labtwin.twin.board.board_spi import BoardSPI
from labtwin.twin.board.board_timekeeping import BoardTimekeeping
from labtwin.twin.board.board_uart import BoardUART
from labtwin.twin.board.bus_pins import BusPins
from labtwin.twin.board.gpio_wiring import GpioWiring
from labtwin.twin.board.profiles import BoardProfile, PinId
from labtwin.twin.board.timed_lines import TimedLines
from labtwin.twin.clock import Clock, WallClock
from labtwin.twin.models.adc import AdcModel
from labtwin.twin.models.gpio import FUNC_NULL, FUNC_PWM, FUNC_SIO, GpioModel
from labtwin.twin.models.mp import MicroPythonError, mp_get_int
from labtwin.twin.models.pwm import PwmModel, ServoModel
from labtwin.twin.models.rp2_clock import sys_clock_possible
from labtwin.twin.models.trace import Trace
from labtwin.twin.models.wifi import WifiModel
from labtwin.twin.parts.gpio_part import GpioPart
from labtwin.twin.parts.i2c import I2CBus, I2CTarget
from labtwin.twin.parts.onewire import OneWireBus, OneWireDevice
from labtwin.twin.parts.serial_link import UartDevice
from labtwin.twin.parts.spi import SpiDevice
from labtwin.twin.parts.ws2812 import Ws2812Chain

__all__ = ["PWRON_RESET", "WDT_RESET", "BoardModel", "Hazard", "MicroPythonError"]

log = logging.getLogger("labtwin.twin")

_Part = TypeVar("_Part")

ESP32_ATTEN_GAIN = {0: 1.0, 1: 10 ** (2.5 / 20), 2: 10 ** (6 / 20), 3: 10 ** (11 / 20)}
"""ESP32 ADC attenuation (ADC.ATTN_0DB, _2_5DB, _6DB, _11DB) -> full-scale factor on the 1.1 V reference
(Espressif's nominal figures: 1.1, 1.5, 2.2 and 3.9 V)."""

PWRON_RESET = 1  # rp2 machine.PWRON_RESET
WDT_RESET = 3  # rp2 machine.WDT_RESET: what machine.reset() (a watchdog reboot) leaves behind


@dataclass(frozen=True)
class Hazard:
    """Firmware did something that works on the bench but harms the board's function."""

    time: float
    pin: PinId
    pin_name: str
    message: str


class BoardModel:
    """Peripherals of one simulated board, validated against its profile.

    Args:
        profile: the board type.
        seed: seeds ADC noise and the board's identity (unique id, MAC, IP).
        clock: lab clock (a :class:`WallClock` if omitted).
        wifi_ssid: SSID of the lab network the board can join.
        wifi_password: its password.
        board_id: distinguishes boards sharing a seed (device id).
        on_hazard: called with each new :class:`Hazard`.
        on_reset: called with ``"hard"`` or ``"soft"`` when firmware resets the board, ``"watchdog"``
            when its watchdog bites (the VM must be stopped: it does not exit by itself).
        association_delay: seconds a WiFi join takes.
        trace_maxlen: samples kept per traced signal.
    """

    def __init__(self, profile: BoardProfile, *, seed: int, clock: Clock | None = None,
                 wifi_ssid: str = "labtwin", wifi_password: str = "labtwin-wifi",
                 board_id: str = "", on_hazard: Callable[[Hazard], None] | None = None,
                 on_reset: Callable[[str], None] | None = None, association_delay: float = 0.3,
                 trace_maxlen: int = 10_000) -> None:
        self.profile = profile
        self.board_id = board_id
        self.clock: Clock = clock or WallClock()
        self.on_hazard = on_hazard
        self.on_reset = on_reset
        self.trace = Trace(trace_maxlen)
        digest = hashlib.sha256(f"labtwin:{seed}:{board_id}".encode()).digest()
        self.unique_id = digest[:8]
        self.gpio = GpioModel(self.clock, cpu_pins=profile.cpu_gpio_count, ext_pins=profile.ext_pins,
                              ext_inputs={"EXT_GPIO1": 1} if profile.has_wifi else None,  # VBUS sense
                              trace=self.trace)
        self.adc = AdcModel(self.clock, seed=seed, channels=profile.adc_channel_count,
                            temp_channel=profile.temp_channel, vref=profile.adc_vref, trace=self.trace)
        if profile.vsys_channel is not None:
            self.adc.set_voltage(profile.vsys_channel, 4.75 / profile.vsys_divider)  # USB-powered VSYS
        self.pwm = PwmModel(self.clock, sys_hz=profile.cpu_freq_hz, slices=profile.pwm_slices,
                            trace=self.trace)
        self.wifi: WifiModel | None = None
        if profile.has_wifi:
            self.wifi = WifiModel(self.clock, ssid=wifi_ssid, password=wifi_password,
                                  mac=profile.mac_oui + digest[8:11], ip=f"192.168.1.{20 + digest[11] % 200}",
                                  hostname=profile.hostname_default, association_delay=association_delay,
                                  trace=self.trace)
        self.servos: dict[int, ServoModel] = {}
        self.parts: list[object] = []
        """Every part wired through an ``attach_*`` method, in wiring order."""
        pins = BusPins(profile, self.gpio, self.resolve_pin, self._hazard)
        self.i2c = BoardI2C(pins, self.clock, lambda: self.cpu_freq)
        self.spi = BoardSPI(pins, self.clock, lambda: self.cpu_freq)
        self.uart = BoardUART(pins, self.clock)
        lines = TimedLines(self.clock)  # bit-banged pins: 1-Wire slots, bitstreams
        self.onewire = BoardOneWire(pins, lines)
        self.bitstream = BoardBitstream(pins, lines)
        # GPIO parts and pin edges (Pin.irq, time_pulse_us); watchdog and RTC (docs/hardware-bus.md)
        self.wiring = GpioWiring(self.gpio, self.clock, self.resolve_pin)
        self.irq = BoardIrq(self.wiring, self.clock, profile.port, self.resolve_pin)
        self.timekeeping = BoardTimekeeping(self.clock, profile.port, on_expired=self._watchdog_expired,
                                            board_id=board_id)
        self._hazards: list[Hazard] = []
        self.cpu_freq = profile.cpu_freq_hz
        self.reset_cause = PWRON_RESET
        self.powered = False
        self.boot_count = 0
        self.reset_requested: str | None = None
        # op name -> (method, fewest args, most args); arity is checked before calling so a
        # TypeError raised inside a model is never mistaken for a bad request.
        self._ops: dict[str, tuple[Callable[..., Any], int, int]] = {}
        for owner in (self, self.i2c, self.spi, self.uart, self.onewire, self.bitstream, self.irq,
                      self.timekeeping):
            for name in dir(owner):
                if name.startswith("op_"):
                    method = getattr(owner, name)
                    params = inspect.signature(method).parameters.values()
                    required = sum(1 for p in params if p.default is inspect.Parameter.empty)
                    self._ops[name[3:]] = (method, required, len(params))

    # ----------------------------------------------------------------- lifecycle
    def power_on(self, *, cause: int = PWRON_RESET) -> None:
        """A boot: peripherals back to reset state, ``machine.reset_cause()`` = ``cause``."""
        self._reset_peripherals()
        self.reset_cause = cause
        self.powered = True
        self.boot_count += 1
        self.reset_requested = None

    def power_off(self) -> None:
        """Power removed: outputs, PWM and WiFi go dead."""
        self._reset_peripherals()
        self.powered = False

    def _reset_peripherals(self) -> None:
        self.gpio.reset()
        self.pwm.reset()
        self.cpu_freq = self.pwm.sys_hz = self.profile.cpu_freq_hz
        if self.wifi is not None:
            self.wifi.reset()
        for bus in (self.i2c, self.spi, self.uart):
            bus.reset()
        self.irq.reset()
        self.timekeeping.reset(self.reset_requested)

    def _watchdog_expired(self) -> None:
        # The watchdog bit: a hard reset (WDT_RESET), the VM stopped at once by the board runner.
        self.reset_requested = "hard"
        if self.on_reset is not None:
            self.on_reset("watchdog")

    # ----------------------------------------------------------------- dispatch
    def dispatch(self, op: str, args: Sequence[Any]) -> Any:
        """Run one hardware-bus operation; see docs/hardware-bus.md for the op list.

        An operation that blocks on the board (a UART read with a timeout, a stuck I2C bus)
        returns an awaitable; the hardware bus awaits it before it replies.

        Raises:
            MicroPythonError: whatever the firmware should see raised.
        """
        entry = self._ops.get(op)
        if entry is None:
            raise MicroPythonError("NotImplementedError", f"labtwin: unknown hardware bus op {op!r}")
        method, fewest, most = entry
        if not fewest <= len(args) <= most:
            raise MicroPythonError("TypeError", f"labtwin: bad arguments for hardware bus op {op!r}")
        self.wiring.sync()  # GPIO parts' levels up to now before the op reads a pin...
        value = method(*args)
        self.wiring.sync()  # ...and its pin changes to the parts and the pin IRQs
        return value

    @property
    def ops(self) -> list[str]:
        """Names of all hardware-bus operations."""
        return sorted(self._ops)

    # ----------------------------------------------------------------- pins
    def resolve_pin(self, source: object) -> PinId:
        """Find a pin like the rp2 port's ``machine_pin_find``: GPIO number or name.

        Raises:
            MicroPythonError: ``ValueError('unknown named pin "X"')`` or ``ValueError("invalid pin")``.
        """
        if isinstance(source, str):
            pin = self.profile.board_pins.get(source)
            if pin is None:
                pin = self.profile.cpu_pin_names.get(source)
            if pin is None:
                raise MicroPythonError.value_error(f'unknown named pin "{source}"')
            return pin
        if type(source) is int and 0 <= source < self.profile.cpu_gpio_count:
            return source
        raise MicroPythonError.value_error("invalid pin")

    def _hazard(self, pin: PinId, action: str) -> None:
        if not isinstance(pin, int) or pin not in self.profile.wireless_pins:
            return
        name = f"GPIO{pin} ({self.profile.wireless_pins[pin]})"
        hazard = Hazard(self.clock.now(), pin, name, f"firmware {action} {name}: {self.profile.wireless_hazard}")
        self._hazards.append(hazard)
        log.warning("HAZARD %s", hazard.message)
        if self.on_hazard is not None:
            self.on_hazard(hazard)

    def op_pin_init(self, source: object, configure: bool, mode: object = None, pull: object = None,
                    value: object = None, alt: object = FUNC_SIO) -> PinId:
        """``Pin(id, ...)``: find the pin, configure it if any argument was given."""
        pin = self.resolve_pin(source)
        if configure:
            mode_i = None if mode is None else mp_get_int(mode)
            pull_i = None if pull is None else mp_get_int(pull)
            value_i = None if value is None else int(bool(value))
            self.gpio.configure(pin, mode_i, pull_i, value_i, mp_get_int(alt))
            if mode_i is not None or value_i is not None:
                self._hazard(pin, f"configured (mode={mode_i}, value={value_i})")
            self._update_servos()
            self.spi.pins_changed()
        return pin

    def op_pin_value(self, source: object, value: object = None) -> int | None:
        """``pin.value([v])``, ``pin.on()``, ``pin.off()``."""
        pin = self.resolve_pin(source)
        if value is None:
            return self.gpio.read(pin)
        self.gpio.write(pin, int(bool(value)))
        self._hazard(pin, f"wrote {int(bool(value))} to")
        self.spi.pins_changed()
        return None

    def op_pin_toggle(self, source: object) -> None:
        """``pin.toggle()``."""
        pin = self.resolve_pin(source)
        self.gpio.toggle(pin)
        self._hazard(pin, "toggled")
        self.spi.pins_changed()

    def op_pin_repr(self, source: object) -> str:
        """``repr(pin)``."""
        return self.gpio.repr(self.resolve_pin(source))

    # ----------------------------------------------------------------- ADC
    def op_adc_init(self, source: object, is_pin: bool = False) -> int:
        """``ADC(id)``: an int 0-4 is a channel; otherwise a pin that must have an ADC."""
        temp = self.profile.temp_channel
        if not is_pin and type(source) is int and 0 <= source <= temp:
            return source
        pin = self.resolve_pin(source)
        channels = self.profile.adc_gpio_channels
        if not isinstance(pin, int) or pin not in channels:
            raise MicroPythonError.value_error("Pin doesn't have ADC capabilities")
        self._hazard(pin, "switched to analog input")
        self.gpio.set_function(pin, FUNC_NULL, analog=True)
        return channels[pin]

    def op_adc_read_u16(self, channel: object) -> int:
        """``adc.read_u16()`` on a channel ``adc_init`` returned."""
        ch = mp_get_int(channel)
        if not 0 <= ch < self.adc.channels:
            raise MicroPythonError.value_error("invalid channel")
        return self.adc.read_u16(ch)

    def _esp32_channel(self, channel: object, method: str) -> int:
        if self.profile.port != "esp32":  # the rp2 shim has no such method: only a raw bus request gets here
            raise MicroPythonError("AttributeError", f"'ADC' object has no attribute '{method}'")
        ch = mp_get_int(channel)
        if not 0 <= ch < self.adc.channels:
            raise MicroPythonError.value_error("invalid channel")
        return ch

    def op_adc_atten(self, channel: object, atten: object) -> None:
        """ESP32 ``ADC.atten(ATTN_*)``: the channel's full scale (0, 2.5, 6, 11 dB of the 1.1 V reference)."""
        ch = self._esp32_channel(channel, "atten")
        level = mp_get_int(atten)
        if level not in ESP32_ATTEN_GAIN:
            raise MicroPythonError.value_error("invalid attenuation")
        self.adc.set_full_scale(ch, self.profile.adc_vref * ESP32_ATTEN_GAIN[level])

    def op_adc_read_uv(self, channel: object) -> int:
        """ESP32 ``ADC.read_uv()``: the reading in microvolts (the code's voltage at the channel's full scale)."""
        ch = self._esp32_channel(channel, "read_uv")
        return int(self.adc.read_raw(ch) * self.adc.full_scale(ch) / 4096 * 1_000_000)

    def op_adc_read_raw(self, channel: object) -> int:
        """ESP32 ``ADC.read()``: the 12-bit code (the shim scales it to ``width``)."""
        return self.adc.read_raw(self._esp32_channel(channel, "read"))

    # ----------------------------------------------------------------- PWM
    def _pwm_gpio(self, source: object) -> int:
        pin = self.resolve_pin(source)
        if not isinstance(pin, int):
            raise MicroPythonError.value_error("expecting a regular GPIO Pin")
        return pin

    @staticmethod
    def _opt_int(value: object) -> int | None:
        return None if value is None else mp_get_int(value)

    def op_pwm_init(self, source: object, freq: object = None, duty_u16: object = None,
                    duty_ns: object = None, invert: object = None) -> list[int]:
        """``PWM(pin, freq=, duty_u16=, duty_ns=, invert=)``; returns ``[slice, channel, gpio]``."""
        gpio = self._pwm_gpio(source)
        sl, ch = self.pwm.attach(gpio, freq=self._opt_int(freq), duty_u16=self._opt_int(duty_u16),
                                 duty_ns=self._opt_int(duty_ns), invert=self._opt_int(invert))
        self._hazard(gpio, "started PWM on")
        self.gpio.set_function(gpio, FUNC_PWM)
        self._update_servos()
        return [sl, ch, gpio]

    def op_pwm_reinit(self, gpio: int, freq: object = None, duty_u16: object = None,
                      duty_ns: object = None, invert: object = None) -> None:
        """``pwm.init(...)``."""
        self.pwm.init(self._pwm_gpio(gpio), freq=self._opt_int(freq), duty_u16=self._opt_int(duty_u16),
                      duty_ns=self._opt_int(duty_ns), invert=self._opt_int(invert))
        self._update_servos()

    def op_pwm_freq(self, gpio: int, value: object = None) -> int | None:
        """``pwm.freq([f])``."""
        g = self._pwm_gpio(gpio)
        if value is None:
            return self.pwm.get_freq(g)
        self.pwm.set_freq(g, mp_get_int(value))
        self._update_servos()
        return None

    def op_pwm_duty_u16(self, gpio: int, value: object = None) -> int | None:
        """``pwm.duty_u16([d])``."""
        g = self._pwm_gpio(gpio)
        if value is None:
            return self.pwm.get_duty_u16(g)
        self.pwm.set_duty_u16(g, mp_get_int(value))
        self._update_servos()
        return None

    def op_pwm_duty_ns(self, gpio: int, value: object = None) -> int | None:
        """``pwm.duty_ns([ns])``."""
        g = self._pwm_gpio(gpio)
        if value is None:
            return self.pwm.get_duty_ns(g)
        self.pwm.set_duty_ns(g, mp_get_int(value))
        self._update_servos()
        return None

    def op_pwm_deinit(self, gpio: int) -> None:
        """``pwm.deinit()``."""
        self.pwm.deinit(self._pwm_gpio(gpio))
        self._update_servos()

    def attach_servo(self, pin: int | str, **kwargs: Any) -> ServoModel:
        """Wire a :class:`ServoModel` to a header pin; kwargs go to its constructor."""
        gpio = self._pwm_gpio(pin)
        servo = ServoModel(self.clock, name=f"GPIO{gpio}", trace=self.trace, **kwargs)
        self.servos[gpio] = servo
        self._update_servos()
        return servo

    def _update_servos(self) -> None:
        # A servo only sees pulses while its pin is muxed to a running PWM channel;
        # otherwise it holds its last position.
        for gpio, servo in self.servos.items():
            out = self.pwm.output(gpio)
            if out.enabled and self.gpio.state(gpio).funcsel == FUNC_PWM and out.freq_hz > 0:
                servo.command_pulse(out.pulse_s)

    # ----------------------------------------------------------------- machine
    def op_hello_info(self) -> dict[str, Any]:
        """What the shims learn at connect time."""
        return {"board": self.profile.name, "machine": self.profile.machine, "wifi": self.profile.has_wifi,
                "port": self.profile.port}

    def op_unique_id(self) -> str:
        """``machine.unique_id()`` as hex (the shim turns it into bytes)."""
        return self.unique_id.hex()

    def op_freq(self, value: object = None) -> int | None:
        """``machine.freq([hz])``."""
        if value is None:
            return self.cpu_freq
        hz = mp_get_int(value)
        if hz <= 0 or not sys_clock_possible(hz):
            raise MicroPythonError.value_error("cannot change frequency")
        self.cpu_freq = self.pwm.sys_hz = hz
        return None

    def op_reset_cause(self) -> int:
        """``machine.reset_cause()``."""
        return self.reset_cause

    def op_reset(self, kind: str = "hard") -> None:
        """``machine.reset()`` / ``soft_reset()``: the VM exits right after this."""
        self.reset_requested = "soft" if kind == "soft" else "hard"
        if self.on_reset is not None:
            self.on_reset(self.reset_requested)

    # ----------------------------------------------------------------- network
    def _wifi(self) -> WifiModel:
        if self.wifi is None:
            raise MicroPythonError("OSError", "labtwin: this board has no WiFi")
        return self.wifi

    def op_wlan_active(self, itf: int, value: object = None) -> bool | None:
        """``wlan.active([bool])``."""
        return self._wifi().active(itf, None if value is None else bool(value))

    def op_wlan_connect(self, itf: int, ssid: object, key: object = None) -> None:
        """``wlan.connect(ssid, key)``."""
        if not isinstance(ssid, str) or (key is not None and not isinstance(key, str)):
            raise MicroPythonError("TypeError", "object with buffer protocol required")
        self._wifi().connect(ssid, key)

    def op_wlan_disconnect(self, itf: int) -> None:
        """``wlan.disconnect()``."""
        self._wifi().disconnect()

    def op_wlan_isconnected(self, itf: int) -> bool:
        """``wlan.isconnected()``."""
        return self._wifi().isconnected(itf)

    def op_wlan_status(self, itf: int, param: object = None) -> Any:
        """``wlan.status([param])``."""
        return self._wifi().status(itf) if param is None else self._wifi().status_param(itf, param)

    def op_wlan_ifconfig(self, itf: int, config: object = None) -> list[str] | None:
        """``wlan.ifconfig([(ip, mask, gw, dns)])``."""
        if config is None:
            return list(self._wifi().ifconfig(itf))
        self._wifi().set_ifconfig(itf, config)
        return None

    def op_wlan_config(self, itf: int, param: object = None, settings: object = None) -> Any:
        """``wlan.config('param')`` (``mac`` comes back as hex) or ``wlan.config(k=v)``."""
        value = self._wifi().config(itf, param, settings)
        return value.hex() if isinstance(value, bytes) else value

    def op_hostname(self, value: object = None) -> str | None:
        """``network.hostname([name])``."""
        if value is None:
            return self._wifi().hostname
        self._wifi().set_hostname(value)
        return None

    # ----------------------------------------------------------------- bus wiring
    def i2c_bus(self, *, sda: int | str, scl: int | str) -> I2CBus:
        """The I2C bus on these SDA/SCL pins, created empty on first use (SoftI2C or hardware alike)."""
        return self.i2c.bus(sda=sda, scl=scl)

    def attach_i2c(self, target: I2CTarget, *, sda: int | str, scl: int | str) -> I2CTarget:
        """Wire an I2C target to the bus on these pins."""
        return self._wired(self.i2c.attach(target, sda=sda, scl=scl))

    def attach_spi(self, device: SpiDevice, *, sck: int | str, mosi: int | str, miso: int | str) -> SpiDevice:
        """Wire an SPI device to the bus on these pins; its ``cs_pin`` selects it."""
        return self._wired(self.spi.attach(device, sck=sck, mosi=mosi, miso=miso))

    def attach_uart(self, device: UartDevice, *, tx: int | str, rx: int | str) -> UartDevice:
        """Wire a serial device to the board's ``tx`` and ``rx`` pins."""
        return self._wired(self.uart.attach(device, tx=tx, rx=rx))

    def attach_gpio_part(self, part: GpioPart) -> GpioPart:
        """Wire a GPIO part (a button, an HX711, a stepper driver) to the pins it names (gpio_wiring.py)."""
        return self._wired(self.wiring.attach(part))

    def onewire_bus(self, *, pin: int | str) -> OneWireBus:
        """The 1-Wire bus on ``pin``, created empty on first use."""
        return self.onewire.bus(pin=pin)

    def attach_onewire(self, device: OneWireDevice, *, pin: int | str) -> OneWireDevice:
        """Wire a 1-Wire device (a DS18B20) to the bus on ``pin``."""
        return self._wired(self.onewire.attach(device, pin=pin))

    def attach_ws2812(self, chain: Ws2812Chain) -> Ws2812Chain:
        """Wire a WS2812 chain's data input to its ``pin``: ``machine.bitstream`` there reaches it."""
        self.bitstream.attach(chain, pin=chain.pin)
        return self._wired(chain)

    def _wired(self, part: _Part) -> _Part:
        self.parts.append(part)
        return part

    def part(self, kind: type[_Part]) -> _Part:
        """The one wired part of type ``kind`` (e.g. ``model.part(Cooler)``).

        Raises:
            ConfigError: none, or more than one, is wired.
        """
        found = [part for part in self.parts if isinstance(part, kind)]
        if len(found) != 1:
            raise ConfigError(f"board {self.board_id or self.profile.name}: {len(found)} {kind.__name__} "
                              "part(s) wired, expected one")
        return found[0]

    # ----------------------------------------------------------------- read-only state
    @property
    def hazards(self) -> tuple[Hazard, ...]:
        """Every hazard recorded so far, oldest first."""
        return tuple(self._hazards)

    @property
    def led(self) -> bool:
        """Whether the onboard LED is lit."""
        led = self.profile.board_pins.get("LED")
        return led is not None and bool(self.gpio.level(led))

    def pin_level(self, pin: int | str) -> int:
        """Electrical level (0/1) of a pin given by number or any valid name."""
        return self.gpio.level(self.resolve_pin(pin))

    def pin_mode(self, pin: int | str) -> str:
        """``"IN"``, ``"OUT"``, ``"OPEN_DRAIN"`` or ``"ALT"`` for a pin."""
        return self.gpio.state(self.resolve_pin(pin)).mode

    def set_input(self, pin: int | str, level: int | None) -> None:
        """Drive a pin from outside the board (a button, a sensor); ``None`` releases it."""
        self.gpio.set_external(self.resolve_pin(pin), level)
        self.spi.pins_changed()
        self.wiring.sync()  # an edge on a pin with an IRQ

    def servo_angle(self, pin: int | str, t: float | None = None) -> float:
        """Angle of the servo wired to ``pin`` at lab time ``t`` (default now)."""
        return self.servos[self._pwm_gpio(pin)].angle_at(t)

    def adc_signal(self, channel: int) -> float:
        """Noise-free voltage at an ADC channel now."""
        return self.adc.signal(channel)
