"""Bounded, timestamped traces of model signals.

A :class:`Trace` keeps the last ``maxlen`` ``(time, value)`` samples of each
named signal (``"pin.GPIO15"``, ``"adc.0"``, ``"servo.GPIO15.target"`` ...),
so tests and scenarios can look back at what the hardware did, and export it
to numpy for analysis. Memory stays bounded however long a lab runs.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import deque
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

__all__ = ["Trace"]


class Trace:
    """Per-signal ring buffers of ``(t, value)`` samples."""

    def __init__(self, maxlen: int = 10_000) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        self.maxlen = maxlen
        self._data: dict[str, deque[tuple[float, float]]] = {}

    def record(self, signal: str, t: float, value: float) -> None:
        """Append one sample of ``signal`` taken at lab time ``t``."""
        buf = self._data.get(signal)
        if buf is None:
            buf = self._data[signal] = deque(maxlen=self.maxlen)
        buf.append((float(t), float(value)))

    def signals(self) -> list[str]:
        """Names of all signals recorded so far, sorted."""
        return sorted(self._data)

    def __contains__(self, signal: object) -> bool:
        return signal in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[str]:
        return iter(self.signals())

    def samples(self, signal: str) -> list[tuple[float, float]]:
        """The retained samples of ``signal``, oldest first (empty if unknown)."""
        return list(self._data.get(signal, ()))

    def last(self, signal: str) -> tuple[float, float] | None:
        """The newest sample of ``signal``, or ``None`` if it has none."""
        buf = self._data.get(signal)
        return buf[-1] if buf else None

    def after(self, signal: str, t: float) -> list[tuple[float, float]]:
        """The retained samples of ``signal`` taken after lab time ``t``, oldest first (a live view's new ones)."""
        newer: list[tuple[float, float]] = []
        for sample in reversed(self._data.get(signal, ())):
            if sample[0] <= t:
                break
            newer.append(sample)
        newer.reverse()
        return newer

    def tail(self, signal: str, n: int) -> list[tuple[float, float]]:
        """The newest ``n`` retained samples of ``signal``, oldest first (without copying the rest)."""
        newest = list(itertools.islice(reversed(self._data.get(signal, ())), n))
        newest.reverse()
        return newest

    def arrays(self, signal: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``(times, values)`` of ``signal`` as two float64 arrays."""
        buf = self._data.get(signal, ())
        if not buf:
            empty = np.empty(0, dtype=np.float64)
            return empty, empty.copy()
        data = np.asarray(buf, dtype=np.float64)
        return data[:, 0].copy(), data[:, 1].copy()

    def to_numpy(self, signal: str) -> npt.NDArray[np.float64]:
        """Samples of ``signal`` as an ``(n, 2)`` float64 array of ``[t, value]`` rows."""
        return np.asarray(self._data.get(signal, ()), dtype=np.float64).reshape(-1, 2)

    def events_digest(self) -> str:
        """A SHA-256 of every signal's values in order, without their times: the same for two runs in
        which the hardware went through the same events, whenever exactly each happened."""
        digest = hashlib.sha256()
        for signal in self.signals():
            digest.update(signal.encode() + b"\0")
            for _, value in self._data[signal]:
                digest.update(repr(value).encode() + b",")
        return digest.hexdigest()

    def clear(self, signal: str | None = None) -> None:
        """Forget one signal's samples, or every signal's when ``signal`` is None."""
        if signal is None:
            self._data.clear()
        else:
            self._data.pop(signal, None)
