"""The seed's sensor experiment: LED on, read ADC pins, LED off, move the servo, query status.

Written only against the orchestrator client, so it runs unchanged against real boards.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from labtwin.orchestrator.mqtt_client import AsyncMQTTOrchestratorClient

__all__ = ["SensorExperimentReport", "Step", "run_sensor_experiment"]


@dataclass(frozen=True)
class Step:
    """One task call: what was asked, what came back, and the round-trip time."""

    task: str
    parameters: dict[str, Any]
    result: Any
    round_trip_ms: float


@dataclass
class SensorExperimentReport:
    """Everything the experiment measured."""

    device_id: str
    steps: list[Step] = field(default_factory=list)

    @property
    def readings(self) -> list[dict[str, Any]]:
        return [s.result for s in self.steps if s.task == "read_sensor"]

    @property
    def average_voltage(self) -> float:
        return statistics.fmean(r["voltage"] for r in self.readings)

    @property
    def device_status(self) -> dict[str, Any]:
        return next(s.result for s in reversed(self.steps) if s.task == "get_device_status")

    def round_trips_ms(self) -> list[float]:
        return [s.round_trip_ms for s in self.steps]

    def summary_lines(self) -> list[str]:
        """A human-readable summary: readings, average, free memory, round-trip times."""
        lines = [f"Summary for {self.device_id}:"]
        for r in self.readings:
            lines.append(f"  ADC pin {r['sensor_pin']:>2}: {r['voltage']:.3f} V  (raw {r['raw_value']})")
        lines.append(f"  average voltage: {self.average_voltage:.3f} V")
        status = self.device_status
        lines.append(f"  device free memory: {status['free_memory']} bytes "
                     f"(firmware {status['firmware']}, {len(status['tasks_available'])} tasks)")
        rtts = sorted(self.round_trips_ms())
        lines.append(f"  round trips: {len(rtts)} calls, median {statistics.median(rtts):.1f} ms, "
                     f"min {rtts[0]:.1f} ms, max {rtts[-1]:.1f} ms (move_servo includes its 500 ms settle)")
        return lines


async def run_sensor_experiment(
    device: AsyncMQTTOrchestratorClient,
    *,
    sensor_pins: Sequence[int] = (26, 27, 28),
    led_pin: int | str = "LED",
    servo_pin: int = 15,
    servo_angle: int = 90,
    report: Callable[[str], None] = print,
) -> SensorExperimentReport:
    """Run the experiment step by step, reporting each step as it completes."""
    result = SensorExperimentReport(device.device_id)

    async def step(task: str, **parameters: Any) -> Any:
        shown = ", ".join(f"{k}={v!r}" for k, v in parameters.items())
        loop = asyncio.get_running_loop()  # its time: the lab's on a twin, the wall's on a bench
        started = loop.time()
        value = await device.call(task, parameters)
        elapsed_ms = (loop.time() - started) * 1000
        result.steps.append(Step(task, parameters, value, elapsed_ms))
        report(f"  {task}({shown}) -> {_brief(value)}  [{elapsed_ms:.1f} ms]")
        return value

    report(f"Sensor experiment on {device.device_id}")
    await step("control_led", pin=led_pin, state=True)
    for pin in sensor_pins:
        await step("read_sensor", sensor_pin=pin)
    await step("control_led", pin=led_pin, state=False)
    await step("move_servo", pin=servo_pin, angle=servo_angle)
    await step("get_device_status")
    return result


def _brief(value: Any) -> str:
    if isinstance(value, dict) and "voltage" in value:
        return f"{value['voltage']:.3f} V (raw {value['raw_value']})"
    if isinstance(value, dict) and "free_memory" in value:
        return f"{value['free_memory']} bytes free, uptime {value['uptime_ms']} ms"
    return str(value)
