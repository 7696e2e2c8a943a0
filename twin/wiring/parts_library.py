"""The parts library as a lab file names it: ``[[boards.parts]]`` entries, checked, then wired to a board.

Each part type is a model of its keys (``type = "bme280"``, its pins or bus, its address, its
quantities) whose :meth:`attach` builds the part model from ``labtwin.twin.parts`` and wires it to a
:class:`~labtwin.twin.board.model.BoardModel`. :data:`PartSpec` is the union a lab file's parts are
checked against; :data:`PART_TYPES` lists them (docs/lab-files.md has a table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from labtwin.errors import ConfigError
from labtwin.twin.models.i2c_port import I2C_PORTS
from labtwin.twin.models.pwm import ServoModel
from labtwin.twin.parts.aht20 import Aht20
from labtwin.twin.parts.balance import Balance
from labtwin.twin.parts.bme280 import Bme280
from labtwin.twin.parts.bmp581 import Bmp581
from labtwin.twin.parts.button import Button
from labtwin.twin.parts.ds18b20 import Ds18b20
from labtwin.twin.parts.hx711 import Hx711
from labtwin.twin.parts.ina228 import Ina228
from labtwin.twin.parts.pca9685 import Pca9685
from labtwin.twin.parts.pump import Pump, Vessel
from labtwin.twin.parts.quantity import Quantity
from labtwin.twin.parts.sht4x import Sht4x
from labtwin.twin.parts.ssd1306 import Ssd1306
from labtwin.twin.parts.stepper import StepperDriver
from labtwin.twin.parts.switched_load import SwitchedLoad
from labtwin.twin.parts.thermal import Cooler, Heater, ThermalMass
from labtwin.twin.parts.ws2812 import Ws2812Chain
from labtwin.twin.wiring.quantities import QuantityContext, QuantitySpec, build_quantity

if TYPE_CHECKING:
    from labtwin.twin.board.model import BoardModel
    from labtwin.twin.board.profiles import BoardProfile

__all__ = ["PART_TYPES", "PIN_KEYS", "PartContext", "PartSpec", "PinClaim", "check_pins"]

Pin = Annotated[int, Field(ge=0, le=48, description="GPIO number")]


@dataclass
class PartContext:
    """What wiring one part needs: its quantities' context (shared quantities, seed) and its key path."""

    quantities: QuantityContext
    where: str

    def quantity(self, spec: QuantitySpec, key: str) -> Quantity:
        """The part's quantity ``key``."""
        return build_quantity(spec, self.quantities, f"{self.where}.{key}")

    def shared(self, name: str, kind: type[ThermalMass] | type[Vessel], key: str) -> ThermalMass | Vessel:
        """The shared quantity ``name``, which must be a ``kind``."""
        found = self.quantities.shared.get(name)
        if not isinstance(found, kind):
            wanted = "thermal" if kind is ThermalMass else "vessel"
            known = ", ".join(sorted(n for n, q in self.quantities.shared.items() if isinstance(q, kind))) or "none"
            raise ConfigError(f"{self.where}.{key}: no {wanted} [[quantities]] entry named {name!r} ({known})")
        return found


class I2cPins(BaseModel):
    """Where an I2C part is wired: the bus is identified by its pins."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    bus: int | None = Field(None, ge=0, le=1, description="the hardware I2C id the firmware uses: checked against "
                                                         "the pins that id may use on the board")
    sda: Pin
    scl: Pin

    @model_validator(mode="after")
    def _two_pins(self) -> I2cPins:
        if self.sda == self.scl:
            raise ValueError(f"sda and scl are both GP{self.sda}; an I2C bus needs two pins")
        return self


PIN_KEYS = ("pin", "dout", "sck", "step", "dir", "enable", "tx", "rx")
"""The keys of a part entry that name a board pin it takes for itself."""


@dataclass(frozen=True)
class PinClaim:
    """A board pin a part entry uses: its key, and the bus it shares with other parts (None: its own)."""

    key: str
    pin: int
    bus: str | None = None


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    name: str | None = Field(None, description="label in traces and reports (default: its address or pin)")

    def attach(self, model: BoardModel, context: PartContext) -> object:
        """Build the part and wire it to ``model``; returns the part."""
        raise NotImplementedError

    def pin_claims(self) -> list[PinClaim]:
        """The board pins this part uses: its own, or a bus's it shares (I2C by its pins, 1-Wire by its pin)."""
        claims = []
        i2c = getattr(self, "i2c", None)
        if isinstance(i2c, I2cPins):
            bus = f"the I2C bus on GP{i2c.sda}/GP{i2c.scl}"
            claims += [PinClaim("i2c.sda", i2c.sda, bus), PinClaim("i2c.scl", i2c.scl, bus)]
        for key in PIN_KEYS:
            pin = getattr(self, key, None)
            if isinstance(pin, int):
                shared = f"the 1-Wire bus on GP{pin}" if self.shares_pin else None
                claims.append(PinClaim(key, pin, shared))
        return claims

    @property
    def shares_pin(self) -> bool:
        """Whether parts of this kind share their ``pin`` as a bus (1-Wire)."""
        return False


