"""The scenario engine itself, on a process-free lab: finding, shrinking, replay, budgets, capabilities."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from labtwin.errors import ConfigError
from labtwin.orchestrator.loop_thread import LoopThread, Unfinished
from labtwin.scenarios.engine.runner import Budget, LabFactory, PropertyScenario, run_scenario
from labtwin.scenarios.engine.state_machine import LabStateMachine, needs
from labtwin.scenarios.labs.lab import Capability, Lab
from labtwin.twin.clock import WallClock

if TYPE_CHECKING:
    from labtwin.orchestrator.http_client import AsyncHTTPOrchestratorClient
    from labtwin.orchestrator.mqtt_client import AsyncMQTTOrchestratorClient


class CounterLab:
    """A lab with no processes and no devices: enough to exercise the engine (a Lab, nothing more)."""

    description = "counter lab"
    device_ids: list[str] = []
    capabilities: frozenset[Capability] = frozenset()
    broker_address = None
    ot2_url = None
    ot2_robot_api_url = None
    opened = 0
    closed = 0

    def __init__(self) -> None:
        self.clock = WallClock()

    def client(self, device_id: str) -> AsyncMQTTOrchestratorClient:
        raise ConfigError(f"no device {device_id!r} in the counter lab")

    def ot2_client(self) -> AsyncHTTPOrchestratorClient:
        raise ConfigError("the counter lab has no OT-2")

    async def __aenter__(self) -> CounterLab:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pass


async def open_counter_lab(options: Mapping[str, object]) -> CounterLab:
    CounterLab.opened += 1
    return CounterLab()


async def close_counter_lab(lab: Lab) -> None:
    CounterLab.closed += 1


def factory(capabilities: frozenset[Capability] = frozenset({Capability.FAULTS, Capability.HARDWARE})) -> LabFactory:
    return LabFactory(open_counter_lab, close_counter_lab, capabilities)


class ThirdBumpBreaks(LabStateMachine):
    """Fails once `bump` has run three times with a value above 5: a bug the engine must find and shrink."""

    def __init__(self) -> None:
        super().__init__()
        self.big_bumps = 0

    @rule(value=st.integers(0, 10))
    def bump(self, value: int) -> None:
        self.log_step("bump", {"value": value}, 0.0, "ok")
        if value > 5:
            self.big_bumps += 1

    @rule()
    def idle(self) -> None:
        self.log_step("idle", {}, 0.0, "ok")

    @invariant()
    def fewer_than_three_big_bumps(self) -> None:
        assert self.big_bumps < 3, "three big bumps"


class FaultyOnlyWithFaults(LabStateMachine):
    """Has a rule that needs the `faults` capability."""

    @needs(Capability.FAULTS)
    @rule()
    def inject(self) -> None:
        raise AssertionError("must not run without the faults capability")

    @rule()
    def idle(self) -> None:
        self.log_step("idle", {}, 0.0, "ok")


def test_a_failing_scenario_is_found_shrunk_and_replayable():
    spec = PropertyScenario("third-bump", ThirdBumpBreaks)
    lines: list[str] = []
    first = run_scenario(spec, lab_factory=factory(), seed_value=3, budget=Budget(examples=200, steps=20),
                         progress=lines.append)
    assert not first.passed and "three big bumps" in (first.failure or "")
    minimal_steps = first.shown_examples[-1].steps
    assert [s.rule for s in minimal_steps] == ["bump", "bump", "bump"]
    assert all(s.arguments["value"] == 6 for s in minimal_steps)  # shrunk to the boundary
    assert first.reproduce_blob is not None and "@reproduce_failure" in first.reproduce_blob
    assert first.replay_command == "labtwin run third-bump --seed 3 --examples 200 --steps 20"
    assert lines and lines[0].startswith("  example 1:")

    replay = run_scenario(spec, lab_factory=factory(), seed_value=3, budget=Budget(examples=200, steps=20),
                          progress=lambda line: None)
    assert replay.failure == first.failure
    assert [s.arguments for s in replay.shown_examples[-1].steps] == [s.arguments for s in minimal_steps]


def test_every_lab_opened_is_closed():
    CounterLab.opened = CounterLab.closed = 0
    run_scenario(PropertyScenario("third-bump", ThirdBumpBreaks), lab_factory=factory(), seed_value=1,
                 budget=Budget(examples=30, steps=10), progress=lambda line: None)
    assert CounterLab.opened == CounterLab.closed > 0


def test_rules_needing_a_missing_capability_are_skipped_and_reported():
    run = run_scenario(PropertyScenario("needs-faults", FaultyOnlyWithFaults), lab_factory=factory(frozenset()),
                       seed_value=0, budget=Budget(examples=5, steps=5),
                       progress=lambda line: None)
    assert run.passed
    assert run.skipped_rules == {"inject": "faults"}


def test_max_time_stops_new_examples():
    run = run_scenario(PropertyScenario("idle", FaultyOnlyWithFaults), lab_factory=factory(frozenset()),
                       seed_value=0, budget=Budget(examples=10_000, steps=5, max_time=0.5),
                       progress=lambda line: None)
    assert run.passed and 0 < run.examples_run < 10_000 and run.duration_s > 0.5  # stopped by the time budget


def test_failure_in_a_timed_run_names_a_replay_that_reproduces_it():
    spec = PropertyScenario("third-bump", ThirdBumpBreaks)
    timed = run_scenario(spec, lab_factory=factory(), seed_value=11, budget=Budget(examples=400, steps=20, max_time=60),
                         progress=lambda line: None)
    assert not timed.passed and timed.replay_command is not None
    words = timed.replay_command.split()
    replay_seed, examples = int(words[words.index("--seed") + 1]), int(words[words.index("--examples") + 1])
    replay = run_scenario(spec, lab_factory=factory(), seed_value=replay_seed,
                          budget=Budget(examples=examples, steps=20),
                          progress=lambda line: None)
    assert replay.failure == timed.failure
    replayed, shown = replay.shown_examples[-1].steps, timed.shown_examples[-1].steps
    assert [s.arguments for s in replayed] == [s.arguments for s in shown]


def test_a_lab_that_fails_to_close_is_named_in_the_failure():
    # Closing a lab fails in one example only (as a hung close ends, in a timeout): Hypothesis reports that
    # as a flaky example, which says nothing about the lab; the run's failure names what broke.
    closes = 0

    async def close_fails_once(lab: Lab) -> None:
        nonlocal closes
        closes += 1
        if closes == 1:
            raise TimeoutError("the broker did not stop")

    run = run_scenario(PropertyScenario("idle", FaultyOnlyWithFaults),
                       lab_factory=LabFactory(open_counter_lab, close_fails_once, frozenset()),
                       seed_value=0, budget=Budget(examples=5, steps=5),
                       progress=lambda line: None)
    assert not run.passed
    assert "closing the lab failed: TimeoutError: the broker did not stop" in (run.failure or ""), run.failure


def test_a_lab_operation_that_does_not_finish_in_time_is_named():
    loop = LoopThread("test-unfinished", asyncio.new_event_loop)
    loop.start()
    try:
        never = asyncio.Event()
        with pytest.raises(Unfinished, match=r"^Event.wait on the lab did not finish within 0.05 s$"):
            loop.run(never.wait(), 0.05, what="Event.wait on the lab")
        with pytest.raises(TimeoutError, match="its own") as raised:  # a coroutine's own TimeoutError is left alone
            loop.run(_raises_timeout(), 5)
        assert not isinstance(raised.value, Unfinished)
    finally:
        loop.stop()


async def _raises_timeout() -> None:
    raise TimeoutError("its own")
