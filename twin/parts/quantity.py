"""What a part senses: a physical quantity as a function of lab time.

A sensor model reads ``quantity.value(t)`` at lab time ``t`` (seconds). Sources:

- :class:`Constant` — one value;
- :class:`TimeFunction` — any function of lab time (``lambda t: 22 + 0.1 * t``);
- :class:`CsvTrace` — a recorded trace, linearly interpolated, held at its ends;
- :class:`RandomWalk` — a seeded Gaussian random walk on a fixed time grid, optionally bounded;
- :class:`SharedQuantity` — a value that parts change (a pump fills a vessel, a cooler moves a
  temperature) and other parts read: the explicit coupling between parts.

All are deterministic for a given seed and lab time, however often they are read.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from labtwin.errors import ConfigError

__all__ = ["Constant", "CsvTrace", "Quantity", "RandomWalk", "SharedQuantity", "TimeFunction", "as_quantity"]


@runtime_checkable
class Quantity(Protocol):
    """A physical quantity's value at lab time ``t`` (seconds since the lab started)."""

    def value(self, t: float) -> float:
        """The quantity at lab time ``t``."""
        ...


class Constant:
    """The same value at every time."""

    def __init__(self, value: float) -> None:
        self._value = float(value)

    def value(self, t: float) -> float:
        """The constant, whatever ``t``."""
        return self._value

    def __repr__(self) -> str:
        return f"Constant({self._value!r})"


class TimeFunction:
    """``function(t)`` for lab time ``t``."""

    def __init__(self, function: Callable[[float], float]) -> None:
        self._function = function

    def value(self, t: float) -> float:
        """The function's value at ``t``."""
        return float(self._function(t))


class CsvTrace:
    """A recorded trace: (time, value) samples, linearly interpolated and held at both ends.

    Args:
        times: sample times in seconds of lab time, strictly increasing.
        values: the quantity at those times.
    """

    def __init__(self, times: npt.ArrayLike, values: npt.ArrayLike) -> None:
        self._t = np.asarray(times, dtype=float)
        self._v = np.asarray(values, dtype=float)
        if self._t.ndim != 1 or self._t.shape != self._v.shape or len(self._t) == 0:
            raise ConfigError("a trace needs as many times as values, at least one")
        if np.any(np.diff(self._t) <= 0):
            raise ConfigError("a trace's times must be strictly increasing")

    @classmethod
    def from_file(cls, path: Path, column: str, *, time_column: str = "t") -> CsvTrace:
        """Read ``time_column`` and ``column`` from a CSV file with a header row."""
        try:
            with path.open(newline="", encoding="utf-8") as file:
                rows = list(csv.DictReader(file))
        except OSError as exc:
            raise ConfigError(f"cannot read trace {path}: {exc.strerror or exc}") from None
        if not rows or time_column not in rows[0] or column not in rows[0]:
            header = ", ".join(rows[0]) if rows else "nothing"
            raise ConfigError(f"{path}: needs columns {time_column!r} and {column!r}; it has {header}")
        try:
            times = [float(row[time_column]) for row in rows]
            values = [float(row[column]) for row in rows]
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        return cls(times, values)

    def value(self, t: float) -> float:
        """The interpolated value at ``t``."""
        return float(np.interp(t, self._t, self._v))


class RandomWalk:
    """A seeded Gaussian random walk: every ``dt`` seconds the value moves by N(0, ``sigma``).

    Values between grid points are interpolated, so readings are smooth and depend only on
    ``t`` and the seed, not on how often or in which order they are taken. With ``low``/``high``
    the walk reflects at the bounds.
    """

    def __init__(self, start: float, *, sigma: float, dt: float = 1.0, seed: int = 0,
                 low: float = -math.inf, high: float = math.inf) -> None:
        if sigma < 0 or dt <= 0 or not low <= start <= high:
            raise ConfigError(f"random walk: need sigma >= 0, dt > 0 and low <= start <= high "
                              f"(got sigma={sigma}, dt={dt}, low={low}, start={start}, high={high})")
        self._start, self._sigma, self._dt = float(start), float(sigma), float(dt)
        self._low, self._high = low, high
        self._rng = np.random.default_rng(seed)
        self._path = [self._start]

    def _at(self, index: int) -> float:
        while len(self._path) <= index:
            step = self._path[-1] + self._rng.normal(0.0, self._sigma)
            if step > self._high:
                step = max(self._low, 2 * self._high - step)
            elif step < self._low:
                step = min(self._high, 2 * self._low - step)
            self._path.append(step)
        return self._path[index]

    def value(self, t: float) -> float:
        """The walk at ``t`` (the start value for ``t <= 0``)."""
        if t <= 0:
            return self._start
        position = t / self._dt
        index = int(position)
        fraction = position - index
        return self._at(index) + (self._at(index + 1) - self._at(index)) * fraction


class SharedQuantity:
    """A quantity several parts share: some change it (:meth:`add`, :meth:`set`), others read it.

    It holds one value (plus an optional time-varying ``baseline`` it is added to), so a pump
    adding grams and a balance reading them see the same vessel.
    """

    def __init__(self, name: str, initial: float = 0.0, *, baseline: Quantity | None = None) -> None:
        self.name = name
        self._offset = float(initial)
        self._baseline = baseline

    def value(self, t: float) -> float:
        """Baseline (if any) plus what parts added."""
        return self._offset + (self._baseline.value(t) if self._baseline is not None else 0.0)

    def add(self, delta: float) -> None:
        """Change the quantity by ``delta`` (a dose, heat in or out)."""
        self._offset += float(delta)

    def set(self, value: float, t: float) -> None:
        """Make the quantity read ``value`` at ``t``."""
        self._offset = float(value) - (self._baseline.value(t) if self._baseline is not None else 0.0)

    def __repr__(self) -> str:
        return f"SharedQuantity({self.name!r}, offset={self._offset!r})"


def as_quantity(source: float | Quantity | Callable[[float], float]) -> Quantity:
    """A number becomes a :class:`Constant`, a callable a :class:`TimeFunction`; a quantity stays."""
    if isinstance(source, (int, float)):
        return Constant(source)
    if isinstance(source, Quantity):
        return source
    if callable(source):
        return TimeFunction(source)
    raise ConfigError(f"not a quantity: {source!r} (a number, a function of lab time, or a Quantity)")
