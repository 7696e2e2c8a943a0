"""What every sensor chip model shares: a name, seeded measurement noise and a trace.

A chip converts a quantity (:mod:`~labtwin.twin.parts.quantity`) at lab time ``t``; the model adds
noise of the size the datasheet gives (its repeatability or RMS noise, times ``noise``), clipped at
:attr:`SensorNoise.TRUNCATE_SIGMAS` so tests have a hard bound, and records the value it converted
in the :class:`~labtwin.twin.models.trace.Trace` as ``<name>.<quantity>``, like
:class:`~labtwin.twin.models.adc.AdcModel` records ``adc.<channel>``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.quantity import Quantity

__all__ = ["QuantitySource", "SensorNoise", "Sensing"]

QuantitySource = float | Quantity | Callable[[float], float]
"""What a part model accepts for a sensed quantity: a number, a function of lab time, a Quantity."""


class SensorNoise:
    """Seeded Gaussian noise, scaled by ``scale`` (0 disables it) and clipped at a few sigmas."""

    TRUNCATE_SIGMAS = 3.0
    """Noise never exceeds this many sigmas: readings stay within the datasheet's band."""

    def __init__(self, seed: int, scale: float = 1.0) -> None:
        if scale < 0:
            raise ConfigError(f"noise scale must be >= 0 (got {scale})")
        self.scale = float(scale)
        self._rng = np.random.default_rng(seed)

    def add(self, value: float, sigma: float) -> float:
        """``value`` plus one draw of noise with standard deviation ``sigma * scale``."""
        s = sigma * self.scale
        if s <= 0:
            return value
        limit = self.TRUNCATE_SIGMAS * s
        return value + float(np.clip(self._rng.normal(0.0, s), -limit, limit))

    def bound(self, sigma: float) -> float:
        """The largest deviation :meth:`add` can cause for ``sigma``."""
        return self.TRUNCATE_SIGMAS * sigma * self.scale


class Sensing:
    """Name, noise and trace for one chip model; the I2C behaviour lives in the chip's class."""

    def __init__(self, name: str, *, seed: int, noise: float, trace: Trace | None) -> None:
        self.name = name
        self.noise = SensorNoise(seed, noise)
        self._trace = trace

    def record(self, signal: str, t: float, value: float) -> None:
        """Record a converted value as ``<name>.<signal>`` at lab time ``t``."""
        if self._trace is not None:
            self._trace.record(f"{self.name}.{signal}", t, value)
