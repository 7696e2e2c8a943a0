"""Shared test setup: firmware modules importable from CPython, OpenTrons-free state dirs."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIRMWARE_DIR = REPO / "firmware"

# Firmware files are flat modules on the board; unit tests import them the same way.
if str(FIRMWARE_DIR) not in sys.path:
    sys.path.insert(0, str(FIRMWARE_DIR))
