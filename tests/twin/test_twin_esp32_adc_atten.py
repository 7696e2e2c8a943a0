"""The esp32 port's ADC attenuation (machine_adc.c): ATTN_0DB..ATTN_11DB set a channel's full scale
(Espressif's nominal 1.1, 1.5, 2.2 and 3.9 V), read() and read_uv(), width(); the rp2 ADC has none."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labtwin.twin.board.model import ESP32_ATTEN_GAIN
from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.board.profiles import ESP32, PICO_W, BoardProfile

ESP32_MAIN = """\
import time
from machine import ADC, Pin
a = ADC(Pin(34))
print("at0", a.read_u16())
a.atten(ADC.ATTN_11DB)
print("at11", a.read_u16(), a.read(), a.read_uv())
b = ADC(Pin(35), atten=ADC.ATTN_6DB)
print("kw6", b.read_uv())
a.width(ADC.WIDTH_9BIT)
print("w9", a.read())
for bad in (lambda: a.atten(7), lambda: a.width(8)):
    try:
        bad()
    except ValueError as e:
        print("bad", e)
print("DONE")
while True:
    time.sleep_ms(100)
"""

RP2_MAIN = """\
import time
from machine import ADC
a = ADC(26)
print("has_atten", hasattr(a, "atten"), hasattr(ADC, "ATTN_11DB"))
try:
    ADC(27, atten=3)
except TypeError as e:
    print("kw", e)
print("DONE")
while True:
    time.sleep_ms(100)
"""


async def _run(tmp_path: Path, profile: BoardProfile, main: str, volts: dict[int, float]) -> dict[str, list[str]]:
    firmware = tmp_path / "firmware"
    firmware.mkdir()
    (firmware / "main.py").write_text(main)
    board = SimulatedBoard(device_id="adc-1", profile=profile, firmware_dir=firmware, device_config={},
                           work_dir=tmp_path / "work", seed=1)
    for pin, value in volts.items():
        board.model.adc.set_voltage(profile.adc_gpio_channels[pin], value)
        board.model.adc.set_noise(profile.adc_gpio_channels[pin], 0.0)
    async with board:
        await board.wait_for_output("^DONE$", timeout=60)
        lines = list(board.log_lines)
    found: dict[str, list[str]] = {}
    for line in lines:
        label, _, rest = line.partition(" ")
        found.setdefault(label, []).append(rest)
    return found


async def test_attenuation_sets_the_full_scale_a_2_volt_signal_is_read_against(tmp_path: Path) -> None:
    out = await _run(tmp_path, ESP32, ESP32_MAIN, {34: 2.0, 35: 1.0})
    assert out["at0"] == ["65535"]  # 2 V clips at 0 dB (1.1 V full scale)
    full_scale_11db = ESP32.adc_vref * ESP32_ATTEN_GAIN[3]
    assert full_scale_11db == pytest.approx(3.9, abs=0.01)  # Espressif's nominal figure
    u16, raw, uv = map(int, out["at11"][0].split())
    assert raw == int(2.0 / full_scale_11db * 4096) and u16 >> 4 == raw
    assert uv == pytest.approx(2_000_000, abs=full_scale_11db * 1e6 / 4096)
    assert int(out["kw6"][0]) == pytest.approx(1_000_000, abs=2.2e6 / 4096)  # ADC(pin, atten=ATTN_6DB)
    assert int(out["w9"][0]) == raw >> 3  # a 9-bit legacy read
    assert out["bad"] == ["invalid attenuation", "invalid bit-width"]


async def test_the_rp2_adc_has_no_attenuation(tmp_path: Path) -> None:
    out = await _run(tmp_path, PICO_W, RP2_MAIN, {26: 1.0})
    assert out["has_atten"] == ["False False"]
    assert re.fullmatch(r"extra keyword arguments given", out["kw"][0])
