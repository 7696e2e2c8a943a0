"""Layering rules as tests: import-linter contracts, and firmware that imports only MicroPython."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labtwin.board_firmware import STOCK_FIRMWARE_DIR as FIRMWARE
from labtwin.board_firmware import firmware_files

REPO = Path(__file__).resolve().parents[1]

# Modules a MicroPython board provides (rp2 / esp32 builds), plus the names it also answers to.
MICROPYTHON_MODULES = {
    "asyncio", "binascii", "collections", "errno", "gc", "hashlib", "io", "json", "machine", "math",
    "micropython", "network", "os", "random", "re", "select", "socket", "ssl", "struct", "sys", "time",
    "uasyncio", "ubinascii", "uerrno", "uhashlib", "ujson", "uos", "uselect", "usocket", "ussl",
    "ustruct", "utime",
}


def device_firmware_files() -> list[Path]:
    return [FIRMWARE / p for p in firmware_files(FIRMWARE) if p.suffix == ".py"]


def test_import_linter_contracts_hold(tmp_path: Path):
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint_imports is None:
        pytest.fail("lint-imports not found: install the test extra (pip install -e '.[test]')")
    # import-linter walks directories, so it reads the package as a wheel lays it out.
    subprocess.run([sys.executable, str(REPO / ".ci" / "stage_package.py"), str(tmp_path)], check=True,
                   capture_output=True, timeout=60)
    run = subprocess.run([lint_imports, "--config", str(REPO / "pyproject.toml")], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)}, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout and "layers" in run.stdout


@pytest.mark.parametrize("path", device_firmware_files(), ids=lambda p: p.name)
def test_firmware_imports_only_micropython_and_its_own_modules(path: Path):
    own = {p.stem for p in device_firmware_files()}
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    foreign = imported - MICROPYTHON_MODULES - own
    assert not foreign, f"{path.name} imports {sorted(foreign)}, which a board does not have"


@pytest.mark.parametrize("path", device_firmware_files(), ids=lambda p: p.name)
def test_firmware_has_no_annotations(path: Path):
    # MicroPython parses annotations but typing does not exist there; keep firmware in the shared subset.
    tree = ast.parse(path.read_text(), filename=str(path))
    annotated = [n.lineno for n in ast.walk(tree)
                 if isinstance(n, ast.AnnAssign) or (isinstance(n, ast.arg) and n.annotation is not None)
                 or (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.returns is not None)]
    assert not annotated, f"{path.name} has annotations on lines {annotated}"


def test_test_modules_have_unique_names():
    # The test folders are not packages, so pytest imports each module by its bare name: a second
    # test_x.py (or helper) in another folder fails the whole run with "import file mismatch".
    modules = [p for p in (REPO / "tests").rglob("*.py") if p.name != "conftest.py"]
    by_name: dict[str, list[str]] = {}
    for path in modules:
        by_name.setdefault(path.stem, []).append(str(path.relative_to(REPO)))
    assert not {name: paths for name, paths in by_name.items() if len(paths) > 1}
