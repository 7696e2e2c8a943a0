"""Static checks as tests, so `pytest` (and so CI) runs them: ruff over the repository, mypy --strict
over the CPython packages (configuration in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install the test extra (pip install -e '.[test]')")
    return path


def test_ruff_finds_nothing():
    run = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_strict_finds_nothing(tmp_path: Path):
    # mypy walks directories, so it reads the package as a wheel lays it out.
    subprocess.run([sys.executable, str(REPO / ".ci" / "stage_package.py"), str(tmp_path)], check=True,
                   capture_output=True, timeout=60)
    run = subprocess.run([_tool("mypy"), "--config-file", str(REPO / "pyproject.toml"), "--cache-dir",
                          str(tmp_path / ".mypy_cache"), "-p", "labtwin"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Success: no issues found" in run.stdout
