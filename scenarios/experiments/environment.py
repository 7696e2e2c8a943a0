"""The seed's environmental-monitoring example, end to end: the OT-2 mixes, a Pico W reads the enclosure
(BME280 air, DS18B20 probe, HX711 load cell), the orchestrator switches a cooler on above 25 °C until
the temperature falls below it, then a pump doses the vessel on the load cell.

The experiment is written only against the task-client interface, so it runs unchanged on a bench
wired as the example's lab file says (examples/environment/lab.toml, which ``labtwin run
environment`` runs on). The board firmware is the example lab's (examples/environment/firmware: its
own tasks and drivers) laid over the stock framework.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labtwin.board_firmware import packaged_dir
from labtwin.errors import ExperimentFailed
from labtwin.orchestrator.task_client import AsyncTaskClient

__all__ = ["ENVIRONMENT_FIRMWARE_DIR", "ENVIRONMENT_LAB_FILE", "EnvironmentReport", "run_environment_experiment"]

ENVIRONMENT_FIRMWARE_DIR = packaged_dir("labtwin.examples.environment.firmware", "examples/environment/firmware")
"""The example lab's firmware overlay: main.py, environment_tasks.py and lib/ (bme280, hx711)."""
ENVIRONMENT_LAB_FILE = ENVIRONMENT_FIRMWARE_DIR.parent / "lab.toml"
"""The example lab: its board, the firmware overlay, the parts and the quantities that couple them."""


@dataclass
class EnvironmentReport:
    """What the experiment saw: every environment reading (with its time: lab time on a twin) and the dose."""

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
    clock = asyncio.get_running_loop()  # on a twin its time() is lab time, in which the air cools
    started = clock.time()

    async def read() -> dict[str, Any]:
        reading: dict[str, Any] = await board.execute_task("read_environment")
        elapsed = clock.time() - started
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
        result.cooler_on_at = clock.time() - started
        while reading["temperature_c"] >= threshold_c:
            if clock.time() - started - result.cooler_on_at > cool_timeout_s:
                raise ExperimentFailed(f"the cooler ran {cool_timeout_s:g} s and the air stayed at "
                                       f"{reading['temperature_c']:.2f} °C (threshold {threshold_c:g} °C)")
            reading = await read()
        await board.execute_task("set_cooler", on=False)
        result.cooler_off_at = clock.time() - started
        report(f"  below {threshold_c:g} °C: cooler off")
    result.dose = await board.execute_task("dispense", volume_ml=dose_ml)
    rise = result.dose["weight_after_g"] - result.dose["weight_before_g"]
    if abs(rise - dose_ml) > 0.1 * dose_ml:  # water: 1 g per mL
        raise ExperimentFailed(f"dispensed {dose_ml:g} mL but the vessel's weight rose by {rise:.2f} g")
    await read()
    return result
