"""The example lab's BME280 reader (examples/environment/firmware/lib/bme280.py, written from the
datasheet) reads the BME280 model through machine.I2C within the sensor's resolution."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.board.profiles import ESP32, PICO_W, BoardProfile
from labtwin.twin.parts.bme280 import Bme280

DRIVER = Path(__file__).resolve().parents[2] / "examples" / "environment" / "firmware" / "lib" / "bme280.py"

MAIN = """\
import time
from machine import I2C, Pin
import bme280
sensor = bme280.BME280(I2C(0, sda=Pin(SDA), scl=Pin(SCL)), address=0x77)
for _ in range(2):
    t, p, h = sensor.measure()
    print('reading', t, p, h)
print('DONE')
while True:
    time.sleep_ms(50)
"""


@pytest.mark.parametrize(("profile", "sda", "scl"), [(PICO_W, 4, 5), (ESP32, 19, 18)], ids=["pico_w", "esp32"])
async def test_the_example_bme280_reader_reads_the_model_on_both_boards(tmp_path: Path, profile: BoardProfile,
                                                                         sda: int, scl: int) -> None:
    firmware = tmp_path / "firmware"
    (firmware / "lib").mkdir(parents=True)
    shutil.copy2(DRIVER, firmware / "lib" / "bme280.py")
    (firmware / "main.py").write_text(MAIN.replace("SDA", str(sda)).replace("SCL", str(scl)))
    board = SimulatedBoard(device_id="env-1", profile=profile, firmware_dir=firmware, device_config={},
                           work_dir=tmp_path / "work", seed=1)
    board.model.attach_i2c(Bme280(0x77, temperature=lambda t: 23.5 + t, pressure=101_325.0, humidity=45.0,
                                  noise=0.0), sda=sda, scl=scl)
    async with board:
        await board.wait_for_output("^DONE$", timeout=60)
        readings = re.findall(r"^reading (\S+) (\S+) (\S+)$", "\n".join(board.log_lines), re.MULTILINE)
    assert len(readings) == 2
    for temperature, pressure, humidity in readings:
        # x1 oversampling: 16-bit effective resolution, ~0.005 °C, 2.62 Pa and 0.008 %RH per step.
        assert float(pressure) == pytest.approx(101_325.0, abs=2.62)
        assert float(humidity) == pytest.approx(45.0, abs=0.02)
        assert 23.5 <= float(temperature) <= 23.5 + 60
    # The temperature follows lab time: the second forced measurement reads a later, warmer value.
    assert float(readings[1][0]) > float(readings[0][0])
