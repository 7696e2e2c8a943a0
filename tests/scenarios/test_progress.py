"""The live progress of a running scenario: a line rewritten in place on a terminal, throttled plain lines elsewhere."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hypothesis.stateful import rule

from labtwin.errors import ConfigError
from labtwin.scenarios.engine.progress import ProgressLine
from labtwin.scenarios.engine.run_record import ExampleRecord, StepRecord
from labtwin.scenarios.engine.runner import Budget, LabFactory, PropertyScenario, run_scenario
from labtwin.scenarios.engine.state_machine import LabStateMachine
from labtwin.scenarios.labs.lab import Capability, Lab
from labtwin.twin.clock import WallClock

if TYPE_CHECKING:
    from labtwin.orchestrator.http_client import AsyncHTTPOrchestratorClient
    from labtwin.orchestrator.mqtt_client import AsyncMQTTOrchestratorClient

TARGET = "pico-w-lab-002"


class TerminalStream(io.StringIO):
    """What a terminal would be sent, kept as text."""

    def isatty(self) -> bool:
        return True


class ManualClock:
    """Wall seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def step(record: ExampleRecord, rule: str, outcome: str, target: str | None = None) -> None:
    arguments: dict[str, Any] = {} if target is None else {"target": target}
    record.steps.append(StepRecord(len(record.steps), rule, arguments, 0.0, 0.0, outcome))


def screen(written: str) -> str:
    """What the terminal shows once ``written`` is drawn: each carriage return overwrites its line."""
    lines = [""]
    for part in written.replace("\n", "\n\x00").split("\x00"):
        for i, chunk in enumerate(part.split("\r")):
            if i:
                lines[-1] = chunk + lines[-1][len(chunk):]
            else:
                lines[-1] = lines[-1] + chunk
        if part.endswith("\n"):
            lines[-1] = lines[-1].rstrip("\n")
            lines.append("")
    return "\n".join(line.rstrip() for line in lines)


def terminal_line(clock: ManualClock) -> tuple[TerminalStream, ProgressLine]:
    stream = TerminalStream()
    return stream, ProgressLine(stream, clock=clock, columns=lambda: 120)


def test_a_terminal_line_names_the_active_fault_and_is_rewritten_in_place():
    clock = ManualClock()
    stream, line = terminal_line(clock)
    line.examples = 8
    record = ExampleRecord(index=2)
    line.update(record, 0.0)
    step(record, "fault.partition", "fault started", TARGET)
    clock.now = 1.0
    line.update(record, 12.4)

    assert "\n" not in stream.getvalue() and stream.getvalue().count("\r") == 2
    assert screen(stream.getvalue()) == f"  example 3/8  step 1  lab 12.4 s  fault: partition on {TARGET}"

    step(record, "clear.partition", "fault cleared", TARGET)
    clock.now = 2.0
    line.update(record, 13.0)
    assert screen(stream.getvalue()) == "  example 3/8  step 2  lab 13.0 s  no fault active"


def test_a_terminal_line_is_cleared_before_the_next_line_is_printed():
    clock = ManualClock()
    stream, line = terminal_line(clock)
    record = ExampleRecord(index=0)
    step(record, "fault.power_cut", "fault started", TARGET)
    line.update(record, 3.0)
    assert screen(stream.getvalue()).startswith("  example 1  step 1")

    line.clear()
    stream.write("  example 1: 1 steps, 1 faults, ok  [0.1 s]\n")
    assert screen(stream.getvalue()) == "  example 1: 1 steps, 1 faults, ok  [0.1 s]\n"


def test_a_terminal_line_is_drawn_at_most_four_times_a_second_and_the_held_back_one_later():
    clock = ManualClock()
    stream, line = terminal_line(clock)
    record = ExampleRecord(index=0)
    line.update(record, 0.0)
    for i in range(10):  # ten steps within 0.1 s: held back
        clock.now += 0.01
        step(record, "pico-a.read_sensor", "ok")
        line.update(record, float(i))
    assert stream.getvalue().count("\r") == 1

    step(record, "fault.latency", "fault started", TARGET)
    line.update(record, 10.0)
    line.refresh()  # too soon still
    assert stream.getvalue().count("\r") == 1
    clock.now = 0.3
    line.refresh()  # what the refresher thread does: the last update is drawn, though no step came since
    assert screen(stream.getvalue()) == f"  example 1  step 11  lab 10.0 s  fault: latency on {TARGET}"


