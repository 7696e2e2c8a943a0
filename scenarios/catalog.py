"""The named scenarios `labtwin run NAME` knows: a typed registry, not reflection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from scenarios.sensor_experiment import run_sensor_experiment
from scenarios.twin_lab import BENCH_SERVO_PIN, TwinLab

__all__ = ["DEFAULT_SCENARIO", "SCENARIOS", "Scenario"]

Report = Callable[[str], None]


@dataclass(frozen=True)
class Scenario:
    """A runnable experiment over a lab."""

    name: str
    summary: str
    run: Callable[[TwinLab, Report], Awaitable[None]]


async def _sensor(lab: TwinLab, report: Report) -> None:
    for device_id in lab.device_ids:
        result = await run_sensor_experiment(lab.client(device_id), report=report)
        for line in result.summary_lines():
            report(line)
        model = lab.board(device_id).model
        report(f"  twin hardware: LED {'on' if model.led else 'off'}, "
               f"servo GP{BENCH_SERVO_PIN} at {model.servo_angle(BENCH_SERVO_PIN):.1f} degrees, "
               f"{len(model.hazards)} hazard(s)")


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("sensor", "The seed's sensor experiment: LED on, read ADC 26/27/28, LED off, "
                           "servo to 90 degrees, device status.", _sensor),
    ]
}
DEFAULT_SCENARIO = "sensor"