class _I2cPart(_Part):
    i2c: I2cPins
    noise: float = Field(1.0, ge=0, description="the datasheet's noise times this (0: none)")


class Bme280Part(_I2cPart):
    """Bosch BME280: temperature, humidity, pressure (I2C 0x76/0x77)."""

    type: Literal["bme280"]
    address: Literal[0x76, 0x77] = 0x76
    temperature_c: QuantitySpec = 22.0
    humidity_pct: QuantitySpec = 45.0
    pressure_hpa: QuantitySpec = 1013.25

    def attach(self, model: BoardModel, context: PartContext) -> object:
        hpa = context.quantity(self.pressure_hpa, "pressure_hpa")
        return model.attach_i2c(Bme280(self.address, temperature=context.quantity(self.temperature_c, "temperature_c"),
                                       humidity=context.quantity(self.humidity_pct, "humidity_pct"),
                                       pressure=lambda t: hpa.value(t) * 100.0, seed=context.quantities.seed,
                                       noise=self.noise, trace=model.trace, name=self.name),
                                sda=self.i2c.sda, scl=self.i2c.scl)


class Sht4xPart(_I2cPart):
    """Sensirion SHT4x: temperature and humidity (I2C 0x44-0x46)."""

    type: Literal["sht4x"]
    address: Literal[0x44, 0x45, 0x46] = 0x44
    temperature_c: QuantitySpec = 22.0
    humidity_pct: QuantitySpec = 45.0

    def attach(self, model: BoardModel, context: PartContext) -> object:
        return model.attach_i2c(Sht4x(self.address, temperature=context.quantity(self.temperature_c, "temperature_c"),
                                      humidity=context.quantity(self.humidity_pct, "humidity_pct"),
                                      seed=context.quantities.seed, noise=self.noise, trace=model.trace,
                                      name=self.name), sda=self.i2c.sda, scl=self.i2c.scl)


class Aht20Part(_I2cPart):
    """Aosong AHT20: temperature and humidity (I2C 0x38)."""

    type: Literal["aht20"]
    temperature_c: QuantitySpec = 22.0
    humidity_pct: QuantitySpec = 45.0

    def attach(self, model: BoardModel, context: PartContext) -> object:
        return model.attach_i2c(Aht20(temperature=context.quantity(self.temperature_c, "temperature_c"),
                                      humidity=context.quantity(self.humidity_pct, "humidity_pct"),
                                      seed=context.quantities.seed, noise=self.noise, trace=model.trace,
                                      name=self.name), sda=self.i2c.sda, scl=self.i2c.scl)


class Bmp581Part(_I2cPart):
    """Bosch BMP581: pressure and temperature (I2C 0x46/0x47)."""

    type: Literal["bmp581"]
    address: Literal[0x46, 0x47] = 0x47
    temperature_c: QuantitySpec = 22.0
    pressure_hpa: QuantitySpec = 1013.25

    def attach(self, model: BoardModel, context: PartContext) -> object:
        hpa = context.quantity(self.pressure_hpa, "pressure_hpa")
        return model.attach_i2c(Bmp581(self.address, temperature=context.quantity(self.temperature_c, "temperature_c"),
                                       pressure=lambda t: hpa.value(t) * 100.0, seed=context.quantities.seed,
                                       noise=self.noise, trace=model.trace, name=self.name),
                                sda=self.i2c.sda, scl=self.i2c.scl)


