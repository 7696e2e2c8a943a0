"""The live progress of a running property scenario: example, step, lab time and the active faults.

On a terminal one line is rewritten in place, at most a few times a second, and cleared before
anything else is printed (the runner's line per finished example follows it). Elsewhere (a CI log,
a pipe, captured output) carriage returns would only be noise: a long example gets one plain line
every ~10 s of wall time, and a short one none, so a short run prints what it always printed.

The active faults are read from the example's own steps, by the engine's convention for fault steps
(:meth:`LabStateMachine.log_step`): a step named ``fault.KIND`` with the arguments ``{"target": T}``
and the outcome ``"fault started"`` starts KIND on T, and one with the outcome ``"fault cleared"``
on the same target ends it. A one-shot fault (a brown-out) that is never cleared stays shown until
another fault starts on its target or the example ends.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from typing import TextIO

from labtwin.scenarios.engine.run_record import ExampleRecord

__all__ = ["FAULT_CLEARED", "FAULT_STARTED", "ActiveFaults", "ProgressLine"]

FAULT_STARTED = "fault started"
FAULT_CLEARED = "fault cleared"
FAULT_STEP_PREFIX = "fault."


class ActiveFaults:
    """The faults an example's steps say are active, read incrementally as the steps are logged."""

    def __init__(self) -> None:
        self._record: ExampleRecord | None = None
        self._seen = 0
        self._kinds: dict[str, str] = {}  # target -> kind, in the order they started

    def update(self, record: ExampleRecord) -> None:
        """Read the steps of ``record`` logged since the last call (a new record starts afresh)."""
        if record is not self._record:
            self._record, self._seen = record, 0
            self._kinds.clear()
        for step in record.steps[self._seen:]:
            target = str(step.arguments.get("target", ""))
            if step.outcome == FAULT_STARTED:
                kind = step.rule.removeprefix(FAULT_STEP_PREFIX)
                self._kinds.pop(target, None)  # one fault per target: a new one replaces (and follows) the old
                self._kinds[target] = kind
            elif step.outcome == FAULT_CLEARED:
                self._kinds.pop(target, None)
        self._seen = len(record.steps)

    @property
    def active(self) -> list[tuple[str, str]]:
        """``(kind, target)`` of each active fault, oldest first (target "" when the step named none)."""
        return [(kind, target) for target, kind in self._kinds.items()]

    def describe(self) -> str:
        """``fault: partition on pico-a``, ``faults: a on x, b on y`` or ``no fault active``."""
        if not self._kinds:
            return "no fault active"
        names = [f"{kind} on {target}" if target else kind for kind, target in self.active]
        return f"{'faults' if len(names) > 1 else 'fault'}: {', '.join(names)}"


class ProgressLine:
    """What a terminal shows while an example runs; the runner feeds it, :meth:`update` per step.

    Args:
        stream: where the progress goes (the terminal's stdout).
        tty: whether ``stream`` is a terminal, which rewrites one line in place; default: ask it.
        clock: wall-clock seconds, monotonic (tests drive time with their own).
        refresh_s: on a terminal, the least time between two drawings of the line.
        plain_every_s: elsewhere, the least time between two plain lines, and before the first of an example.
        columns: the terminal's width (a longer line would wrap, and a wrapped line cannot be rewritten).
    """

    def __init__(self, stream: TextIO, *, tty: bool | None = None, clock: Callable[[], float] = time.monotonic,
                 refresh_s: float = 0.25, plain_every_s: float = 10.0,
                 columns: Callable[[], int] = lambda: shutil.get_terminal_size().columns) -> None:
        self.stream = stream
        self.tty = _isatty(stream) if tty is None else tty
        self.clock = clock
        self.refresh_s = refresh_s
        self.plain_every_s = plain_every_s
        self.columns = columns
        self.examples: int | None = None
        self._faults = ActiveFaults()
        self._record: ExampleRecord | None = None
        self._pending: str | None = None  # a drawing held back by refresh_s, for refresh() to make
        self._shown = 0  # characters of the line now on the terminal (0: none)
        self._last_drawn = -float("inf")
        self._last_plain = 0.0
        # update() runs on the scenario's thread, refresh() on the refresher's: one draws at a time.
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    def start(self, examples: int | None = None) -> None:
        """A run begins, of up to ``examples`` examples; on a terminal a thread draws held-back updates."""
        self.examples = examples
        if self.tty and self._refresher is None:
            self._stop.clear()
            self._refresher = threading.Thread(target=self._refresh_until_stopped, name="labtwin-progress",
                                               daemon=True)
            self._refresher.start()

    def stop(self) -> None:
        """The run is over: stop the refresher and clear the line."""
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join()
            self._refresher = None
        self.clear()

    def update(self, record: ExampleRecord, lab_s: float) -> None:
        """The example ``record`` has logged a step (or opened its lab), ``lab_s`` lab seconds in."""
        now = self.clock()
        with self._lock:
            if record is not self._record:
                self._record, self._last_plain = record, now
            self._faults.update(record)
            text = self.text(record, lab_s)
            if not self.tty:
                if now - self._last_plain >= self.plain_every_s:
                    self._last_plain = now
                    self.stream.write(text + "\n")
                    self.stream.flush()
            elif now - self._last_drawn >= self.refresh_s:
                self._draw(text, now)
            else:
                self._pending = text

    def refresh(self) -> None:
        """Draw the update :meth:`update` held back, once ``refresh_s`` has passed since the last drawing."""
        with self._lock:
            now = self.clock()
            if self._pending is not None and now - self._last_drawn >= self.refresh_s:
                self._draw(self._pending, now)

    def clear(self) -> None:
        """Clear the line (before something else is printed); the next :meth:`update` draws it again."""
        with self._lock:
            self._pending = None
            if self._shown:
                self.stream.write("\r" + " " * self._shown + "\r")
                self.stream.flush()
                self._shown = 0

    def text(self, record: ExampleRecord, lab_s: float) -> str:
        """``  example 3/8  step 14  lab 12.4 s  fault: partition on pico-a``."""
        number = record.index + 1
        # Shrinking replays examples past the budget: then the count alone.
        of = f"/{self.examples}" if self.examples is not None and number <= self.examples else ""
        return f"  example {number}{of}  step {len(record.steps)}  lab {lab_s:.1f} s  {self._faults.describe()}"

    def _draw(self, text: str, now: float) -> None:
        width = max(self.columns() - 1, 20)  # not the last column: some terminals wrap there
        line = text if len(text) <= width else text[: width - 3] + "..."
        # Padded over the previous line, which may have been longer.
        self.stream.write("\r" + line.ljust(self._shown))
        self.stream.flush()
        self._shown = max(len(line), self._shown)
        self._pending = None
        self._last_drawn = now

    def _refresh_until_stopped(self) -> None:
        while not self._stop.wait(max(self.refresh_s / 2, 0.01)):  # never a busy loop
            self.refresh()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
