"""Broker restarts in a stream of non-idempotent doses: 0 lost and 0 duplicated, counted on the boards.

The experiment is scenarios/experiments/restart_effects.py; docs/reliability.md has the figures. The default
run keeps one board and two restarts per broker configuration; `-m slow` runs 4 boards x 4 slots
through 10 restarts each.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from testkit import MOSQUITTO_MARKS

from labtwin.errors import ConfigError
from labtwin.scenarios.experiments.restart_effects import CallRecord, RestartEffectsReport, run_restart_effects

CONFIGURATIONS = [
    pytest.param("amqtt", False, id="amqtt"),
    pytest.param("mosquitto", False, id="mosquitto", marks=MOSQUITTO_MARKS),
    pytest.param("mosquitto", True, id="mosquitto-persistence", marks=MOSQUITTO_MARKS),
]


def _check(report: RestartEffectsReport, restarts: int) -> None:
    lines = "\n".join(report.summary_lines())
    assert report.restarts == restarts, lines
    # On every broker: every call succeeded and dosed exactly once, and nothing ever dosed twice.
    assert (report.silently_lost, report.duplicated) == (0, 0), lines
    assert not report.failed and report.lost == 0, lines
    assert report.doses == len(report.calls), lines


@pytest.mark.parametrize(("broker", "persistence"), CONFIGURATIONS)
async def test_restarts_lose_and_duplicate_no_dose(tmp_path: Path, broker: str, persistence: bool) -> None:
    report = await run_restart_effects(tmp_path, broker=broker, persistence=persistence, boards=1, slots=2,
                                       restarts=2, min_calls=10, up_s=0.7, settle_s=1.0, report=lambda _: None)
    _check(report, restarts=2)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize(("broker", "persistence"), CONFIGURATIONS)
async def test_ten_restarts_four_boards_lose_and_duplicate_no_dose(tmp_path: Path, broker: str,
                                                                   persistence: bool) -> None:
    report = await run_restart_effects(tmp_path, broker=broker, persistence=persistence, boards=4, slots=4,
                                       restarts=10, min_calls=50, report=print)
    print("\n".join(report.summary_lines()))
    _check(report, restarts=10)


async def test_persistence_is_refused_on_the_embedded_broker(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Mosquitto option"):
        await run_restart_effects(tmp_path, broker="amqtt", persistence=True, report=lambda _: None)


# --- the attribution itself: each kind of miscount must show --------------------------------------

KEY = ("doser-001", 2)


def _report(calls: list[tuple[float, float, str]], edges: list[float]) -> RestartEffectsReport:
    return RestartEffectsReport(
        "test", calls=[CallRecord(KEY[0], KEY[1], start, end, outcome) for start, end, outcome in calls],
        edges={KEY: edges})


def test_one_dose_per_successful_call_is_neither_lost_nor_duplicated() -> None:
    report = _report([(0, 1, "ok"), (1, 2, "ok")], [0.5, 1.5])
    assert (report.lost, report.duplicated, report.doses) == (0, 0, 2)


def test_a_successful_call_without_a_dose_in_its_window_is_lost_silently() -> None:
    report = _report([(0, 1, "ok"), (1, 2, "ok")], [0.5])
    assert (report.lost, report.silently_lost, report.duplicated) == (1, 1, 0)


def test_a_second_dose_in_a_window_or_an_unexplained_one_is_duplicated() -> None:
    assert _report([(0, 1, "ok")], [0.2, 0.6]).duplicated == 1
    assert _report([(0, 1, "ok")], [0.5, 3.0]).duplicated == 1


def test_a_failed_call_may_dose_once_late_or_not_at_all() -> None:
    late = _report([(0, 1, "TaskTimeout"), (1, 2, "ok")], [1.2, 1.5])
    assert (late.lost, late.duplicated, dict(late.failed)) == (0, 0, {"TaskTimeout": 1})
    never = _report([(0, 1, "DeviceOffline"), (1, 2, "ok")], [1.5])
    assert (never.lost, never.silently_lost, never.duplicated) == (1, 0, 0)


def test_a_failed_calls_late_dose_inside_the_next_calls_window_is_neither_lost_nor_duplicated() -> None:
    report = _report([(0, 1, "TaskTimeout"), (1, 2, "ok"), (2, 3, "ok")], [1.1, 1.5, 2.5])
    assert (report.lost, report.duplicated) == (0, 0)
    before_it_started = _report([(1, 2, "ok"), (2, 3, "TaskTimeout")], [1.1, 1.5])
    assert (before_it_started.lost, before_it_started.duplicated) == (1, 1)