class Ina228Part(_I2cPart):
    """TI INA228: bus voltage and current through a shunt (I2C 0x40-0x4F)."""

    type: Literal["ina228"]
    address: int = Field(0x40, ge=0x40, le=0x4F)
    bus_voltage_v: QuantitySpec = 12.0
    current_a: QuantitySpec = 0.0
    shunt_ohm: float = Field(0.015, gt=0)

    def attach(self, model: BoardModel, context: PartContext) -> object:
        return model.attach_i2c(Ina228(self.address, bus_voltage=context.quantity(self.bus_voltage_v, "bus_voltage_v"),
                                       current=context.quantity(self.current_a, "current_a"),
                                       shunt_resistance=self.shunt_ohm, seed=context.quantities.seed,
                                       noise=self.noise, trace=model.trace, name=self.name),
                                sda=self.i2c.sda, scl=self.i2c.scl)


class Pca9685Part(_Part):
    """NXP PCA9685: 16 PWM channels, hobby servos on the listed ones (I2C 0x40-0x7F)."""

    type: Literal["pca9685"]
    i2c: I2cPins
    address: int = Field(0x40, ge=0x40, le=0x7F)
    servos: list[Annotated[int, Field(ge=0, le=15)]] = Field(default_factory=list,
                                                             description="channels with a servo")

    def attach(self, model: BoardModel, context: PartContext) -> object:
        chip = Pca9685(self.address, name=self.name or "pca9685", trace=model.trace)
        for channel in self.servos:
            chip.attach_servo(channel, ServoModel(model.clock, name=f"{chip.name}.ch{channel}", trace=model.trace))
        return model.attach_i2c(chip, sda=self.i2c.sda, scl=self.i2c.scl)


class Ssd1306Part(_Part):
    """Solomon SSD1306 OLED display (I2C 0x3C/0x3D)."""

    type: Literal["ssd1306"]
    i2c: I2cPins
    address: Literal[0x3C, 0x3D] = 0x3C
    width: Literal[64, 72, 96, 128] = 128
    height: Literal[16, 32, 48, 64] = 64

    def attach(self, model: BoardModel, context: PartContext) -> object:
        return model.attach_i2c(Ssd1306(self.address, width=self.width, height=self.height,
                                        name=self.name or "ssd1306", trace=model.trace),
                                sda=self.i2c.sda, scl=self.i2c.scl)


class Ds18b20Part(_Part):
    """Maxim DS18B20 temperature probe on a 1-Wire pin."""

    type: Literal["ds18b20"]
    pin: Pin
    temperature_c: QuantitySpec = 22.0
    serial: int = Field(1, ge=0, lt=1 << 48, description="the 48-bit serial number in its ROM code")

    @property
    def shares_pin(self) -> bool:
        return True

    def attach(self, model: BoardModel, context: PartContext) -> object:
        return model.attach_onewire(Ds18b20(context.quantity(self.temperature_c, "temperature_c"), serial=self.serial,
                                            name=self.name or "ds18b20", trace=model.trace), pin=self.pin)


class Hx711Part(_Part):
    """Avia HX711 load-cell ADC (bit-banged DOUT and PD_SCK)."""

    type: Literal["hx711"]
    dout: Pin
    sck: Pin
    weight_g: QuantitySpec = 0.0
    counts_per_gram: float = 420.0
    offset: int = 8_000
    noise_counts: float = Field(20.0, ge=0)
    rate_sps: Literal[10, 80] = 10

    def attach(self, model: BoardModel, context: PartContext) -> object:
        # Twin pin edges are host round trips (~0.1 ms), past the chip's 60 us power-down: left off.
        return model.attach_gpio_part(Hx711(self.sck, self.dout, weight=context.quantity(self.weight_g, "weight_g"),
                                            counts_per_gram=self.counts_per_gram, offset=self.offset,
                                            noise_counts=self.noise_counts, rate_sps=self.rate_sps,
                                            seed=context.quantities.seed, power_down_s=None,
                                            name=self.name or "hx711", trace=model.trace))


