"""The named scenarios `labtwin run NAME` knows: a typed registry, not reflection.

Two kinds: experiments run once, step by step, on one lab (`EXPERIMENTS`); property scenarios are
Hypothesis state machines run under budgets, a fresh lab per example (`PROPERTY_SCENARIOS`).
"""

from __future__ import annotations

from labtwin.scenarios.engine.experiment import Experiment, Report
from labtwin.scenarios.engine.runner import Budget, PropertyScenario
from labtwin.scenarios.experiments.environment import ENVIRONMENT_LAB_FILE, run_environment_experiment
from labtwin.scenarios.experiments.hybrid import run_hybrid_experiment
from labtwin.scenarios.experiments.logger import DEFAULT_DURATION_S, run_logger_experiment
from labtwin.scenarios.experiments.robot_api import run_robot_api_experiment
from labtwin.scenarios.experiments.sensor import run_sensor_experiment
from labtwin.scenarios.labs.lab import Capability, Lab, twin_hardware
from labtwin.scenarios.labs.twin_lab_options import BENCH_SERVO_PIN
from labtwin.scenarios.properties.chaos import Chaos, DuplicateDelivery, LinkRecovery
from labtwin.scenarios.properties.hybrid import HybridProperty
from labtwin.scenarios.properties.sensor import SensorProperty
from labtwin.twin.parts.thermal import Cooler

__all__ = ["DEFAULT_SCENARIO", "PROPERTY_SCENARIOS", "EXPERIMENTS", "Experiment"]


async def _sensor(lab: Lab, report: Report) -> None:
    for device_id in lab.device_ids:
        result = await run_sensor_experiment(lab.client(device_id), report=report)
        for line in result.summary_lines():
            report(line)
        if Capability.HARDWARE not in lab.capabilities:
            continue  # a bench: its hardware cannot be looked into
        model = twin_hardware(lab).board(device_id).model
        servo = (f"servo GP{BENCH_SERVO_PIN} at {model.servo_angle(BENCH_SERVO_PIN):.1f} degrees"
                 if BENCH_SERVO_PIN in model.servos else f"no servo wired to GP{BENCH_SERVO_PIN}")
        report(f"  twin hardware: LED {'on' if model.led else 'off'}, {servo}, {len(model.hazards)} hazard(s)")


async def _logger(lab: Lab, report: Report, duration: float = DEFAULT_DURATION_S) -> None:
    await run_logger_experiment(lab.client(lab.device_ids[0]), lab.clock, duration=duration,
                                servo_pin=BENCH_SERVO_PIN, report=report)


async def _hybrid(lab: Lab, report: Report) -> None:
    result = await run_hybrid_experiment(lab.ot2_client(), lab.client(lab.device_ids[0]), report=report)
    for line in result.summary_lines():
        report(line)
    if Capability.HARDWARE not in lab.capabilities:
        return  # a bench OT-2 keeps no twin run log
    twin = twin_hardware(lab).ot2_twin()
    entries = twin.run_log()
    commands = sum(len(entry["commands"]) for entry in entries)
    report(f"  twin run log: {len(entries)} task call(s), {commands} robot commands")


async def _environment(lab: Lab, report: Report) -> None:
    device_id = lab.device_ids[0]
    result = await run_environment_experiment(lab.ot2_client(), lab.client(device_id), report=report)
    for line in result.summary_lines():
        report(line)
    if Capability.HARDWARE not in lab.capabilities:
        return  # a bench: its enclosure cannot be looked into
    model = twin_hardware(lab).board(device_id).model
    enclosure = model.part(Cooler).mass
    report(f"  twin model: enclosure {enclosure.value(0.0):.2f} °C at lab start, "
           f"{enclosure.value(model.clock.now()):.2f} °C now")


async def _robot_api(lab: Lab, report: Report) -> None:
    from labtwin.orchestrator.ot2_robot_client import AsyncOT2RobotClient

    twin = twin_hardware(lab, Capability.OT2_ROBOT_API).ot2_robot_api_twin()
    assert twin.url is not None
    async with AsyncOT2RobotClient(twin.url) as robot:
        await run_robot_api_experiment(robot, twin.control, report)


EXPERIMENTS: dict[str, Experiment] = {
    s.name: s
    for s in [
        Experiment("sensor", "The seed's sensor experiment: LED on, read ADC 26/27/28, LED off, "
                           "servo to 90 degrees, device status.", _sensor),
        Experiment("logger", "Logs a sensor every 10 s and moves the servo every minute for --duration of lab time "
                           "(default 10 min; try --speed max).", _logger),
        Experiment("hybrid", "The seed's hybrid experiment: the OT-2 twin mixes colours over HTTP, the Pico W "
                           "reads a sensor over MQTT after each mix; a table of both.", _hybrid, needs_ot2=True),
        Experiment("environment", "The seed's environmental monitoring: the OT-2 mixes, a Pico W reads a BME280, a "
                                "DS18B20 and an HX711 load cell, a cooler runs until the enclosure is below 25 °C, "
                                "a pump doses the vessel (examples/environment/lab.toml).", _environment,
                   needs_ot2=True, lab_file=ENVIRONMENT_LAB_FILE),
        Experiment("robot-api", "A protocol run through the OT-2's own HTTP API, then a tip-pickup failure, the "
                              "door opening mid-run and a 503, on the robot API twin.", _robot_api,
                 needs_ot2_robot_api=True),
    ]
}
DEFAULT_SCENARIO = "sensor"

PROPERTY_SCENARIOS: dict[str, PropertyScenario] = {
    s.name: s
    for s in [
        PropertyScenario("sensor-property", SensorProperty, Budget(examples=5, steps=15)),
        PropertyScenario("chaos", Chaos, Budget(examples=4, steps=25)),
        PropertyScenario("hybrid-property", HybridProperty, Budget(examples=3, steps=12)),
        PropertyScenario("duplicate-delivery", DuplicateDelivery, Budget(examples=8, steps=12)),
        PropertyScenario("link-recovery", LinkRecovery, Budget(examples=5, steps=12)),
    ]
}
