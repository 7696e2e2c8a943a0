"""A lab's own repository, with folders named like labtwin's layers, cannot shadow labtwin.

The lab keeps `firmware/`, `scenarios/`, `twin/`, `orchestrator/` and `tests/` (the layout
docs/ci/bench-workflow.yml suggests) and a `conftest.py`. Each of its packages fails loudly when
imported, so labtwin reaching for one of them instead of its own shows up as that failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LABTWIN = Path(sys.executable).parent / "labtwin"

LAB_TEST = '''
import asyncio

from labtwin.scenarios.labs.twin_lab import TwinLab


def test_a_twin_lab_runs_the_stock_firmware_from_a_lab_repository():
    async def drive():
        async with TwinLab(devices=["lab-board-1"]) as lab:
            await lab.client("lab-board-1").execute_task("control_led", pin="LED", state=True)
            return lab.board("lab-board-1").model.led

    assert asyncio.run(drive()) is True
'''


def _shadowing_package(root: Path, name: str) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text(f"raise ImportError('the lab repository\\'s own {name} was imported')\n")


@pytest.fixture
def lab_repository(tmp_path: Path) -> Path:
    repo = tmp_path / "our-lab"
    for name in ("scenarios", "twin", "orchestrator"):
        _shadowing_package(repo, name)
    (repo / "firmware").mkdir()  # the lab's own board firmware: a namespace-like folder, no __init__.py
    (repo / "firmware" / "main.py").write_text("raise SystemExit('the lab firmware ran instead of the stock one')\n")
    (repo / "firmware" / "stock_tasks.py").write_text("raise ImportError('the lab firmware was imported')\n")
    (repo / "tests").mkdir()
    (repo / "conftest.py").write_text("collect_ignore = ['firmware']\n")
    (repo / "tests" / "test_lab_board.py").write_text(LAB_TEST)
    return repo


def _environment(repo: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "COV_"))}
    env["PYTHONPATH"] = str(repo)  # the strongest shadowing a lab can do: its folders first on sys.path
    return env


def test_labtwin_run_works_inside_a_lab_repository(lab_repository: Path):
    run = subprocess.run([str(LABTWIN), "run", "--work-dir", str(lab_repository / ".runs")], cwd=lab_repository,
                         env=_environment(lab_repository), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "scenario 'sensor' passed" in run.stdout


def test_a_pytest_file_in_a_lab_repository_starts_a_twin_lab(lab_repository: Path):
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_lab_board.py"],
                         cwd=lab_repository, env=_environment(lab_repository), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
