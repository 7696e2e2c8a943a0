"""A push button or limit switch on a board input, pressed by a script at lab times.

A press is a window of lab time. Mechanical contacts bounce: with ``bounce_transitions`` = n > 0, each
press and each release is followed by n extra transitions (rounded up to even, so the contact ends in
its new state) at seeded random times within ``bounce_s`` of the nominal edge.

Wiring: ``active_low`` (to ground, read through a pull-up: pressed = 0) or active-high (to VCC
through a pull-down: pressed = 1). With ``external_pull=False`` the released contact is open and
:meth:`Button.level` returns ``None``: the board's own pull resistor decides, as on a bench.

Faults: :attr:`Button.stuck_pressed` and :attr:`Button.stuck_released` hold the contact whatever the
script says (a welded or a broken switch).
"""

from __future__ import annotations

import bisect

import numpy as np

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.gpio_part import GpioPart

__all__ = ["Button"]


class Button(GpioPart):
    """A switch contact on ``pin``.

    Args:
        pin: the board input it is wired to.
        active_low: pressed pulls the pin low (True) or high (False).
        external_pull: the module has its own pull resistor, so a released switch drives the idle level.
        bounce_transitions: extra transitions per edge (0: a clean switch).
        bounce_s: window after a nominal edge in which they happen.
        seed: bounce timing seed.
        name: label in trace signals (``button.<name>.pressed``).
        trace: where contact changes go.
    """

    def __init__(self, pin: int, *, active_low: bool = True, external_pull: bool = True,
                 bounce_transitions: int = 0, bounce_s: float = 0.005, seed: int = 0, name: str = "button",
                 trace: Trace | None = None) -> None:
        super().__init__(drives=[pin])
        if bounce_transitions < 0 or bounce_s <= 0:
            raise ConfigError("button bounce: need bounce_transitions >= 0 and bounce_s > 0")
        self.pin, self.active_low, self.external_pull = pin, active_low, external_pull
        self.bounce_transitions, self.bounce_s = bounce_transitions, bounce_s
        self.name, self._trace = name, trace
        self._rng = np.random.default_rng(seed)
        self._times: list[float] = []  # contact changes, sorted
        self._states: list[bool] = []  # pressed after each change
        self.stuck_pressed = False
        """Fault switch: the contact is closed whatever the script does."""
        self.stuck_released = False
        """Fault switch: the contact never closes."""

    def press(self, at: float, duration: float) -> None:
        """Script a press at lab time ``at`` lasting ``duration`` seconds (bounce included)."""
        if duration <= 0:
            raise ConfigError(f"a press lasts a positive time, not {duration}")
        if self._times and at <= self._times[-1]:
            raise ConfigError(f"presses are scripted in order: {at} is not after {self._times[-1]}")
        if duration <= self.bounce_s and self.bounce_transitions:
            raise ConfigError(f"a press of {duration} s is shorter than the bounce window {self.bounce_s} s")
        self._edge(at, True)
        self._edge(at + duration, False)

    def _edge(self, at: float, pressed: bool) -> None:
        # The contact chatters: extra flips at random moments in the window, ending on the new state.
        extra = self.bounce_transitions + self.bounce_transitions % 2
        offsets = np.sort(self._rng.uniform(0.0, self.bounce_s, extra + 1))
        offsets[0] = 0.0
        for i, offset in enumerate(offsets):
            self._add(at + float(offset), pressed if i % 2 == 0 else not pressed)
        if self._trace is not None:
            self._trace.record(f"button.{self.name}.pressed", at, float(pressed))

    def _add(self, t: float, pressed: bool) -> None:
        if self._states and self._states[-1] == pressed:
            return
        self._times.append(t)
        self._states.append(pressed)

    def pressed(self, t: float) -> bool:
        """Whether the contact is closed at ``t``."""
        if self.stuck_pressed or self.stuck_released:
            return self.stuck_pressed
        i = bisect.bisect_right(self._times, t)
        return self._states[i - 1] if i else False

    def level(self, pin: int, t: float) -> int | None:
        """The pin level the switch makes (None when open without its own pull resistor)."""
        self._check_pin(pin, self.driven_pins, "drive")
        if self.pressed(t):
            return 0 if self.active_low else 1
        if not self.external_pull:
            return None
        return 1 if self.active_low else 0

    def edges(self, pin: int, start: float, end: float) -> list[tuple[float, int]]:
        """Level changes in ``(start, end]`` from the script (none while a fault holds the contact)."""
        self._check_pin(pin, self.driven_pins, "drive")
        if self.stuck_pressed or self.stuck_released:
            return []
        out: list[tuple[float, int]] = []
        for i in range(bisect.bisect_right(self._times, start), bisect.bisect_right(self._times, end)):
            level = self.level(pin, self._times[i])
            if level is not None:
                out.append((self._times[i], level))
        return out
