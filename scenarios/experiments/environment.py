"""The seed's environmental-monitoring example, end to end: the OT-2 mixes, a Pico W reads the enclosure
(BME280 air, DS18B20 probe, HX711 load cell), the orchestrator switches a cooler on above 25 °C until
the temperature falls below it, then a pump doses the vessel on the load cell.

The experiment is written only against the task-client interface, so it runs unchanged on a bench
wired like :func:`wire_environment_bench`. The board firmware is the example lab's
(examples/environment/firmware: its own tasks and drivers) laid over the stock framework.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labtwin.board_firmware import packaged_dir
from labtwin.errors import ExperimentFailed
from labtwin.orchestrator.task_client import AsyncTaskClient
from labtwin.scenarios.labs.twin_lab_options import wire_default_bench
from labtwin.twin.board.model import BoardModel
from labtwin.twin.parts.bme280 import Bme280
from labtwin.twin.parts.ds18b20 import Ds18b20
from labtwin.twin.parts.hx711 import Hx711
from labtwin.twin.parts.pump import Pump, Vessel
from labtwin.twin.parts.quantity import RandomWalk
from labtwin.twin.parts.thermal import Cooler, ThermalMass

__all__ = ["ENVIRONMENT_FIRMWARE_DIR", "EnvironmentReport", "run_environment_experiment", "wire_environment_bench"]

ENVIRONMENT_FIRMWARE_DIR = packaged_dir("labtwin.examples.environment.firmware", "examples/environment/firmware")
"""The example lab's firmware overlay: main.py, environment_tasks.py and lib/ (bme280, hx711)."""

# The example's wiring, as its firmware (environment_tasks.py) expects it.
I2C_SDA, I2C_SCL, BME280_ADDRESS = 4, 5, 0x76
ONEWIRE_PIN = 22
HX711_DOUT, HX711_SCK = 16, 17
PUMP_PIN, COOLER_PIN = 18, 19
# The enclosure starts warm; the cooler is a strong Peltier so the demo shows the fall in seconds.
ENCLOSURE_START_C = 26.0
COOLER_C_PER_S = 0.25
PUMP_FLOW_ML_S = 2.0
LOAD_CELL_COUNTS_PER_GRAM = 420.0
VESSEL_TARE_G = 85.0


def wire_environment_bench(model: BoardModel) -> None:
    """Wire the example's enclosure to a Pico W model (also the default bench: the stock tasks still work).

    One :class:`ThermalMass` is the enclosure: the BME280 and the DS18B20 read it and the cooler moves
    it. One :class:`Vessel` sits on the HX711's load cell and the pump fills it.
    """
    wire_default_bench(model)
    seed = int.from_bytes(model.unique_id[:4], "big")
    enclosure = ThermalMass(ENCLOSURE_START_C, time_constant_s=600.0, name="enclosure", trace=model.trace)
    model.attach_i2c(Bme280(BME280_ADDRESS, temperature=enclosure, pressure=101_325.0,
                            humidity=RandomWalk(45.0, sigma=0.05, seed=seed, low=0.0, high=100.0), seed=seed,
                            trace=model.trace), sda=I2C_SDA, scl=I2C_SCL)
    model.attach_onewire(Ds18b20(enclosure, trace=model.trace), pin=ONEWIRE_PIN)
    vessel = Vessel("vessel", VESSEL_TARE_G)
    # Each twin pin edge is a host round trip (~0.1 ms), longer than the chip's 60 us power-down
    # threshold, which a real board's bit-banging never reaches: power-down is left off.
    model.attach_gpio_part(Hx711(HX711_SCK, HX711_DOUT, weight=vessel, counts_per_gram=LOAD_CELL_COUNTS_PER_GRAM,
                                 seed=seed, power_down_s=None, trace=model.trace))
    model.attach_gpio_part(Pump(PUMP_PIN, vessel, flow_ml_s=PUMP_FLOW_ML_S, trace=model.trace))
    model.attach_gpio_part(Cooler(COOLER_PIN, enclosure, cooling_c_per_s=COOLER_C_PER_S))


