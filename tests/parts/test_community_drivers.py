"""Drivers nobody here wrote, from PyPI, copied unchanged onto a twin board's flash as `mpremote cp` would.

Each driver runs in the MicroPython VM against a part model wired to I2C(0) on GP4/GP5 and must read
the model's values within the sensor's resolution. The model is noise-free here, so a mismatch is
the model's (or the bus's) fault, not noise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from testkit import copy_distribution, values_until_done

from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.board.profiles import PICO_W
from labtwin.twin.parts.aht20 import Aht20
from labtwin.twin.parts.bmp581 import Bmp581
from labtwin.twin.parts.i2c import I2CTarget
from labtwin.twin.parts.ina228 import Ina228
from labtwin.twin.parts.sht4x import Sht4x

I2C0 = "from machine import I2C, Pin\ni2c = I2C(0, sda=Pin(4), scl=Pin(5))\n"
DONE = "import time\nprint('DONE')\nwhile True:\n    time.sleep_ms(50)\n"


async def _run(tmp_path: Path, distribution: str, main: str, part: I2CTarget) -> dict[str, str]:
    firmware = tmp_path / "firmware"
    firmware.mkdir()
    copy_distribution(distribution, firmware)
    (firmware / "main.py").write_text(I2C0 + main + DONE)
    board = SimulatedBoard(device_id="driver-board", profile=PICO_W, firmware_dir=firmware, device_config={},
                           work_dir=tmp_path / "work", seed=1)
    board.model.attach_i2c(part, sda=4, scl=5)
    return await values_until_done(board)


async def test_micropython_ahtx0_reads_the_aht20_model(tmp_path: Path):
    part = Aht20(temperature=19.5, humidity=33.3, noise=0.0)
    values = await _run(tmp_path, "micropython-ahtx0", (
        "import ahtx0\n"
        "sensor = ahtx0.AHT20(i2c)\n"
        "print('temperature=' + str(sensor.temperature))\n"
        "print('humidity=' + str(sensor.relative_humidity))\n"), part)
    # 20-bit conversions: 200 °C / 2^20 and 100 %RH / 2^20 per step.
    assert float(values["temperature"]) == pytest.approx(19.5, abs=2e-4)
    assert float(values["humidity"]) == pytest.approx(33.3, abs=2e-4)


async def test_micropython_bmp581_reads_the_bmp581_model(tmp_path: Path):
    part = Bmp581(0x47, temperature=21.1, pressure=98_765.4, noise=0.0)
    values = await _run(tmp_path, "micropython-bmp581", (
        "import time\n"
        "from micropython_bmp581 import bmp581\n"
        "sensor = bmp581.BMP581(i2c)\n"
        "time.sleep_ms(20)\n"  # its first conversion (the driver itself does not wait for one)
        "print('temperature=' + str(sensor.temperature))\n"
        "print('pressure_kpa=' + str(sensor.pressure))\n"), part)
    assert float(values["temperature"]) == pytest.approx(21.1, abs=1 / 65536 * 2)
    assert float(values["pressure_kpa"]) * 1000 == pytest.approx(98_765.4, abs=1 / 64 * 2)


async def test_micropython_ina228_reads_the_ina228_model(tmp_path: Path):
    part = Ina228(0x40, bus_voltage=12.34, current=1.234, shunt_resistance=0.015, noise=0.0)
    values = await _run(tmp_path, "micropython-ina228", (
        "import ina228\n"
        "meter = ina228.INA228(i2c, shunt_resistance=0.015, max_current=10)\n"
        "print('voltage=' + str(meter.voltage))\n"
        "print('current=' + str(meter.current))\n"
        "print('power=' + str(meter.power))\n"), part)
    assert float(values["voltage"]) == pytest.approx(12.34, abs=195.3125e-6 * 2)
    current_lsb = 10 / 2**19  # the driver's CURRENT_LSB for max_current=10 A
    assert float(values["current"]) == pytest.approx(1.234, abs=current_lsb * 2)
    assert float(values["power"]) == pytest.approx(12.34 * 1.234, rel=1e-3)


async def test_micropython_sht4x_reads_the_sht4x_model_after_its_heater_wait(tmp_path: Path):
    # The driver reads right after its measure command unless a heater mode makes it sleep first;
    # a real SHT4x NACKs that early read (busy up to 8.3 ms), and so does the model: the plain
    # read fails with the port's EIO, as it does on a Pico (the driver's upstream issue #1).
    part = Sht4x(0x44, temperature=24.25, humidity=51.5, noise=0.0)
    values = await _run(tmp_path, "micropython-sht4x", (
        "from micropython_sht4x import sht4x\n"
        "sensor = sht4x.SHT4X(i2c)\n"
        "try:\n"
        "    sensor.measurements\n"
        "    print('early_read=ok')\n"
        "except OSError as e:\n"
        "    print('early_read=errno' + str(e.args[0]))\n"
        "import time\n"
        "time.sleep_ms(10)\n"  # the chip finishes the refused measurement; it NACKs commands until then
        "sensor.heater_power = sht4x.HEATER20mW\n"
        "sensor.heat_time = sht4x.TEMP_0_1\n"
        "temperature, humidity = sensor.measurements\n"
        "print('temperature=' + str(temperature))\n"
        "print('humidity=' + str(humidity))\n"), part)
    assert values["early_read"] == "errno5"
    assert float(values["temperature"]) == pytest.approx(24.25, abs=175 / 65535 * 2)
    assert float(values["humidity"]) == pytest.approx(51.5, abs=125 / 65535 * 2)
