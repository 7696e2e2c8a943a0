"""The board firmware: one definition of the files that are booted, hashed, validated, checked and flashed.

A board's firmware is a directory holding ``main.py`` and every file beside it, nested folders
included (``lib/sht4x.py`` is as much firmware as ``main.py``). Left out, everywhere alike: Python
caches (``__pycache__``, ``*.pyc``), hidden entries (``.git``, ``.DS_Store``) and a top-level
``device.json``, which is the per-board configuration written when a board is flashed or booted
(docs/device-config.md), never part of the firmware.

labtwin's own firmware ships as package data (:data:`STOCK_FIRMWARE_DIR`); a lab's firmware is any
directory of its repository.
"""

from __future__ import annotations

import hashlib
import shutil
from importlib.resources import files
from pathlib import Path

from labtwin.errors import ConfigError

__all__ = ["DEVICE_CONFIG_NAME", "STOCK_FIRMWARE_DIR", "copy_firmware", "firmware_files", "firmware_hash"]

DEVICE_CONFIG_NAME = "device.json"
"""The per-board configuration file at the top of a board's flash (written by labtwin, not firmware)."""


def _stock_firmware_dir() -> Path:
    try:
        # Installed from a wheel: the firmware is package data in labtwin/firmware/. Joining a file
        # and taking its parent gives a real Path even where files() answers with a MultiplexedPath.
        return Path(str(files("labtwin.firmware").joinpath("main.py"))).parent
    except ModuleNotFoundError:
        # An editable install: setuptools' finder cannot import a folder without __init__.py nested
        # in a package, so the firmware is read where the checkout keeps it.
        return Path(__file__).resolve().parents[1] / "firmware"


STOCK_FIRMWARE_DIR: Path = _stock_firmware_dir()
"""labtwin's stock board firmware (the seed framework's four tasks over MQTT)."""


def _skipped(relative: Path) -> bool:
    parts = relative.parts
    return (any(part.startswith(".") or part == "__pycache__" for part in parts)
            or relative.suffix == ".pyc" or relative.as_posix() == DEVICE_CONFIG_NAME)


def firmware_files(firmware_dir: Path) -> list[Path]:
    """Every file of the firmware in ``firmware_dir``, relative to it, in a stable (sorted) order.

    Raises:
        ConfigError: ``firmware_dir`` is not a directory or has no ``main.py``.
    """
    if not firmware_dir.is_dir():
        raise ConfigError(f"no firmware at {firmware_dir}: not a directory")
    if not (firmware_dir / "main.py").is_file():
        raise ConfigError(f"no firmware at {firmware_dir} (main.py missing)")
    found = (path.relative_to(firmware_dir) for path in firmware_dir.rglob("*") if path.is_file())
    return sorted((relative for relative in found if not _skipped(relative)), key=lambda p: p.as_posix())


def firmware_hash(firmware_dir: Path) -> str:
    """SHA-256 over the firmware's files: each file's relative path and bytes, in :func:`firmware_files` order."""
    digest = hashlib.sha256()
    for relative in firmware_files(firmware_dir):
        digest.update(relative.as_posix().encode() + b"\0" + (firmware_dir / relative).read_bytes() + b"\0")
    return digest.hexdigest()


def copy_firmware(firmware_dir: Path, target: Path) -> list[Path]:
    """Copy the firmware's files into ``target`` (created if missing); returns their relative paths."""
    relatives = firmware_files(firmware_dir)
    for relative in relatives:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(firmware_dir / relative, destination)
    return relatives
