"""A Wokwi diagram.json read as a board's wiring: nets, part mapping, errors, TOML (twin/wiring/wokwi.py).

The diagrams are written here from Wokwi's format (docs.wokwi.com/diagram-format): editor-style parts with
positions and string attrs, wires with colours and routing, the ``$serialMonitor`` pseudo-part.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from labtwin.errors import ConfigError
from labtwin.twin.board.model import BoardModel
from labtwin.twin.board.profiles import ESP32, PICO_W
from labtwin.twin.parts.button import Button
from labtwin.twin.parts.ds18b20 import Ds18b20
from labtwin.twin.parts.hx711 import Hx711
from labtwin.twin.parts.ssd1306 import Ssd1306
from labtwin.twin.parts.stepper import StepperDriver
from labtwin.twin.parts.switched_load import SwitchedLoad
from labtwin.twin.parts.ws2812 import Ws2812Chain
from labtwin.twin.wiring.parts_library import PartContext, PartSpec
from labtwin.twin.wiring.quantities import QuantityContext
from labtwin.twin.wiring.wokwi import (
    SUPPORTED_TYPES,
    WokwiWiring,
    load_wokwi_diagram,
    read_wokwi_diagram,
    wiring_toml,
)


def part(type_: str, id_: str, top: float = 0.0, left: float = 0.0, rotate: int | None = None,
         **attrs: str) -> dict[str, Any]:
    """A part as the Wokwi editor saves it (attrs are strings; ``-`` in names is written ``_`` here)."""
    entry: dict[str, Any] = {"type": type_, "id": id_, "top": top, "left": left,
                             "attrs": {k.replace("_", "-"): v for k, v in attrs.items()}}
    if rotate is not None:
        entry["rotate"] = rotate
    return entry


def diagram(parts: list[dict[str, Any]], connections: list[list[Any]]) -> str:
    return json.dumps({"version": 1, "author": "labtwin tests", "editor": "wokwi", "parts": parts,
                       "connections": connections, "dependencies": {}}, indent=2)


def wire(a: str, b: str, colour: str = "green", route: list[str] | None = None) -> list[Any]:
    return [a, b, colour, ["v0"] if route is None else route]


SERIAL_PICO = [wire("pico:GP0", "$serialMonitor:RX", "", []), wire("pico:GP1", "$serialMonitor:TX", "", [])]

# A Pico W lab board: a status LED through its resistor, a button, a knob, a servo, an NTC, an OLED,
# a DS18B20 with its 4.7k pull-up, a load cell and a NeoPixel ring behind a data-line resistor.
PICO_LAB = diagram(
    [
        part("board-pi-pico-w", "pico", -99.25, 3.55, env="micropython-20241129-v1.24.1"),
        part("wokwi-led", "led1", -22.8, 157.8, color="red"),
        part("wokwi-resistor", "r1", 23.15, 96, value="220"),
        part("wokwi-pushbutton", "btn1", 25.4, -134.4, color="green", bounce="0"),
        part("wokwi-potentiometer", "pot1", 65.9, 38.2, value="512"),
        part("wokwi-servo", "servo1", -140, 220, horn="double"),
        part("wokwi-ntc-temperature-sensor", "ntc1", 150, 180, temperature="30.5", beta="3950"),
        part("board-ssd1306", "oled1", -180, 40, i2cAddress="0x3d"),
        part("wokwi-ds18b20", "temp1", 200, -60, temperature="21.5"),
        part("wokwi-resistor", "r2", 180, -20, rotate=90, value="4700"),
        part("wokwi-hx711", "cell1", 240, 60, type="5kg"),
        part("wokwi-led-ring", "ring1", -260, -120, pixels="12"),
        part("wokwi-resistor", "r3", -200, -60, value="330"),
    ],
    [
        *SERIAL_PICO,
        wire("pico:GP15", "r1:1", "green", ["h-28.8", "v38.4"]),
        wire("r1:2", "led1:A"),
        wire("led1:C", "pico:GND.5", "black", ["h105.91", "v-57.56"]),
        wire("pico:GP14", "btn1:1.l"),
        wire("btn1:2.r", "pico:GND.4", "black"),
        wire("pot1:SIG", "pico:GP26", "orange"),
        wire("pot1:VCC", "pico:3V3", "red"),
        wire("pot1:GND", "pico:GND.8", "black"),
        wire("servo1:PWM", "pico:GP16", "orange", ["h-19.2", "*", "v9.6"]),
        wire("servo1:V+", "pico:VBUS", "red"),
        wire("servo1:GND", "pico:GND.6", "black"),
        wire("ntc1:OUT", "pico:GP27", "limegreen"),
        wire("ntc1:VCC", "pico:3V3", "red"),
        wire("ntc1:GND", "pico:GND.7", "black"),
        wire("oled1:SDA", "pico:GP4", "blue"),
        wire("oled1:SCL", "pico:GP5", "gold"),
        wire("oled1:VCC", "pico:3V3", "red"),
        wire("oled1:GND", "pico:GND.2", "black"),
        wire("temp1:DQ", "pico:GP22"),
        wire("r2:1", "temp1:DQ"),
        wire("r2:2", "temp1:VCC", "red"),
        wire("temp1:VCC", "pico:3V3", "red"),
        wire("temp1:GND", "pico:GND.6", "black"),
        wire("cell1:DT", "pico:GP2", "purple"),
        wire("cell1:SCK", "pico:GP3", "gray"),
        wire("cell1:VCC", "pico:3V3", "red"),
        wire("cell1:GND", "pico:GND.1", "black"),
        wire("pico:GP6", "r3:1"),
        wire("r3:2", "ring1:DIN"),
        wire("ring1:VCC", "pico:VSYS", "red"),
        wire("ring1:GND", "pico:GND.3", "black"),
    ],
)

PICO_ENTRIES = [
    {"type": "led", "name": "led1", "pin": 15, "active_level": 1},
    {"type": "button", "name": "btn1", "pin": 14, "active_low": True, "bounce_transitions": 0},
    {"type": "potentiometer", "name": "pot1", "pin": 26, "position": 0.5005},
    {"type": "servo", "name": "servo1", "pin": 16},
    {"type": "ntc", "name": "ntc1", "pin": 27, "temperature_c": 30.5, "beta": 3950.0, "thermistor_to": "gnd"},
    {"type": "ssd1306", "name": "oled1", "i2c": {"sda": 4, "scl": 5}, "address": 0x3D},
    {"type": "ds18b20", "name": "temp1", "pin": 22, "temperature_c": 21.5},
    {"type": "hx711", "name": "cell1", "dout": 2, "sck": 3},
    {"type": "ws2812", "name": "ring1", "pin": 6, "count": 12},
]

# The older DOIT ESP32 DevKit v1: an active-low LED (anode to 3V3, cathode through a resistor to D2),
# an active-high button with a pull-down, an LDR on VP, a relay, an A4988 set to 1/16 steps driving a
# motor, and three single NeoPixels chained DOUT -> DIN.
ESP32_V1_LAB = diagram(
    [
        part("wokwi-esp32-devkit-v1", "esp", 137.33, -18.01, rotate=270),
        part("wokwi-led", "led1", -13.2, -25, color="yellow"),
        part("wokwi-resistor", "r1", 90.35, -48, value="1000"),
        part("wokwi-pushbutton", "btn1", 100, 100, color="blue", key="b"),
        part("wokwi-resistor", "r2", 130, 120, value="10000"),
        part("wokwi-photoresistor-sensor", "ldr1", 20, 240, lux="120", rl10="33", gamma="0.8"),
        part("wokwi-relay-module", "relay1", 260, 200),
        part("wokwi-a4988", "drv1", 300, -120),
        part("wokwi-stepper-motor", "m1", 260, -260, size="17"),
        part("wokwi-neopixel", "px1", -80, 120),
        part("wokwi-neopixel", "px2", -80, 160),
        part("wokwi-neopixel", "px3", -80, 200),
    ],
    [
        wire("esp:TX0", "$serialMonitor:RX", "", []),
        wire("esp:RX0", "$serialMonitor:TX", "", []),
        wire("led1:A", "esp:3V3", "red"),
        wire("led1:C", "r1:2"),
        wire("r1:1", "esp:D2"),
        wire("btn1:1.l", "esp:3V3", "red"),
        wire("btn1:2.l", "esp:D4"),
        wire("r2:1", "esp:D4"),
        wire("r2:2", "esp:GND.1", "black"),
        wire("ldr1:AO", "esp:VP"),
        wire("ldr1:VCC", "esp:3V3", "red"),
        wire("ldr1:GND", "esp:GND.2", "black"),
        wire("relay1:IN", "esp:D26"),
        wire("relay1:VCC", "esp:VIN", "red"),
        wire("relay1:GND", "esp:GND.2", "black"),
        wire("drv1:STEP", "esp:D18"),
        wire("drv1:DIR", "esp:D19"),
        wire("drv1:ENABLE", "esp:GND.1", "black"),
        wire("drv1:MS1", "esp:3V3", "red"),
        wire("drv1:MS2", "drv1:MS1", "red"),
        wire("drv1:MS3", "drv1:MS2", "red"),
        wire("drv1:RESET", "drv1:SLEEP"),
        wire("drv1:1A", "m1:A-"),
        wire("drv1:2A", "m1:A+"),
        wire("drv1:1B", "m1:B+"),
        wire("drv1:2B", "m1:B-"),
        wire("drv1:VDD", "esp:3V3", "red"),
        wire("drv1:GND", "esp:GND.1", "black"),
        wire("px1:DIN", "esp:D23"),
        wire("px1:DOUT", "px2:DIN"),
        wire("px2:DOUT", "px3:DIN"),
        wire("px1:VDD", "esp:VIN", "red"),
        wire("px1:VSS", "esp:GND.1", "black"),
    ],
)

ESP32_V1_ENTRIES = [
    {"type": "led", "name": "led1", "pin": 2, "active_level": 0},
    {"type": "button", "name": "btn1", "pin": 4, "active_low": False, "bounce_transitions": 4},
    {"type": "photoresistor", "name": "ldr1", "pin": 36, "lux": 120.0, "rl10_ohm": 33000.0, "gamma": 0.8,
     "ldr_to": "gnd"},
    {"type": "relay", "name": "relay1", "pin": 26, "active_level": 1},
    {"type": "stepper", "name": "drv1", "step": 18, "dir": 19, "microsteps": 16},
    {"type": "ws2812", "name": "px1", "pin": 23, "count": 3},
]

# The official Espressif DevKitC v4 (bare-number pins): an OLED on the default I2C pins, a slide pot
# written the way Wokwi's own CI writes it ("GPIO34"), a WS2812 matrix, a servo, a DS18B20 with a fixed
# ROM id, and an A4988 whose microstep pins firmware drives.
ESP32_C4_LAB = diagram(
    [
        part("board-esp32-devkit-c-v4", "esp", -19.2, -167.96, env="micropython-20231005-v1.21.0"),
        part("board-ssd1306", "oled1", 80, 120, i2c_address="0x3c"),
        part("wokwi-slide-potentiometer", "slider1", 200, 60, travelLength="30", value="256"),
        part("wokwi-neopixel-matrix", "matrix1", -200, 120, rows="4", cols="8"),
        part("wokwi-servo", "servo1", -80, 240),
        part("board-ds18b20", "probe1", 240, -60, deviceID="0000000000AB"),
        part("wokwi-a4988", "drv1", 300, -120),
    ],
    [
        wire("esp:TX", "$serialMonitor:RX", "", []),
        wire("esp:RX", "$serialMonitor:TX", "", []),
        wire("esp:21", "oled1:SDA", "blue", ["h62.44", "v-28.8"]),
        wire("esp:22", "oled1:SCL", "gold"),
        wire("esp:3V3", "oled1:VCC", "red"),
        wire("oled1:GND", "esp:GND.2", "black"),
        wire("esp:GPIO34", "slider1:SIG"),
        wire("esp:3V3", "slider1:VCC", "red"),
        wire("esp:GND.1", "slider1:GND", "black"),
        wire("esp:13", "matrix1:DIN"),
        wire("esp:5V", "matrix1:VCC", "red"),
        wire("esp:GND.1", "matrix1:GND", "black"),
        wire("esp:18", "servo1:PWM", "orange"),
        wire("esp:5V", "servo1:V+", "red"),
        wire("esp:4", "probe1:DQ"),
        wire("esp:16", "drv1:STEP"),
        wire("esp:17", "drv1:DIR"),
        wire("esp:25", "drv1:ENABLE"),
        wire("esp:26", "drv1:MS1"),
        wire("esp:27", "drv1:MS2"),
        wire("esp:GND.3", "drv1:MS3", "black"),
    ],
)

ESP32_C4_ENTRIES = [
    {"type": "ssd1306", "name": "oled1", "i2c": {"sda": 21, "scl": 22}, "address": 0x3C},
    {"type": "potentiometer", "name": "slider1", "pin": 34, "position": 0.2502},
    {"type": "ws2812", "name": "matrix1", "pin": 13, "count": 32},
    {"type": "servo", "name": "servo1", "pin": 18},
    {"type": "ds18b20", "name": "probe1", "pin": 4, "serial": 0xAB},
    {"type": "stepper", "name": "drv1", "step": 16, "dir": 17, "enable": 25},
]

# A Pico W beside a half breadboard: the LED and its resistor, a button straddling the ravine and a pot
# are plugged in ("$bb" wires); jumpers join strips to the board and the rails.
BREADBOARD_LAB = diagram(
    [
        part("wokwi-breadboard-half", "bb1", 56.2, -60),
        part("board-pi-pico-w", "pico", 15.95, 305.15, env="micropython-20231227-v1.22.0"),
        part("wokwi-led", "led1", 54, -33.4, color="green"),
        part("wokwi-resistor", "r1", 129.6, -37.75, rotate=90, value="220"),
        part("wokwi-pushbutton", "btn1", 100, 80, rotate=90, color="red"),
        part("wokwi-potentiometer", "pot1", 65.9, 160),
    ],
    [
        wire("led1:A", "bb1:12t.c", "", ["$bb"]),
        wire("led1:C", "bb1:13t.c", "", ["$bb"]),
        wire("r1:1", "bb1:12t.e", "", ["$bb"]),
        wire("r1:2", "bb1:12b.f", "", ["$bb"]),
        wire("bb1:12b.j", "pico:GP15", "green", ["v19.2", "h240"]),
        wire("bb1:13t.a", "bb1:tn.5", "black", ["v-9.6"]),
        wire("bb1:tn.1", "pico:GND.8", "black", ["v0"]),
        wire("btn1:1.l", "bb1:20t.e", "", ["$bb"]),
        wire("btn1:2.l", "bb1:22t.e", "", ["$bb"]),
        wire("btn1:1.r", "bb1:20b.f", "", ["$bb"]),
        wire("btn1:2.r", "bb1:22b.f", "", ["$bb"]),
        wire("bb1:20b.j", "pico:GP14", "green", ["v0"]),
        wire("bb1:22t.a", "bb1:tn.12", "black", ["v0"]),
        wire("pot1:GND", "bb1:29t.b", "", ["$bb"]),
        wire("pot1:SIG", "bb1:30t.b", "", ["$bb"]),
        wire("pot1:VCC", "bb1:31t.b", "", ["$bb"]),
        wire("bb1:29t.a", "bb1:tn.20", "black", ["v0"]),
        wire("bb1:31t.a", "bb1:tp.21", "red", ["v0"]),
        wire("bb1:tp.1", "pico:3V3", "red", ["v0"]),
        wire("bb1:30t.e", "pico:GP28", "yellow", ["h0"]),
    ],
)

BREADBOARD_ENTRIES = [
    {"type": "led", "name": "led1", "pin": 15, "active_level": 1},
    {"type": "button", "name": "btn1", "pin": 14, "active_low": True, "bounce_transitions": 4},
    {"type": "potentiometer", "name": "pot1", "pin": 28},
]

SPEC: TypeAdapter[Any] = TypeAdapter(PartSpec)


# ----------------------------------------------------------------------------------------- mapping


def test_pico_w_lab_board_reads_as_its_parts():
    wiring = read_wokwi_diagram(PICO_LAB)
    assert wiring.board_kind == "pico_w"
    assert wiring.parts == PICO_ENTRIES
    assert "led1:A reaches GP15 through r1 (wokwi-resistor), read as a wire" in wiring.notes
    assert "ring1:DIN reaches GP6 through r3 (wokwi-resistor), read as a wire" in wiring.notes
    # the DS18B20's pull-up joins GP22 to 3V3 through a resistor: a pull-up, not a short
    assert any(note.startswith("r2 (wokwi-resistor) pulls GP22 up to 3V3") for note in wiring.notes)


def test_esp32_devkit_v1_board_reads_as_its_parts():
    wiring = read_wokwi_diagram(ESP32_V1_LAB)
    assert wiring.board_kind == "esp32"
    assert wiring.parts == ESP32_V1_ENTRIES
    assert "px1 -> px2 -> px3 read as one ws2812 chain of 3 LEDs on GPIO23, named px1" in wiring.notes
    assert any(note.startswith("r2 (wokwi-resistor) pulls GPIO4 down to GND") for note in wiring.notes)


def test_esp32_devkit_c_v4_board_reads_as_its_parts():
    wiring = read_wokwi_diagram(ESP32_C4_LAB)
    assert wiring.board_kind == "esp32"
    assert wiring.parts == ESP32_C4_ENTRIES
    assert "esp:GPIO34 is not a board-esp32-devkit-c-v4 pin name: read as GPIO34" in wiring.notes
    assert any(note.startswith("drv1: MS1 is on GPIO26") for note in wiring.notes)


def test_breadboard_strips_rails_and_button_halves_carry_the_nets():
    wiring = read_wokwi_diagram(BREADBOARD_LAB)
    assert wiring.parts == BREADBOARD_ENTRIES


def test_a_plain_pico_is_read_as_a_pico_w_with_a_note():
    text = diagram([part("wokwi-pi-pico", "pico"), part("wokwi-led", "led1")],
                   [wire("pico:GP18", "led1:A"), wire("led1:C", "pico:GND.5", "black")])
    wiring = read_wokwi_diagram(text)
    assert wiring.board_kind == "pico_w"
    assert wiring.parts == [{"type": "led", "name": "led1", "pin": 18, "active_level": 1}]
    assert 'pico (wokwi-pi-pico) is a Raspberry Pi Pico: read as a Pico W (kind "pico_w")' in wiring.notes


def test_lenient_spellings_real_files_use():
    text = diagram(
        [part("board-esp32-devkit-c-v4", "esp32"), part("wokwi-pushbutton", "btn1"), part("wokwi-servo", "s1"),
         part("wokwi-led", "led1"), part("wokwi-resistor", "r1")],
        [wire("esp32:GPIO15", "btn1:1.L"), wire("btn1:2.R", "esp32:GND", "black"),
         wire("s1:SIG", "esp32:D4"), ["esp32:2", "r1:1", "green"], ["r1:2", "led1:A", ""],
         ["led1:C", "esp32:GND.1", "black"]])
    wiring = read_wokwi_diagram(text)
    assert wiring.parts == [
        {"type": "button", "name": "btn1", "pin": 15, "active_low": True, "bounce_transitions": 4},
        {"type": "servo", "name": "s1", "pin": 4},
        {"type": "led", "name": "led1", "pin": 2, "active_level": 1},
    ]
    assert "s1:SIG read as s1:PWM (wokwi-servo pins: PWM, V+, GND)" in wiring.notes
    assert "esp32:D4 is not a board-esp32-devkit-c-v4 pin name: read as GPIO4" in wiring.notes


def test_board_pins_read_with_a_note():
    text = diagram([part("board-pi-pico-w", "pico"), part("wokwi-led", "led1")],
                   [wire("pico:3V3_EN", "led1:A", "red"), wire("led1:C", "pico:GP21")])
    wiring = read_wokwi_diagram(text)
    assert wiring.parts == [{"type": "led", "name": "led1", "pin": 21, "active_level": 0}]
    assert any(note.startswith("pico:3V3_EN is wired as a supply: read as 3V3") for note in wiring.notes)
    text = diagram([part("board-esp32-devkit-c-v4", "esp"), part("wokwi-photoresistor-sensor", "ldr1")],
                   [wire("esp:VP", "ldr1:AO")])
    wiring = read_wokwi_diagram(text)
    assert wiring.parts == [{"type": "photoresistor", "name": "ldr1", "pin": 36, "ldr_to": "gnd"}]
    assert any(note.startswith("esp:VP read as GPIO36") for note in wiring.notes)


def test_led_cathode_through_resistor_to_ground_and_wokwi_gnd_symbol():
    text = diagram(
        [part("board-pi-pico-w", "pico"), part("wokwi-led", "led1"), part("wokwi-resistor", "r1"),
         part("wokwi-gnd", "gnd1"), part("wokwi-relay-module", "k1", transistor="pnp")],
        [wire("pico:GP9", "led1:A"), wire("led1:C", "r1:1"), wire("r1:2", "gnd1:GND", "black"),
         wire("k1:IN", "pico:GP10")])
    wiring = read_wokwi_diagram(text)
    assert wiring.parts == [{"type": "led", "name": "led1", "pin": 9, "active_level": 1},
                            {"type": "relay", "name": "k1", "pin": 10, "active_level": 0}]


def test_text_labels_and_serial_monitor_are_ignored():
    text = diagram([part("board-pi-pico-w", "pico"), part("wokwi-text", "note1", text="hello")], SERIAL_PICO)
    assert read_wokwi_diagram(text).parts == []


# ----------------------------------------------------------------------------------------- errors


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        read_wokwi_diagram(text)
    return str(caught.value)


def test_unsupported_part_type_lists_the_supported_ones():
    message = _error(diagram([part("board-pi-pico-w", "pico"), part("wokwi-dht22", "dht1")],
                             [wire("pico:GP2", "dht1:SDA")]))
    assert message.startswith('diagram.json: unsupported part type: "dht1" (wokwi-dht22). Supported Wokwi types: ')
    for supported in ("board-pi-pico-w", "board-esp32-devkit-c-v4", "wokwi-led", "wokwi-a4988", "wokwi-resistor"):
        assert supported in message
    assert message.endswith(", ".join(SUPPORTED_TYPES))


@pytest.mark.parametrize(("type_", "fragment"), [
    ("wokwi-bme280", "Wokwi has no BME280 part"),
    ("chip-bme280", "speaks SPI only"),
    ("chip-i2c-counter", "a custom chip"),
])
def test_unsupported_types_say_why(type_: str, fragment: str):
    message = _error(diagram([part("board-pi-pico-w", "pico"), part(type_, "x1")], []))
    assert f'"x1" ({type_}; ' in message and fragment in message


def test_a_pin_that_goes_nowhere():
    message = _error(diagram([part("board-pi-pico-w", "pico"), part("wokwi-led", "led1")],
                             [wire("led1:C", "pico:GND.3", "black")]))
    assert message == ('diagram.json: part "led1" (wokwi-led): pin A is not connected to a board GPIO '
                       "(nothing is wired to it)")


def test_a_signal_on_a_dead_board_pin_names_its_net():
    message = _error(diagram([part("board-pi-pico-w", "pico"), part("wokwi-servo", "servo1")],
                             [wire("servo1:PWM", "pico:RUN")]))
    assert message == ('diagram.json: part "servo1" (wokwi-servo): pin PWM is not connected to a board GPIO '
                       "(its net: pico:RUN)")


def test_two_boards():
    message = _error(diagram([part("board-pi-pico-w", "pico"), part("wokwi-esp32-devkit-v1", "esp")], []))
    assert "2 boards" in message
    assert '"pico" (board-pi-pico-w)' in message and '"esp" (wokwi-esp32-devkit-v1)' in message


def test_no_board():
    message = _error(diagram([part("wokwi-led", "led1")], []))
    assert message.startswith("diagram.json: no board")
    assert "board-pi-pico-w" in message


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2]", '{"parts": 3}'])
def test_not_a_diagram(text: str):
    message = _error(text)
    assert message.startswith("diagram.json: not a Wokwi diagram")


def test_not_json_names_the_place():
    assert "not JSON (Expecting property name enclosed in double quotes at line 1, column 2)" in _error("{not json")


def test_flash_pin_on_devkit_c_v4_is_refused():
    message = _error(diagram([part("board-esp32-devkit-c-v4", "esp"), part("wokwi-led", "led1")],
                             [wire("esp:D2", "led1:A"), wire("led1:C", "esp:GND.1", "black")]))
    assert message == ('diagram.json: connections[0] ["esp:D2", "led1:A"]: pin D2 of board-esp32-devkit-c-v4 is '
                       'the flash pin GPIO9 (SD2), which firmware runs from, not GPIO2 (that is "esp:2")')


def test_flash_gpio_and_pico_w_wireless_pins_are_refused():
    flash = _error(diagram([part("wokwi-esp32-devkit-v1", "esp")], [wire("esp:GPIO6", "esp:3V3")]))
    assert "pin GPIO6 of wokwi-esp32-devkit-v1 is GPIO6, the ESP32 module's SPI flash (SPI_CLK)" in flash
    assert "wireless chip (WL_CS)" in _error(diagram([part("board-pi-pico-w", "pico"), part("wokwi-led", "led1")],
                                                     [wire("pico:GP25", "led1:A")]))


def test_analog_part_off_the_adc_pins():
    message = _error(diagram([part("board-pi-pico-w", "pico"), part("wokwi-potentiometer", "pot1")],
                             [wire("pot1:SIG", "pico:GP15")]))
    assert message == ('diagram.json: part "pot1" (wokwi-potentiometer): pin SIG is on GP15, which has no ADC on '
                       "this board (ADC pins: GP26, GP27, GP28)")


def test_led_reversed_and_led_without_ground():
    reversed_ = _error(diagram([part("board-pi-pico-w", "pico"), part("wokwi-led", "led1")],
                               [wire("led1:C", "pico:GP3"), wire("led1:A", "pico:GND.1", "black")]))
    assert "pin C is on GP3 and A on GND: the LED is reversed" in reversed_
    floating = _error(diagram([part("board-pi-pico-w", "pico"), part("wokwi-led", "led1")],
                              [wire("led1:A", "pico:GP3")]))
    assert floating == 'diagram.json: part "led1" (wokwi-led): pin A is on GP3 but pin C is not connected to GND'


def test_button_with_an_open_second_contact():
    message = _error(diagram([part("board-pi-pico-w", "pico"), part("wokwi-pushbutton", "btn1")],
                             [wire("btn1:1.r", "pico:GP7")]))
    assert "contact 1 is on GP7, but contact 2 (2.l/2.r) is connected to neither GND nor a supply" in message


def test_a_gpio_shorted_through_the_always_joined_button_halves():
    message = _error(diagram([part("board-pi-pico-w", "pico"), part("wokwi-pushbutton", "btn1")],
                             [wire("btn1:1.l", "pico:GP7"), wire("btn1:1.r", "pico:GND.2", "black")]))
    assert 'part "btn1" (wokwi-pushbutton): pin 1.l is wired to GP7 and GND at once' in message


def test_motor_driven_straight_from_gpios():
    message = _error(diagram([part("board-pi-pico-w", "pico"), part("wokwi-stepper-motor", "m1")],
                             [wire("m1:A+", "pico:GP10")]))
    assert 'part "m1" (wokwi-stepper-motor): coil pin A+ is driven from a GPIO' in message


def test_a_wire_to_a_missing_part():
    message = _error(diagram([part("board-pi-pico-w", "pico")], [wire("pico:GP2", "led9:A")]))
    assert message == 'diagram.json: connections[0] ["pico:GP2", "led9:A"]: no part "led9" in "parts"'


def test_bad_attr_value_names_the_part():
    message = _error(diagram([part("board-pi-pico-w", "pico"), part("wokwi-ntc-temperature-sensor", "ntc1",
                                                                    temperature="warm")],
                             [wire("ntc1:OUT", "pico:GP26")]))
    assert message == ('diagram.json: part "ntc1" (wokwi-ntc-temperature-sensor): attrs.temperature "warm" '
                       "is not a number")


def test_ssd1306_address_outside_what_the_part_answers():
    message = _error(diagram([part("board-pi-pico-w", "pico"), part("board-ssd1306", "oled1", i2cAddress="0x3f")],
                             [wire("oled1:SDA", "pico:GP4"), wire("oled1:SCL", "pico:GP5")]))
    assert "I2C address 0x3f: an SSD1306 answers at 0x3c or 0x3d" in message


def test_load_reads_the_file_and_refuses_what_it_cannot_read(tmp_path: Path):
    path = tmp_path / "diagram.json"
    path.write_text(PICO_LAB)
    assert load_wokwi_diagram(path).parts == PICO_ENTRIES
    with pytest.raises(ConfigError, match="cannot read the Wokwi diagram"):
        load_wokwi_diagram(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"parts": [')
    with pytest.raises(ConfigError, match=r"broken\.json: not a Wokwi diagram: not JSON"):
        load_wokwi_diagram(broken)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_wokwi_diagram(binary)


# ----------------------------------------------------------------------------------------- TOML and the board


@pytest.mark.parametrize("text", [PICO_LAB, ESP32_V1_LAB, ESP32_C4_LAB, BREADBOARD_LAB])
def test_wiring_toml_round_trips(text: str):
    wiring = read_wokwi_diagram(text)
    toml = wiring_toml(wiring, "lab-board-1")
    loaded = tomllib.loads(toml)
    assert loaded == {"boards": [{"id": "lab-board-1", "kind": wiring.board_kind, "parts": wiring.parts}]}
    for entry in loaded["boards"][0]["parts"]:
        SPEC.validate_python(entry)


def test_wiring_toml_escapes_and_reads_well():
    wiring = WokwiWiring("pico_w", [{"type": "led", "name": 'led "A"\\ \u00b5\x7f\n', "pin": 3},
                                    {"type": "ssd1306", "name": "o", "i2c": {"sda": 4, "scl": 5}, "address": 60},
                                    {"type": "potentiometer", "pin": 26, "position": 1e-05}],
                         ["a note\nover two lines \x00"])
    toml = wiring_toml(wiring, 'bench "1"')
    assert tomllib.loads(toml) == {"boards": [{"id": 'bench "1"', "kind": "pico_w", "parts": wiring.parts}]}
    assert "address = 0x3C" in toml and "i2c = { sda = 4, scl = 5 }" in toml
    assert toml.startswith("# Read from a Wokwi diagram by labtwin.\n# - a note over two lines  \n[[boards]]\n")


def _attach_all(profile_parts: list[dict[str, Any]], model: BoardModel, tmp_path: Path) -> list[object]:
    return [SPEC.validate_python(entry).attach(model, PartContext(QuantityContext(tmp_path), f"parts[{i}]"))
            for i, entry in enumerate(profile_parts)]


def test_pico_w_entries_build_onto_a_board_model(tmp_path: Path):
    model = BoardModel(PICO_W, seed=0)
    _attach_all(read_wokwi_diagram(PICO_LAB).parts, model, tmp_path)
    kinds = [type(p) for p in model.parts]
    assert kinds == [SwitchedLoad, Button, Ssd1306, Ds18b20, Hx711, Ws2812Chain]
    assert set(model.servos) == {16}
    assert model.part(Ws2812Chain).count == 12


def test_esp32_entries_build_onto_a_board_model(tmp_path: Path):
    for text in (ESP32_V1_LAB, ESP32_C4_LAB):
        model = BoardModel(ESP32, seed=0)
        _attach_all(read_wokwi_diagram(text).parts, model, tmp_path)
        assert model.part(StepperDriver) is not None
        assert model.part(Ws2812Chain) is not None
