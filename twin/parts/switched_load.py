"""An output a board switches and nothing reads back: an LED, a relay, a buzzer.

The part watches its pin and records when it is on (``<kind>.<name>.on`` in the trace), so reports,
the dashboard and scenarios see it; ``active_level`` says which level switches it on (an LED to
ground through a resistor: 1; many relay modules: 0).
"""

from __future__ import annotations

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.gpio_part import GpioPart

__all__ = ["SwitchedLoad"]


class SwitchedLoad(GpioPart):
    """A ``kind`` of load (``led``, ``relay``) on board output ``pin``."""

    def __init__(self, pin: int, *, kind: str = "led", active_level: int = 1, name: str | None = None,
                 trace: Trace | None = None) -> None:
        super().__init__(watches=[pin])
        if active_level not in (0, 1):
            raise ConfigError(f"{kind}: active_level must be 0 or 1, got {active_level}")
        self.pin, self.kind, self.active_level = pin, kind, active_level
        self.name = name or f"GP{pin}"
        self._trace = trace
        self.on = False
        self.switchings = 0
        """How many times it went on."""

    def on_level(self, pin: int, level: int, t: float) -> None:
        """The pin changed level."""
        self._check_pin(pin, self.watched_pins, "watch")
        on = (1 if level else 0) == self.active_level
        if on != self.on:
            self.on = on
            self.switchings += on
            if self._trace is not None:
                self._trace.record(f"{self.kind}.{self.name}.on", t, float(on))