class Press(BaseModel):
    """One scripted press of a button."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    at_s: float = Field(ge=0, description="lab time of the press")
    duration_s: float = Field(0.1, gt=0)


class ButtonPart(_Part):
    """A push button or limit switch; presses scripted in lab time."""

    type: Literal["button"]
    pin: Pin
    active_low: bool = Field(True, description="to ground, read through a pull-up (pressed = 0)")
    external_pull: bool = Field(True, description="a pull resistor on the board's side; false: the released "
                                                  "contact floats unless the firmware enables Pin.PULL_UP/DOWN")
    bounce_transitions: int = Field(0, ge=0)
    presses: list[Press] = Field(default_factory=list)

    def attach(self, model: BoardModel, context: PartContext) -> object:
        button = Button(self.pin, active_low=self.active_low, external_pull=self.external_pull,
                        bounce_transitions=self.bounce_transitions,
                        seed=context.quantities.seed, name=self.name or f"GP{self.pin}", trace=model.trace)
        for press in self.presses:
            button.press(press.at_s, press.duration_s)
        return model.attach_gpio_part(button)


class PumpPart(_Part):
    """A pump on a relay or MOSFET filling a vessel ([[quantities]] type "vessel")."""

    type: Literal["pump"]
    pin: Pin
    vessel: str
    flow_ml_s: float = Field(gt=0)
    density_g_ml: float = Field(1.0, gt=0)
    active_level: Literal[0, 1] = 1

    def attach(self, model: BoardModel, context: PartContext) -> object:
        vessel = context.shared(self.vessel, Vessel, "vessel")
        assert isinstance(vessel, Vessel)
        return model.attach_gpio_part(Pump(self.pin, vessel, flow_ml_s=self.flow_ml_s, density_g_ml=self.density_g_ml,
                                           active_level=self.active_level, name=self.name or "pump",
                                           trace=model.trace))


class _ThermalPart(_Part):
    """A relay- or MOSFET-switched element moving a [[quantities]] "thermal" mass."""

    pin: Pin
    thermal: str = Field(description="the [[quantities]] thermal mass it moves")
    active_level: Literal[0, 1] = 1

    def _mass(self, context: PartContext) -> ThermalMass:
        mass = context.shared(self.thermal, ThermalMass, "thermal")
        assert isinstance(mass, ThermalMass)
        return mass


class CoolerPart(_ThermalPart):
    """A Peltier cooler or fan on a relay, cooling a [[quantities]] "thermal" mass."""

    type: Literal["cooler"]
    cooling_c_per_s: float = Field(gt=0)

    def attach(self, model: BoardModel, context: PartContext) -> object:
        return model.attach_gpio_part(Cooler(self.pin, self._mass(context), cooling_c_per_s=self.cooling_c_per_s,
                                             active_level=self.active_level, name=self.name or "cooler"))


class HeaterPart(_ThermalPart):
    """A heating element on a relay or MOSFET, heating a [[quantities]] "thermal" mass."""

    type: Literal["heater"]
    heating_c_per_s: float = Field(gt=0)

    def attach(self, model: BoardModel, context: PartContext) -> object:
        return model.attach_gpio_part(Heater(self.pin, self._mass(context), heating_c_per_s=self.heating_c_per_s,
                                             active_level=self.active_level, name=self.name or "heater"))


class StepperPart(_Part):
    """A stepper driver (A4988, DRV8825, TMC2208): STEP/DIR pulses move a shaft."""

    type: Literal["stepper"]
    step: Pin
    dir: Pin
    enable: Pin | None = None
    microsteps: int = Field(16, ge=1)
    steps_per_rev: int = Field(200, ge=1)

    def attach(self, model: BoardModel, context: PartContext) -> object:
        return model.attach_gpio_part(StepperDriver(self.step, self.dir, enable_pin=self.enable,
                                                    microsteps=self.microsteps, steps_per_rev=self.steps_per_rev,
                                                    name=self.name or "stepper", trace=model.trace))


class Ws2812Part(_Part):
    """A chain of WS2812 (NeoPixel) LEDs on one data pin."""

    type: Literal["ws2812"]
    pin: Pin
    count: int = Field(ge=1)
    bytes_per_led: Literal[3, 4] = 3

    def attach(self, model: BoardModel, context: PartContext) -> object:
        return model.attach_ws2812(Ws2812Chain(self.pin, self.count, bytes_per_led=self.bytes_per_led,
                                               name=self.name or "ws2812", trace=model.trace))


class SwitchedPart(_Part):
    """An output nothing reads back: an LED, a relay module, a buzzer (recorded when on)."""

    type: Literal["led", "relay", "buzzer"]
    pin: Pin
    active_level: Literal[0, 1] = 1

    def attach(self, model: BoardModel, context: PartContext) -> object:
        return model.attach_gpio_part(SwitchedLoad(self.pin, kind=self.type, active_level=self.active_level,
                                                   name=self.name, trace=model.trace))


class ServoPart(_Part):
    """A hobby servo on a PWM pin (0.5-2.5 ms for 0-180 degrees)."""

    type: Literal["servo"]
    pin: Pin

    def attach(self, model: BoardModel, context: PartContext) -> object:
        return model.attach_servo(self.pin)


def _adc_channel(model: BoardModel, pin: int, where: str) -> int:
    profile = model.profile
    usable = {p: c for p, c in profile.adc_gpio_channels.items()
              if p in profile.header_gpios and p not in profile.wireless_pins}
    if pin not in usable:
        pins = ", ".join(str(p) for p in sorted(usable))
        raise ConfigError(f"{where}.pin: GPIO{pin} has no ADC on the header of {_article(profile.name)} "
                          f"{profile.name}; ADC pins: {pins}")
    return usable[pin]


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _check_i2c_id(i2c: I2cPins, profile: BoardProfile, where: str) -> None:
    rules = I2C_PORTS[profile.port]
    assert i2c.bus is not None
    if i2c.bus not in rules.ids or not (rules.sda_ok(i2c.bus, i2c.sda) and rules.scl_ok(i2c.bus, i2c.scl)):
        header = sorted(profile.header_gpios)
        sda = ", ".join(f"GP{p}" for p in header if rules.sda_ok(i2c.bus, p))
        scl = ", ".join(f"GP{p}" for p in header if rules.scl_ok(i2c.bus, p))
        raise ConfigError(f"{where}: GP{i2c.sda}/GP{i2c.scl} cannot be I2C{i2c.bus}'s SDA/SCL on "
                          f"{_article(profile.name)} {profile.name}; I2C{i2c.bus} SDA: {sda}; SCL: {scl}")


def check_pins(parts: list[tuple[str, _Part]], model: BoardModel) -> None:
    """Refuse a pin the board does not break out (or owns), and a pin two parts take.

    Parts may share a bus: I2C parts on the same SDA/SCL pins, 1-Wire parts on the same pin.

    Raises:
        ConfigError: naming the part entry and key, and the part the pin is already wired to.
    """
    profile = model.profile
    taken: dict[int, tuple[str, str, PinClaim]] = {}
    for where, part in parts:
        kind = getattr(part, "type", type(part).__name__)
        i2c = getattr(part, "i2c", None)
        if isinstance(i2c, I2cPins) and i2c.bus is not None:
            _check_i2c_id(i2c, profile, f"{where}.i2c")
        for claim in part.pin_claims():
            if claim.pin not in profile.header_gpios or claim.pin in profile.wireless_pins:
                owner = profile.wireless_pins.get(claim.pin)
                why = f"the board's own {owner}" if owner else "not on the header"
                raise ConfigError(f"{where}.{claim.key}: GP{claim.pin} is {why} on {_article(profile.name)} "
                                  f"{profile.name}; use a header pin")
            other = taken.get(claim.pin)
            if other is not None and (claim.bus is None or claim.bus != other[2].bus):
                other_where, other_kind, other_claim = other
                file, _, entry = other_where.rpartition(": ")
                if file and where.startswith(file + ": "):
                    other_where = entry  # the same file: its key path says enough
                same = "its own" if other[0] == where else f"{other_where} ({other_kind})"
                raise ConfigError(f"{where}.{claim.key}: GP{claim.pin} is already wired to {same} "
                                  f"{other_claim.key}; one pin, one part (buses excepted)")
            taken.setdefault(claim.pin, (where, kind, claim))


class AnalogPart(_Part):
    """Any analog signal on an ADC pin, in volts."""

    type: Literal["analog"]
    pin: Pin
    volts: QuantitySpec

    def attach(self, model: BoardModel, context: PartContext) -> object:
        volts = context.quantity(self.volts, "volts")
        model.adc.set_voltage(_adc_channel(model, self.pin, context.where), volts.value)
        return volts


class PotentiometerPart(_Part):
    """A potentiometer between GND and 3.3 V, its wiper on an ADC pin; ``position`` 0..1."""

    type: Literal["potentiometer"]
    pin: Pin
    position: QuantitySpec = 0.5
    vcc: float = 3.3

    def attach(self, model: BoardModel, context: PartContext) -> object:
        position = context.quantity(self.position, "position")
        model.adc.set_voltage(_adc_channel(model, self.pin, context.where),
                              lambda t: self.vcc * min(max(position.value(t), 0.0), 1.0))
        return position


class NtcPart(_Part):
    """An NTC thermistor module: a divider of the thermistor and a fixed resistor, the junction on an ADC pin."""

    type: Literal["ntc"]
    pin: Pin
    thermistor_to: Literal["vcc", "gnd"] = Field(
        "vcc", description="the thermistor's other end: vcc (the pin rises as it warms) or gnd (falls; Wokwi's module)")
    temperature_c: QuantitySpec = 25.0
    beta: float = Field(3950.0, gt=0)
    r25_ohm: float = Field(10_000.0, gt=0, description="the thermistor's resistance at 25 °C")
    series_ohm: float = Field(10_000.0, gt=0, description="the fixed resistor")
    vcc: float = 3.3

    def attach(self, model: BoardModel, context: PartContext) -> object:
        temperature = context.quantity(self.temperature_c, "temperature_c")

        def volts(t: float) -> float:
            kelvin = temperature.value(t) + 273.15
            r_ntc = self.r25_ohm * math.exp(self.beta * (1.0 / kelvin - 1.0 / 298.15))
            low_side = self.series_ohm if self.thermistor_to == "vcc" else r_ntc
            return float(self.vcc * low_side / (self.series_ohm + r_ntc))

        model.adc.set_voltage(_adc_channel(model, self.pin, context.where), volts)
        return temperature


class PhotoresistorPart(_Part):
    """A photoresistor (LDR) module: a divider of the LDR and a fixed resistor, the junction on an ADC pin."""

    type: Literal["photoresistor"]
    pin: Pin
    ldr_to: Literal["vcc", "gnd"] = Field(
        "vcc", description="the LDR's other end: vcc (the pin rises in light) or gnd (falls; Wokwi's module)")
    lux: QuantitySpec = 500.0
    gamma: float = Field(0.7, gt=0, description="log-log slope of resistance against light")
    rl10_ohm: float = Field(50_000.0, gt=0, description="the LDR's resistance at 10 lux")
    series_ohm: float = Field(10_000.0, gt=0)
    vcc: float = 3.3

    def attach(self, model: BoardModel, context: PartContext) -> object:
        lux = context.quantity(self.lux, "lux")

        def volts(t: float) -> float:
            r_ldr = self.rl10_ohm * (max(lux.value(t), 1e-3) / 10.0) ** -self.gamma
            low_side = self.series_ohm if self.ldr_to == "vcc" else r_ldr
            return float(self.vcc * low_side / (self.series_ohm + r_ldr))

        model.adc.set_voltage(_adc_channel(model, self.pin, context.where), volts)
        return lux


class BalancePart(_Part):
    """A laboratory balance on a UART, answering MT-SICS (``SI``, ``S``, ``Z``, ...)."""

    type: Literal["balance"]
    tx: Pin = Field(description="the board's TX pin (to the balance's RX)")
    rx: Pin = Field(description="the board's RX pin")
    weight_g: QuantitySpec = 0.0
    readability_g: float = Field(0.001, gt=0)
    capacity_g: float = Field(220.0, gt=0)

    def attach(self, model: BoardModel, context: PartContext) -> object:
        return model.attach_uart(Balance(context.quantity(self.weight_g, "weight_g"), readability_g=self.readability_g,
                                         capacity_g=self.capacity_g, seed=context.quantities.seed,
                                         name=self.name or "balance", trace=model.trace), tx=self.tx, rx=self.rx)


_PARTS = (Bme280Part, Sht4xPart, Aht20Part, Bmp581Part, Ina228Part, Pca9685Part, Ssd1306Part, Ds18b20Part,
          Hx711Part, ButtonPart, PumpPart, CoolerPart, HeaterPart, StepperPart, Ws2812Part, SwitchedPart,
          ServoPart, AnalogPart, PotentiometerPart, NtcPart, PhotoresistorPart, BalancePart)

PartSpec = Annotated[
    Bme280Part | Sht4xPart | Aht20Part | Bmp581Part | Ina228Part | Pca9685Part | Ssd1306Part | Ds18b20Part
    | Hx711Part | ButtonPart | PumpPart | CoolerPart | HeaterPart | StepperPart | Ws2812Part | SwitchedPart
    | ServoPart | AnalogPart | PotentiometerPart | NtcPart | PhotoresistorPart | BalancePart,
    Field(discriminator="type")]
"""One ``[[boards.parts]]`` entry, told apart by its ``type``."""

PART_TYPES: dict[str, str] = {
    name: (cls.__doc__ or "").strip().split("\n")[0]
    for cls in _PARTS for name in cls.model_fields["type"].annotation.__args__  # type: ignore[union-attr]
}
"""Every part type a lab file may name, with its one-line description."""
