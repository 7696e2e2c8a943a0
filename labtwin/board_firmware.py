"""The board firmware: one definition of the files that are booted, hashed, validated, checked and flashed.

A board's firmware is a directory holding ``main.py`` and every file beside it, nested folders
included (``lib/sht4x.py`` is as much firmware as ``main.py``). Left out, everywhere alike: Python
caches (``__pycache__``, ``*.pyc``), hidden entries (``.git``, ``.DS_Store``) and a top-level
``device.json``, which is the per-board configuration written when a board is flashed or booted
(docs/device-config.md), never part of the firmware.

labtwin's own firmware ships as package data (:data:`STOCK_FIRMWARE_DIR`); a lab's firmware is any
directory of its repository, complete or laid as an *overlay* over another firmware (its ``main.py``,
task modules and drivers over labtwin's MQTT framework: examples/environment/firmware).
"""

from __future__ import annotations

import hashlib
import shutil
from importlib.resources import files
from pathlib import Path

from labtwin.errors import ConfigError

__all__ = ["DEVICE_CONFIG_NAME", "STOCK_FIRMWARE_DIR", "copy_firmware", "firmware_files", "firmware_hash",
           "firmware_sources", "packaged_dir"]

DEVICE_CONFIG_NAME = "device.json"
"""The per-board configuration file at the top of a board's flash (written by labtwin, not firmware)."""


def packaged_dir(package: str, checkout_folder: str) -> Path:
    """The folder of MicroPython package data ``package`` (a folder with ``main.py``, no ``__init__.py``).

    Installed from a wheel it is read through importlib.resources; in an editable install it is
    ``checkout_folder`` of the checkout (setuptools' editable finder cannot import a folder without
    ``__init__.py`` nested in a package).
    """
    try:
        # Joining a file and taking its parent gives a real Path even where files() answers with a
        # MultiplexedPath.
        return Path(str(files(package).joinpath("main.py"))).parent
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[1] / checkout_folder


STOCK_FIRMWARE_DIR: Path = packaged_dir("labtwin.firmware", "firmware")
"""labtwin's stock board firmware (the seed framework's four tasks over MQTT)."""


def _skipped(relative: Path) -> bool:
    parts = relative.parts
    return (any(part.startswith(".") or part == "__pycache__" for part in parts)
            or relative.suffix == ".pyc" or relative.as_posix() == DEVICE_CONFIG_NAME)


def _files_of(firmware_dir: Path) -> dict[Path, Path]:
    if not firmware_dir.is_dir():
        raise ConfigError(f"no firmware at {firmware_dir}: not a directory")
    found = (path.relative_to(firmware_dir) for path in firmware_dir.rglob("*") if path.is_file())
    return {relative: firmware_dir / relative for relative in found if not _skipped(relative)}


def firmware_sources(firmware_dir: Path, overlay: Path | None = None) -> dict[Path, Path]:
    """The firmware's files: relative path on the board -> the file to copy, in a stable (sorted) order.

    ``overlay`` is a directory laid over ``firmware_dir``: its files are added, and replace those of
    the same path (a lab's ``main.py``, task modules and ``lib/`` drivers over labtwin's framework).

    Raises:
        ConfigError: a directory is missing, or the result has no ``main.py``.
    """
    sources = _files_of(firmware_dir)
    if overlay is not None:
        sources.update(_files_of(overlay))
    if Path("main.py") not in sources:
        where = firmware_dir if overlay is None else f"{firmware_dir} with {overlay} over it"
        raise ConfigError(f"no firmware at {where} (main.py missing)")
    return dict(sorted(sources.items(), key=lambda item: item[0].as_posix()))


def firmware_files(firmware_dir: Path, overlay: Path | None = None) -> list[Path]:
    """Every file of the firmware, relative to the board's root, in :func:`firmware_sources` order."""
    return list(firmware_sources(firmware_dir, overlay))


def firmware_hash(firmware_dir: Path, overlay: Path | None = None) -> str:
    """SHA-256 over the firmware's files: each file's relative path and bytes, in :func:`firmware_files` order.

    A firmware with an overlay hashes as the directory :func:`copy_firmware` makes of it.
    """
    digest = hashlib.sha256()
    for relative, source in firmware_sources(firmware_dir, overlay).items():
        digest.update(relative.as_posix().encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()


def copy_firmware(firmware_dir: Path, target: Path, overlay: Path | None = None) -> list[Path]:
    """Copy the firmware's files (``overlay`` over ``firmware_dir``) into ``target`` (created if missing).

    Returns their relative paths.
    """
    sources = firmware_sources(firmware_dir, overlay)
    for relative, source in sources.items():
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
    return list(sources)
