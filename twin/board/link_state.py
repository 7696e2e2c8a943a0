"""A board's WiFi link state in a file its VM reads, so ``WLAN.isconnected()`` needs no hardware-bus call.

Firmware polls ``isconnected()`` (the stock WiFi supervisor once a second): over the hardware bus
that is a round trip to the host per poll and per board, which dominates an idle lab's cost (a
big lab's CPU, a lab at ``--speed max``'s wall time). The host's
:class:`~labtwin.twin.models.wifi.WifiModel` writes one byte here whenever the station's status
changes: ``1`` joined, ``0`` not, ``?`` joining. The network shim answers ``isconnected()`` from
``1`` and ``0`` and asks the model over the bus on ``?`` (a join's outcome comes at a lab time
only the model knows, and asking records it in the trace). Every other ``WLAN`` call still goes
over the bus. docs/hardware-bus.md says so.
"""

from __future__ import annotations

import os
from pathlib import Path

from labtwin.twin.models.wifi import WifiModel

__all__ = ["LINK_FILE_ENV", "LinkStateFile"]

LINK_FILE_ENV = "LABTWIN_WIFI_LINK"
"""The VM's environment variable naming the file (unset: every call goes over the bus)."""


class LinkStateFile:
    """The file at ``path`` kept equal to ``wifi``'s link state while open."""

    def __init__(self, path: Path, wifi: WifiModel) -> None:
        self.path = path
        self.wifi = wifi
        self._fd: int | None = None

    def open(self) -> None:
        """Create the file with the current state and follow the model's changes."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self._write(self.wifi.link_state())
        self.wifi.on_link = self._write

    def close(self) -> None:
        """Stop following the model and close the file (it stays, saying what it last said)."""
        self.wifi.on_link = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _write(self, state: bytes) -> None:
        if self._fd is not None:
            os.pwrite(self._fd, state, 0)
