"""The parts library as lab files write it: every part type builds and wires, quantities in every form."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from labtwin.errors import ConfigError
from labtwin.twin.board.model import BoardModel
from labtwin.twin.board.profiles import PICO_W
from labtwin.twin.parts.pump import Vessel
from labtwin.twin.parts.thermal import ThermalMass
from labtwin.twin.wiring.expression import compile_expression
from labtwin.twin.wiring.parts_library import PART_TYPES, PartContext, PartSpec, check_pins
from labtwin.twin.wiring.quantities import QuantityContext, QuantitySpec, build_quantity

ADAPTER: TypeAdapter[Any] = TypeAdapter(PartSpec)
QUANTITY: TypeAdapter[Any] = TypeAdapter(QuantitySpec)

# One entry per part type, each on its own pins (a Pico W has enough).
ONE_OF_EACH: list[dict[str, Any]] = [
    {"type": "bme280", "i2c": {"sda": 4, "scl": 5}},
    {"type": "sht4x", "i2c": {"sda": 4, "scl": 5}},
    {"type": "aht20", "i2c": {"sda": 4, "scl": 5}},
    {"type": "bmp581", "i2c": {"sda": 4, "scl": 5}},
    {"type": "ina228", "i2c": {"sda": 4, "scl": 5}, "address": 0x41},
    {"type": "pca9685", "i2c": {"sda": 4, "scl": 5}, "address": 0x42, "servos": [0, 3]},
    {"type": "ssd1306", "i2c": {"sda": 4, "scl": 5}},
    {"type": "ds18b20", "pin": 22},
    {"type": "hx711", "dout": 16, "sck": 17, "weight_g": {"shared": "vessel"}},
    {"type": "button", "pin": 2, "presses": [{"at_s": 1.0}]},
    {"type": "pump", "pin": 18, "vessel": "vessel", "flow_ml_s": 2.0},
    {"type": "cooler", "pin": 19, "thermal": "box", "cooling_c_per_s": 0.1},
    {"type": "heater", "pin": 20, "thermal": "box", "heating_c_per_s": 0.1},
    {"type": "stepper", "step": 10, "dir": 11},
    {"type": "ws2812", "pin": 6, "count": 8},
    {"type": "led", "pin": 7},
    {"type": "relay", "pin": 8, "active_level": 0},
    {"type": "buzzer", "pin": 9},
    {"type": "servo", "pin": 15},
    {"type": "analog", "pin": 26, "volts": 1.2},
    {"type": "potentiometer", "pin": 27, "position": 0.25},
    {"type": "ntc", "pin": 28, "temperature_c": {"shared": "box"}},
    {"type": "balance", "tx": 0, "rx": 1, "weight_g": {"shared": "vessel"}},
]


def _context(shared: dict[str, Any] | None = None, where: str = "parts[0]") -> PartContext:
    return PartContext(QuantityContext(Path("."), shared or {}, seed=1), where)


def test_every_part_type_is_in_the_table_and_builds_onto_a_board() -> None:
    assert {entry["type"] for entry in ONE_OF_EACH} | {"photoresistor"} == set(PART_TYPES)
    model = BoardModel(PICO_W, seed=0)
    shared = {"box": ThermalMass(24.0), "vessel": Vessel("vessel", 10.0)}
    for index, entry in enumerate(ONE_OF_EACH):
        ADAPTER.validate_python(entry).attach(model, _context(shared, f"parts[{index}]"))
    wired = {type(part).__name__ for part in model.parts}
    assert {"Bme280", "Sht4x", "Pca9685", "Ds18b20", "Hx711", "Button", "Pump", "Cooler", "Heater", "StepperDriver",
            "Ws2812Chain", "SwitchedLoad", "Balance"} <= wired
    assert 15 in model.servos
    gp26, gp27 = model.adc.signal_setting(0), model.adc.signal_setting(1)
    assert callable(gp26) and callable(gp27)
    assert gp26(0.0) == 1.2 and gp27(0.0) == pytest.approx(3.3 * 0.25)


def test_an_ntc_reads_as_its_divider_says_on_either_side() -> None:
    volts = {}
    for side in ("vcc", "gnd"):
        model = BoardModel(PICO_W, seed=0)
        ADAPTER.validate_python({"type": "ntc", "pin": 26, "thermistor_to": side, "temperature_c": "25 + t"}).attach(
            model, _context())
        setting = model.adc.signal_setting(0)
        assert callable(setting)
        volts[side] = (setting(0.0), setting(10.0))
    # At 25 °C the thermistor equals the 10 kΩ resistor: half the supply either way.
    assert volts["vcc"][0] == pytest.approx(1.65) and volts["gnd"][0] == pytest.approx(1.65)
    assert volts["vcc"][1] > 1.65 > volts["gnd"][1]  # warmer: less resistance in the thermistor


@pytest.mark.parametrize("text, value_at_100", [("22 + 0.5 * t", 72.0), ("min(30, 20 + t)", 30.0),
                                                ("2 * sin(pi * t / 200)", 2.0), ("-t ** 2", -10_000.0)])
def test_formulas_are_functions_of_lab_time(text: str, value_at_100: float) -> None:
    assert compile_expression(text)(100.0) == pytest.approx(value_at_100)


@pytest.mark.parametrize("text, fragment", [
    ("__import__('os')", "is not allowed"), ("t.real", "is not allowed"), ("open('x')", "is not allowed"),
    ("'a' * 3", "is not allowed"), ("1 +", "is not a formula"), ("1 / (t - t)", "division by zero"),
    ("x + 1", "'x' is not allowed"),
])
def test_formulas_that_could_do_anything_else_are_refused_when_read(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        compile_expression(text)


def test_every_quantity_form_builds(tmp_path: Path) -> None:
    (tmp_path / "room.csv").write_text("t,temp_c\n0,20\n100,30\n")
    box = ThermalMass(24.0)
    context = QuantityContext(tmp_path, {"box": box}, seed=3)

    def build(value: Any) -> Any:
        return build_quantity(QUANTITY.validate_python(value), context, "q")

    assert build(21.5).value(50.0) == 21.5
    assert build("20 + t / 10").value(50.0) == 25.0
    assert build({"csv": "room.csv", "column": "temp_c"}).value(50.0) == pytest.approx(25.0)
    walk = build({"random_walk": 22.0, "sigma": 0.5, "low": 21.0, "high": 23.0})
    assert walk.value(0.0) == 22.0 and all(21.0 <= walk.value(t) <= 23.0 for t in range(0, 500, 7))
    assert build({"shared": "box"}) is box
    with pytest.raises(ConfigError, match="q: no \\[\\[quantities\\]\\] entry named 'nope' \\(box\\)"):
        build({"shared": "nope"})


@pytest.mark.parametrize("value, fragment", [
    (True, "not true/false"), ({"csv": "x.csv"}, "column"), ({"random_walk": 1, "sigma": -1}, "sigma"),
    ({"shared": "a", "csv": "b"}, "exactly one of csv, random_walk, shared"), ({}, "exactly one of"),
    ("os.system('x')", "is not allowed"),
])
def test_a_bad_quantity_says_which_form_and_why(value: Any, fragment: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(fragment)):
        QUANTITY.validate_python(value)


def test_wiring_mistakes_name_the_part() -> None:
    model = BoardModel(PICO_W, seed=0)
    with pytest.raises(ConfigError,
                       match=r"parts\[3\]\.pin: GPIO5 has no ADC on the header of a pico_w; ADC pins: 26, 27, 28$"):
        ADAPTER.validate_python({"type": "analog", "pin": 5, "volts": 1.0}).attach(model, _context(where="parts[3]"))
    with pytest.raises(ConfigError, match=r"parts\[0\]\.vessel: no vessel \[\[quantities\]\] entry named 'tank'"):
        ADAPTER.validate_python({"type": "pump", "pin": 3, "vessel": "tank", "flow_ml_s": 1}).attach(
            model, _context({"box": ThermalMass(20.0)}))


def _check(*entries: dict[str, Any]) -> None:
    check_pins([(f"parts[{i}]", ADAPTER.validate_python(entry)) for i, entry in enumerate(entries)],
               BoardModel(PICO_W, seed=0))


def test_parts_share_only_a_bus_and_only_header_pins() -> None:
    # Two I2C chips on one bus, two probes on one 1-Wire pin: that is what buses are for.
    _check({"type": "bme280", "i2c": {"sda": 4, "scl": 5}}, {"type": "sht4x", "i2c": {"sda": 4, "scl": 5}},
           {"type": "ds18b20", "pin": 22}, {"type": "ds18b20", "pin": 22, "serial": 2},
           {"type": "bme280", "i2c": {"bus": 1, "sda": 6, "scl": 7}, "address": 0x77})


@pytest.mark.parametrize("entries, message", [
    (({"type": "ws2812", "pin": 18, "count": 3}, {"type": "pump", "pin": 18, "vessel": "v", "flow_ml_s": 1}),
     "parts[1].pin: GP18 is already wired to parts[0] (ws2812) pin; one pin, one part (buses excepted)"),
    (({"type": "sht4x", "i2c": {"sda": 4, "scl": 5}}, {"type": "led", "pin": 4}),
     "parts[1].pin: GP4 is already wired to parts[0] (sht4x) i2c.sda"),
    (({"type": "sht4x", "i2c": {"sda": 4, "scl": 5}}, {"type": "bme280", "i2c": {"sda": 4, "scl": 6}}),
     "parts[1].i2c.sda: GP4 is already wired to parts[0] (sht4x) i2c.sda"),
    (({"type": "ds18b20", "pin": 22}, {"type": "led", "pin": 22}), "parts[1].pin: GP22 is already wired to parts[0]"),
    (({"type": "balance", "tx": 16, "rx": 16},), "parts[0].rx: GP16 is already wired to its own tx"),
    (({"type": "hx711", "dout": 16, "sck": 17}, {"type": "pump", "pin": 17, "vessel": "v", "flow_ml_s": 1}),
     "parts[1].pin: GP17 is already wired to parts[0] (hx711) sck"),
    (({"type": "analog", "pin": 29, "volts": 1.0},), "parts[0].pin: GP29 is the board's own WL_CLK on a pico_w"),
    (({"type": "led", "pin": 25},), "parts[0].pin: GP25 is the board's own WL_CS on a pico_w; use a header pin"),
    (({"type": "sht4x", "i2c": {"bus": 1, "sda": 4, "scl": 5}},),
     "parts[0].i2c: GP4/GP5 cannot be I2C1's SDA/SCL on a pico_w; I2C1 SDA: GP2, GP6, GP10"),
])
def test_a_pin_taken_twice_or_off_the_header_is_refused_naming_both_parts(entries: tuple[dict[str, Any], ...],
                                                                          message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _check(*entries)


def test_an_i2c_bus_needs_two_pins() -> None:
    with pytest.raises(ValidationError, match="sda and scl are both GP4"):
        ADAPTER.validate_python({"type": "sht4x", "i2c": {"sda": 4, "scl": 4}})
