"""The seed's hybrid experiment: the OT-2 mixes colours (HTTP), a Pico W reads a sensor after each mix (MQTT).

Written only against the task-client interface, so it runs unchanged against the real bench:
the OT-2 behind its DeviceServer, the Pico W behind the broker.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from labtwin.orchestrator.task_client import AsyncTaskClient

__all__ = ["DEFAULT_MIXES", "ColorMix", "HybridReport", "MixAndReading", "run_hybrid_experiment"]


@dataclass(frozen=True)
class ColorMix:
    """One colour to mix: µL of each dye, and the plate well to mix it in."""

    name: str
    red_ul: float
    yellow_ul: float
    blue_ul: float
    well: str


DEFAULT_MIXES = (
    ColorMix("orange", 120, 120, 0, "A1"),
    ColorMix("green", 0, 120, 120, "A2"),
    ColorMix("purple", 120, 0, 120, "A3"),
    ColorMix("brown", 80, 80, 80, "A4"),
)


@dataclass(frozen=True)
class MixAndReading:
    """One step: the OT-2's mix and the sensor reading taken after it, with round-trip times."""

    mix: ColorMix
    mix_result: dict[str, Any]
    mix_ms: float
    reading: dict[str, Any]
    read_ms: float


@dataclass
class HybridReport:
    """Everything the experiment measured."""

    ot2_id: str
    sensor_id: str
    sensor_pin: int
    steps: list[MixAndReading] = field(default_factory=list)
    deck: dict[str, Any] = field(default_factory=dict)

    @property
    def estimated_robot_s(self) -> float:
        """Robot time of the mixes by opentrons' estimate (a lower bound: see docs/ot2-twin.md)."""
        return sum(float(s.mix_result["estimated_robot_s"]) for s in self.steps)

    def table_header(self) -> list[str]:
        """Column titles of the table rows."""
        return [f"  {'mix':8} {'well':4} {'red':>5} {'yellow':>6} {'blue':>5}  {'robot est.':>10} {'HTTP ms':>8}"
                f"  | GP{self.sensor_pin} V   {'MQTT ms':>7}"]

    def table_row(self, step: MixAndReading) -> str:
        """One row: the mix, its estimated robot time and round trip, the reading and its round trip."""
        m = step.mix
        return (f"  {m.name:8} {m.well:4} {m.red_ul:>5g} {m.yellow_ul:>6g} {m.blue_ul:>5g}  "
                f"{step.mix_result['estimated_robot_s']:>8.1f} s {step.mix_ms:>8.1f}  | "
                f"{step.reading['voltage']:>7.3f} {step.read_ms:>9.1f}")

    def summary_lines(self) -> list[str]:
        """The deck after the run, the robot-time estimate, and round-trip statistics."""
        deck = self.deck
        reservoir = ", ".join(f"{liquid} {volume:,.0f}" for liquid, volume in deck["reservoir_ul"].items())
        minutes, seconds = divmod(self.estimated_robot_s, 60)
        http = [s.mix_ms for s in self.steps]
        mqtt = [s.read_ms for s in self.steps]
        return [
            f"Summary of {len(self.steps)} mixes on {self.ot2_id} with readings from {self.sensor_id}:",
            f"  deck after the run: {deck['tips_used']} tips used, {deck['tips_left']} left; "
            f"reservoir µL: {reservoir}",
            f"  robot time by opentrons' estimate: {int(minutes)} min {seconds:.0f} s (a lower bound)",
            f"  round trips: HTTP mix_color median {statistics.median(http):.1f} ms, "
            f"MQTT read_sensor median {statistics.median(mqtt):.1f} ms",
        ]


async def run_hybrid_experiment(
    ot2: AsyncTaskClient,
    sensor: AsyncTaskClient,
    *,
    mixes: Sequence[ColorMix] = DEFAULT_MIXES,
    sensor_pin: int = 26,
    report: Callable[[str], None] = print,
) -> HybridReport:
    """Mix each colour on the OT-2, read the sensor after each mix, report a table row per step."""
    result = HybridReport(ot2.device_id, sensor.device_id, sensor_pin)
    report(f"Hybrid experiment: {ot2.device_id} mixes (HTTP), {sensor.device_id} reads GP{sensor_pin} (MQTT)")
    for line in result.table_header():
        report(line)
    for mix in mixes:
        started = time.perf_counter()
        mixed = await ot2.execute_task("mix_color", red_ul=mix.red_ul, yellow_ul=mix.yellow_ul,
                                       blue_ul=mix.blue_ul, well=mix.well)
        mixed_at = time.perf_counter()
        reading = await sensor.execute_task("read_sensor", sensor_pin=sensor_pin)
        read_at = time.perf_counter()
        step = MixAndReading(mix, mixed, (mixed_at - started) * 1000, reading, (read_at - mixed_at) * 1000)
        result.steps.append(step)
        report(result.table_row(step))
    result.deck = await ot2.execute_task("deck_state")
    return result
