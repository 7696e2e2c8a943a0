"""I2C cost benchmark: a register read through the hardware bus, and a full BME280 read by a driver.

Boots one simulated Pico W with a BME280 model on I2C(0) (GP4/GP5) and runs, in the MicroPython VM,
interleaved so a busy machine weighs on all alike:
  * adc:    ``ADC(26).read_u16()``, the bus call every board makes (the baseline);
  * reg:    ``I2C.readfrom_mem(0x76, 0xD0, 2)``, one register read;
  * bme280: ``BME280.read()`` of examples/environment/firmware/lib/bme280.py: an 8-byte burst of the
    data registers and the datasheet's integer compensation in MicroPython (what a driver does
    once the chip has converted; the conversion itself takes lab time, not bus time).
It prints the median and p90 of each in microseconds and the reg / adc ratio.

    python benchmarks/i2c_bus.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
from pathlib import Path

from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.board.profiles import PICO_W
from labtwin.twin.parts.bme280 import Bme280

DRIVER = Path(__file__).resolve().parents[1] / "examples" / "environment" / "firmware" / "lib" / "bme280.py"

FIRMWARE = """\
import time
from machine import ADC, I2C, Pin
import bme280

def median_p90(fn, n):
    for _ in range(50):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.ticks_us()
        fn()
        samples.append(time.ticks_diff(time.ticks_us(), t0))
    samples.sort()
    return samples[len(samples) // 2], samples[len(samples) * 9 // 10]

i2c = I2C(0, sda=Pin(4), scl=Pin(5))
adc = ADC(26)
sensor = bme280.BME280(i2c)
sensor.measure()
for _ in range(3):
    print("adc", *median_p90(adc.read_u16, CALLS))
    print("reg", *median_p90(lambda: i2c.readfrom_mem(0x76, 0xD0, 2), CALLS))
    print("bme280", *median_p90(sensor.read, CALLS))
print("DONE")
while True:
    time.sleep_ms(100)
"""


async def measure(calls: int) -> dict[str, list[tuple[int, int]]]:
    """Boot the board, run the firmware, return each label's (median, p90) per round in µs."""
    with tempfile.TemporaryDirectory(prefix="labtwin-i2c-bench-") as scratch:
        firmware = Path(scratch) / "firmware"
        (firmware / "lib").mkdir(parents=True)
        shutil.copy2(DRIVER, firmware / "lib" / "bme280.py")
        (firmware / "main.py").write_text(FIRMWARE.replace("CALLS", str(calls)))
        board = SimulatedBoard(device_id="i2c-bench", profile=PICO_W, firmware_dir=firmware, device_config={},
                               work_dir=Path(scratch) / "work", seed=1)
        board.model.attach_i2c(Bme280(0x76, temperature=23.5, pressure=101_325.0, humidity=45.0), sda=4, scl=5)
        async with board:
            await board.wait_for_output("^DONE$", timeout=600)
            lines = list(board.log_lines)
    rounds: dict[str, list[tuple[int, int]]] = {}
    for label, median, p90 in re.findall(r"^(adc|reg|bme280) (\d+) (\d+)$", "\n".join(lines), re.MULTILINE):
        rounds.setdefault(label, []).append((int(median), int(p90)))
    return rounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per measurement round (default: 2000)")
    args = parser.parse_args(argv)
    if args.calls < 10:
        parser.error("--calls must be at least 10")
    rounds = asyncio.run(measure(args.calls))
    print(f"{args.calls} calls per round, 3 rounds interleaved, one simulated Pico W, MicroPython VM")
    print("| call | median µs (per round) | p90 µs (per round) |")
    print("|---|---|---|")
    for label, what in (("adc", "ADC.read_u16 (baseline)"), ("reg", "I2C.readfrom_mem, 2 bytes"),
                        ("bme280", "BME280.read: 8-byte burst + compensation")):
        medians = ", ".join(str(m) for m, _ in rounds[label])
        p90s = ", ".join(str(p) for _, p in rounds[label])
        print(f"| {what} | {medians} | {p90s} |")
    best = {label: min(m for m, _ in values) for label, values in rounds.items()}
    print(f"register read / ADC read (best medians): {best['reg'] / best['adc']:.2f}x")
    print(f"full BME280 read: {best['bme280'] / 1000:.2f} ms (best median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
