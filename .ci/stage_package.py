"""Lay the `labtwin` package out as a wheel installs it, for tools that read packages from disk.

The repository keeps one folder per layer (twin/, orchestrator/, scenarios/, ...) and pyproject's
`package-dir` maps them into the `labtwin` namespace. An editable install resolves that mapping at
import time, but import-linter and mypy walk directories: they check this staged copy instead.

    python .ci/stage_package.py DEST      # writes DEST/labtwin/...
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def stage(dest: Path) -> Path:
    """Copy every mapped folder to its place under ``dest``; returns ``dest / "labtwin"``."""
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    root = dest / "labtwin"
    if root.exists():
        shutil.rmtree(root)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package, folder in sorted(mapping.items()):  # "labtwin" first, then its sub-packages
        target = dest.joinpath(*package.split("."))
        shutil.copytree(REPO / folder, target, ignore=ignore, dirs_exist_ok=True)
    return root


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python .ci/stage_package.py DEST")
    print(stage(Path(sys.argv[1])))
