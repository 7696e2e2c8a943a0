"""Button / limit switch model: scripted presses, bounce, wiring and stuck faults."""

from __future__ import annotations

import pytest

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.button import Button

PIN = 14


def test_clean_press_is_active_low_with_pull_up():
    button = Button(PIN)
    button.press(1.0, 0.5)
    assert [button.level(PIN, t) for t in (0.99, 1.0, 1.49, 1.5)] == [1, 0, 0, 1]
    assert button.edges(PIN, 0.0, 2.0) == [(1.0, 0), (1.5, 1)]


def test_active_high_and_open_contact_without_pull():
    high = Button(PIN, active_low=False)
    high.press(1.0, 0.5)
    assert (high.level(PIN, 0.5), high.level(PIN, 1.2)) == (0, 1)
    bare = Button(PIN, external_pull=False)
    bare.press(1.0, 0.5)
    assert (bare.level(PIN, 0.5), bare.level(PIN, 1.2)) == (None, 0)
    assert bare.edges(PIN, 0.0, 2.0) == [(1.0, 0)]  # releasing leaves the level to the board's pull


def test_bounce_adds_transitions_within_the_window_and_settles():
    button = Button(PIN, bounce_transitions=4, bounce_s=0.005, seed=3)
    button.press(1.0, 0.2)
    press_edges = button.edges(PIN, 0.9, 1.1)
    assert len(press_edges) == 5
    assert press_edges[0] == (1.0, 0) and press_edges[-1][1] == 0
    assert all(1.0 <= t < 1.005 for t, _ in press_edges)
    assert [level for _, level in press_edges] == [0, 1, 0, 1, 0]
    assert button.level(PIN, 1.006) == 0 and button.level(PIN, 1.206) == 1


def test_odd_bounce_counts_round_up_so_the_contact_ends_in_its_new_state():
    button = Button(PIN, bounce_transitions=3, seed=1)
    button.press(1.0, 0.2)
    assert len(button.edges(PIN, 0.9, 1.1)) == 5


def test_bounce_is_seeded():
    def edges(seed: int) -> list[tuple[float, int]]:
        button = Button(PIN, bounce_transitions=6, seed=seed)
        button.press(1.0, 0.1)
        return button.edges(PIN, 0.0, 2.0)

    assert edges(5) == edges(5)
    assert edges(5) != edges(6)


def test_stuck_faults_override_the_script():
    button = Button(PIN)
    button.press(1.0, 0.5)
    button.stuck_released = True
    assert button.level(PIN, 1.2) == 1 and button.edges(PIN, 0.0, 2.0) == []
    button.stuck_released, button.stuck_pressed = False, True
    assert button.level(PIN, 0.5) == 0
    button.stuck_pressed = False
    assert button.level(PIN, 0.5) == 1


def test_presses_are_scripted_in_order_and_traced():
    trace = Trace()
    button = Button(PIN, name="limit_x", trace=trace)
    button.press(1.0, 0.5)
    with pytest.raises(ConfigError):
        button.press(1.2, 0.1)
    assert trace.samples("button.limit_x.pressed") == [(1.0, 1.0), (1.5, 0.0)]


def test_the_button_drives_only_its_pin():
    with pytest.raises(ConfigError):
        Button(PIN).level(PIN + 1, 0.0)