@dataclass
class EnvironmentReport:
    """What the experiment saw: every environment reading (with its wall time) and the dose."""

    ot2_id: str
    board_id: str
    threshold_c: float
    mix: dict[str, Any] = field(default_factory=dict)
    readings: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    cooler_on_at: float | None = None
    cooler_off_at: float | None = None
    dose: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def reading_line(elapsed_s: float, reading: dict[str, Any]) -> str:
        """One reading, readable."""
        return (f"  t={elapsed_s:5.1f} s  air {reading['temperature_c']:6.2f} °C  probe "
                f"{reading['probe_temperature_c']:7.3f} °C  RH {reading['humidity_pct']:5.1f} %  "
                f"{reading['pressure_hpa']:8.2f} hPa  vessel {reading['weight_g']:7.2f} g  "
                f"cooler {'on' if reading['cooler'] else 'off'}")

    def summary_lines(self) -> list[str]:
        """The temperature's fall and the dose, in a few lines."""
        first, last = self.readings[0][1], self.readings[-1][1]
        lines = [f"Summary on {self.board_id}: air {first['temperature_c']:.2f} -> {last['temperature_c']:.2f} °C "
                 f"over {len(self.readings)} readings (threshold {self.threshold_c:g} °C)"]
        if self.cooler_on_at is not None and self.cooler_off_at is not None:
            lines.append(f"  cooler on for {self.cooler_off_at - self.cooler_on_at:.1f} s")
        if self.dose:
            rise = self.dose["weight_after_g"] - self.dose["weight_before_g"]
            lines.append(f"  dosed {self.dose['volume_ml']:g} mL: vessel {self.dose['weight_before_g']:.2f} -> "
                         f"{self.dose['weight_after_g']:.2f} g (+{rise:.2f} g)")
        return lines


async def run_environment_experiment(
    ot2: AsyncTaskClient,
    board: AsyncTaskClient,
    *,
    threshold_c: float = 25.0,
    dose_ml: float = 5.0,
    cool_timeout_s: float = 60.0,
    report: Callable[[str], None] = print,
) -> EnvironmentReport:
    """The seed's flow: mix on the OT-2, read the environment, cool above ``threshold_c``, dose the vessel.

    Raises:
        ExperimentFailed: the temperature does not fall below the threshold within ``cool_timeout_s``
            of cooling, or the vessel's weight does not rise by the dose (within 10 %).
    """
    result = EnvironmentReport(ot2.device_id, board.device_id, threshold_c)
    started = time.monotonic()

    async def read() -> dict[str, Any]:
        reading: dict[str, Any] = await board.execute_task("read_environment")
        elapsed = time.monotonic() - started
        result.readings.append((elapsed, reading))
        report(result.reading_line(elapsed, reading))
        return reading

    report(f"Environmental monitoring: {ot2.device_id} mixes (HTTP), {board.device_id} watches the enclosure (MQTT)")
    result.mix = await ot2.execute_task("mix_color", red_ul=100, yellow_ul=100, blue_ul=0, well="A1")
    report(f"  OT-2 mixed well A1 (estimated robot time {result.mix['estimated_robot_s']:.1f} s)")
    reading = await read()
    if reading["temperature_c"] > threshold_c:
        report(f"  above {threshold_c:g} °C: cooler on")
        await board.execute_task("set_cooler", on=True)
        result.cooler_on_at = time.monotonic() - started
        while reading["temperature_c"] >= threshold_c:
            if time.monotonic() - started - result.cooler_on_at > cool_timeout_s:
                raise ExperimentFailed(f"the cooler ran {cool_timeout_s:g} s and the air stayed at "
                                       f"{reading['temperature_c']:.2f} °C (threshold {threshold_c:g} °C)")
            reading = await read()
        await board.execute_task("set_cooler", on=False)
        result.cooler_off_at = time.monotonic() - started
        report(f"  below {threshold_c:g} °C: cooler off")
    result.dose = await board.execute_task("dispense", volume_ml=dose_ml)
    rise = result.dose["weight_after_g"] - result.dose["weight_before_g"]
    if abs(rise - dose_ml) > 0.1 * dose_ml:  # water: 1 g per mL
        raise ExperimentFailed(f"dispensed {dose_ml:g} mL but the vessel's weight rose by {rise:.2f} g")
    await read()
    return result
