"""What a board's firmware is: one directory, or an overlay laid over another (labtwin/board_firmware.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtwin.board_firmware import (
    STOCK_FIRMWARE_DIR,
    copy_firmware,
    firmware_files,
    firmware_hash,
    firmware_sources,
)
from labtwin.errors import ConfigError


def _overlay(tmp_path: Path) -> Path:
    overlay = tmp_path / "overlay"
    (overlay / "lib").mkdir(parents=True)
    (overlay / "main.py").write_text("import device_main\nimport lab_tasks\nimport stock_tasks\ndevice_main.run()\n")
    (overlay / "lab_tasks.py").write_text("# a lab's tasks\n")
    (overlay / "lib" / "driver.py").write_text("# a driver\n")
    (overlay / "__pycache__").mkdir()
    (overlay / "__pycache__" / "lab_tasks.cpython-311.pyc").write_bytes(b"\0")
    (overlay / "device.json").write_text("{}")  # per-board configuration: never firmware
    return overlay


def test_an_overlay_adds_files_and_replaces_those_of_the_same_path(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path)
    sources = firmware_sources(STOCK_FIRMWARE_DIR, overlay)
    assert sources[Path("main.py")] == overlay / "main.py"
    assert sources[Path("device_service.py")] == STOCK_FIRMWARE_DIR / "device_service.py"
    added = set(sources) - set(firmware_files(STOCK_FIRMWARE_DIR))
    assert added == {Path("lab_tasks.py"), Path("lib/driver.py")}
    assert list(sources) == sorted(sources, key=lambda p: p.as_posix())


def test_an_overlaid_firmware_hashes_as_the_directory_it_is_copied_to(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path)
    copied = tmp_path / "board"
    relatives = copy_firmware(STOCK_FIRMWARE_DIR, copied, overlay)
    assert (copied / "main.py").read_text() == (overlay / "main.py").read_text()
    assert relatives == firmware_files(copied)
    assert firmware_hash(copied) == firmware_hash(STOCK_FIRMWARE_DIR, overlay) != firmware_hash(STOCK_FIRMWARE_DIR)


def test_a_firmware_needs_main_py_in_one_of_its_layers_and_real_directories(tmp_path: Path) -> None:
    base, overlay = tmp_path / "base", tmp_path / "overlay"
    base.mkdir()
    overlay.mkdir()
    (base / "tasks.py").write_text("")
    with pytest.raises(ConfigError, match=r"^no firmware at .*base with .*overlay over it \(main.py missing\)$"):
        firmware_files(base, overlay)
    (overlay / "main.py").write_text("")
    assert firmware_files(base, overlay) == [Path("main.py"), Path("tasks.py")]
    with pytest.raises(ConfigError, match=r"^no firmware at .*nowhere: not a directory$"):
        firmware_files(base, tmp_path / "nowhere")
