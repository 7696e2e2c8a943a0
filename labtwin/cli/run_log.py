"""Where a ``labtwin run``'s log records go: all of them to the run's log file, to the terminal what needs a person.

A scenario that injects faults makes connections break on purpose: the orchestrator then logs each lost
and regained broker (``labtwin.orchestrator.connection``), and the embedded broker, the MQTT client
library and asyncio complain about the connections a fault cut. That is expected behaviour, so it goes
to the log file only, and the run's last line counts it; ``-v`` shows it on the terminal too. Every other
warning and error (labtwin's own) is shown as before.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

__all__ = ["EXPECTED_CHURN", "RunLog"]

EXPECTED_CHURN = ("labtwin.orchestrator.connection", "amqtt", "mqtt", "asyncio")
"""Loggers whose records a run with faults produces as a matter of course (and their children)."""

_FORMAT = "%(levelname)s %(name)s: %(message)s"


def _is_churn(record: logging.LogRecord) -> bool:
    return any(record.name == name or record.name.startswith(name + ".") for name in EXPECTED_CHURN)


class RunLog:
    """The logging setup of one run: a log file (when given a path) and a terminal that leaves churn out.

    Args:
        path: the log file (its folder is created); None: no file, and churn is still kept off the terminal.
        verbose: show INFO records and the churn on the terminal too.
        terminal: the terminal stream (standard error by default).
    """

    def __init__(self, path: Path | None, *, verbose: bool = False, terminal: TextIO | None = None) -> None:
        self.path = path
        self.hidden = 0
        """Records kept off the terminal so far."""
        self._verbose = verbose
        self._terminal = logging.StreamHandler(terminal if terminal is not None else sys.stderr)
        self._terminal.setLevel(logging.INFO if verbose else logging.WARNING)
        self._terminal.setFormatter(logging.Formatter(_FORMAT))
        self._terminal.addFilter(self._shown)
        self._file: logging.FileHandler | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = logging.FileHandler(path, mode="w", encoding="utf-8")
            self._file.setLevel(logging.INFO)
            self._file.setFormatter(logging.Formatter("%(asctime)s " + _FORMAT))
        self._saved_level = logging.NOTSET

    def _shown(self, record: logging.LogRecord) -> bool:
        if self._verbose or not _is_churn(record):
            return True
        self.hidden += 1
        return False

    def __enter__(self) -> RunLog:
        root = logging.getLogger()
        self._saved_level = root.level
        root.setLevel(logging.INFO)
        root.addHandler(self._terminal)
        if self._file is not None:
            root.addHandler(self._file)
        return self

    def __exit__(self, *exc_info: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self._terminal)
        if self._file is not None:
            root.removeHandler(self._file)
            self._file.close()
        root.setLevel(self._saved_level)

    def summary(self) -> str | None:
        """The run's last line about its log: where it is and how much the terminal left out (None: nothing to say)."""
        if self.path is None:
            return None
        if not self.hidden:
            return f"log: {self.path}"
        lines = "line" if self.hidden == 1 else "lines"
        return (f"log: {self.path} ({self.hidden} {lines} of expected connection churn not shown here; "
                "-v shows them)")
