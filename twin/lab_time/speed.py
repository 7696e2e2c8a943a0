"""How fast a twin lab runs: real time, N times real time, or event-driven (``max``)."""

from __future__ import annotations

from dataclasses import dataclass

from labtwin.errors import ConfigError

__all__ = ["MAX", "MAX_FACTOR", "REAL", "Speed"]

MAX_FACTOR = 1000.0
"""The fastest scaled speed: beyond it a VM's CPU time (scaled too) swamps what it simulates."""


@dataclass(frozen=True)
class Speed:
    """A lab's speed.

    Attributes:
        factor: lab seconds per real second while anything in the lab runs (1 = real time).
        jumps: ``max``: when the whole lab waits, the clock jumps to the earliest deadline.
    """

    factor: float = 1.0
    jumps: bool = False

    def __post_init__(self) -> None:
        if not 1.0 <= self.factor <= MAX_FACTOR:
            raise ConfigError(f"speed {self.factor:g} is out of range: a twin lab runs 1 to {MAX_FACTOR:g} times "
                              "real time, or `max`")

    @classmethod
    def parse(cls, text: str | float | Speed) -> Speed:
        """``"max"``, or a number of times real time (``"10"``, ``2.5``); ConfigError otherwise."""
        if isinstance(text, Speed):
            return text
        if isinstance(text, str) and text.strip().lower() == "max":
            return MAX
        try:
            factor = float(text)
        except ValueError:
            raise ConfigError(f"speed {text!r} is neither a number (1 to {MAX_FACTOR:g}) nor `max`") from None
        if factor != factor:  # NaN
            raise ConfigError(f"speed {text!r} is neither a number (1 to {MAX_FACTOR:g}) nor `max`")
        return cls(factor)

    @property
    def real(self) -> bool:
        """Real time: no lab clock of its own."""
        return self.factor == 1.0 and not self.jumps

    def __str__(self) -> str:
        return "max" if self.jumps else f"{self.factor:g}"


REAL = Speed()
MAX = Speed(1.0, jumps=True)
