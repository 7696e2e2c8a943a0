"""Firmware variants for experiments: the stock firmware plus extra task modules.

An experiment that needs a task the stock firmware does not have (a non-idempotent dose, a
heap-filling task) copies the firmware and registers its own module next to the stock tasks,
so everything else runs exactly as flashed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from labtwin.board_firmware import copy_firmware
from labtwin.errors import ConfigError

__all__ = ["firmware_with_tasks"]

_STOCK_IMPORT = "import stock_tasks"


def firmware_with_tasks(firmware_dir: Path, target: Path, modules: Mapping[str, str]) -> Path:
    """Copy the board firmware in ``firmware_dir`` to ``target`` with extra task modules.

    ``modules`` maps module names to MicroPython source; ``main.py`` imports each of them
    before the stock tasks. Returns ``target``. Raises ConfigError if ``main.py`` does not
    import ``stock_tasks`` (the place the modules are hooked in) or a name is taken.
    """
    main_py = firmware_dir / "main.py"
    source = main_py.read_text(encoding="utf-8") if main_py.is_file() else ""
    if _STOCK_IMPORT not in source:
        raise ConfigError(f"{main_py} does not {_STOCK_IMPORT!r}: cannot add task modules to it")
    for name in modules:
        if not name.isidentifier() or (firmware_dir / f"{name}.py").exists():
            raise ConfigError(f"cannot add task module {name!r} to {firmware_dir}: bad or taken name")
    copy_firmware(firmware_dir, target)
    for name, text in modules.items():
        (target / f"{name}.py").write_text(text, encoding="utf-8")
    imports = "".join(f"import {name}  # noqa: F401\n" for name in modules)
    (target / "main.py").write_text(source.replace(_STOCK_IMPORT, imports + _STOCK_IMPORT, 1), encoding="utf-8")
    return target