def test_a_terminal_line_fits_the_terminal_width():
    clock = ManualClock()
    stream = TerminalStream()
    line = ProgressLine(stream, clock=clock, columns=lambda: 40)
    record = ExampleRecord(index=0)
    step(record, "fault.partition", "fault started", TARGET)
    line.update(record, 1.0)
    assert len(screen(stream.getvalue())) == 39 and screen(stream.getvalue()).endswith("...")


def test_several_faults_are_named_and_a_new_fault_replaces_the_old_on_its_target():
    clock = ManualClock()
    stream, line = terminal_line(clock)
    record = ExampleRecord(index=0)
    step(record, "fault.brown_out", "fault started", "pico-a")
    step(record, "fault.broker_outage", "fault started", "broker")
    step(record, "fault.partition", "fault started", "pico-a")
    line.update(record, 1.0)
    assert screen(stream.getvalue()).endswith("faults: broker_outage on broker, partition on pico-a")


def test_off_a_terminal_a_short_example_prints_nothing():
    clock = ManualClock()
    stream = io.StringIO()
    line = ProgressLine(stream, clock=clock)
    assert not line.tty
    record = ExampleRecord(index=0)
    line.update(record, 0.0)
    for i in range(50):
        clock.now += 0.1  # five seconds in all
        step(record, "fault.partition" if i == 10 else "pico-a.read_sensor",
             "fault started" if i == 10 else "ok", TARGET)
        line.update(record, float(i))
    line.clear()
    assert stream.getvalue() == ""


def test_off_a_terminal_a_long_example_prints_a_plain_line_every_ten_seconds():
    clock = ManualClock()
    stream = io.StringIO()
    line = ProgressLine(stream, clock=clock)
    line.examples = 4
    record = ExampleRecord(index=1)
    line.update(record, 0.0)
    step(record, "fault.wifi_loss", "fault started", TARGET)
    for tenth in range(1, 251):  # 25 seconds of steps, one every 0.1 s
        clock.now = tenth / 10
        line.update(record, clock.now)
    printed = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert len(printed) == 2
    assert printed[0].startswith("  example 2/4  step 1  lab 10.0 s")
    assert printed[0].endswith(f"fault: wifi_loss on {TARGET}")

    next_example = ExampleRecord(index=2)
    clock.now += 0.1
    line.update(next_example, 0.0)  # a new example starts its own ten seconds
    assert len(stream.getvalue().splitlines()) == 2


# --- a property run: the engine tells the line of each step --------------------------------------


class QuietLab:
    """A lab with no processes: enough for the engine to run steps."""

    description = "quiet lab"
    device_ids: list[str] = []
    capabilities: frozenset[Capability] = frozenset({Capability.FAULTS})
    broker_address = None
    ot2_url = None
    ot2_robot_api_url = None

    def __init__(self) -> None:
        self.clock = WallClock()

    def client(self, device_id: str) -> AsyncMQTTOrchestratorClient:
        raise ConfigError(f"no device {device_id!r} in the quiet lab")

    def ot2_client(self) -> AsyncHTTPOrchestratorClient:
        raise ConfigError("the quiet lab has no OT-2")

    async def __aenter__(self) -> QuietLab:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pass


async def open_quiet_lab(options: Mapping[str, object]) -> QuietLab:
    return QuietLab()


async def close_quiet_lab(lab: Lab) -> None:
    pass


class PartitionsTheSecondBoard(LabStateMachine):
    """Starts a partition on one board, the way a fault rule logs it (scenarios/properties/chaos.py)."""

    @rule()
    def start_partition(self) -> None:
        self.log_step("fault.partition", {"target": TARGET}, self._now(), "fault started",
                      f"Partition on {TARGET}: its MQTT traffic is dropped")


def test_a_property_run_shows_the_started_fault_in_its_progress():
    stream = TerminalStream()
    ticks: Callable[[], float] = itertools.count(step=1.0).__next__  # a second per look: every update drawn
    lines: list[str] = []
    run = run_scenario(PropertyScenario("partitions", PartitionsTheSecondBoard),
                       lab_factory=LabFactory(open_quiet_lab, close_quiet_lab, frozenset({Capability.FAULTS})),
                       seed_value=0, budget=Budget(examples=2, steps=3),
                       progress=lines.append, status=ProgressLine(stream, clock=ticks, columns=lambda: 120))
    assert run.passed and lines[0].startswith("  example 1:")
    drawn = stream.getvalue()
    assert "  example 1/2  step 1  lab " in drawn and f"fault: partition on {TARGET}" in drawn
    assert screen(drawn) == ""  # cleared for each finished example's line, and at the end
