"""The package as pip installs it: one `labtwin` namespace, every package listed, the firmware as data."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from labtwin.board_firmware import STOCK_FIRMWARE_DIR, firmware_files
from labtwin.scenarios.experiments.environment import ENVIRONMENT_FIRMWARE_DIR

REPO = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def _folders_with_python_files() -> set[str]:
    found = set()
    for package, folder in SETUPTOOLS["package-dir"].items():
        root = REPO / folder
        for module in root.rglob("*.py"):
            relative = module.parent.relative_to(root)
            if "__pycache__" not in relative.parts:
                found.add(".".join([package, *relative.parts]))
    return found


def test_every_folder_of_python_files_is_listed_in_pyproject():
    # A folder that is not listed works in the checkout and is missing from the wheel (or, for the
    # firmware's and the shims' folders, setuptools warns that it would be). A listed folder without
    # Python files must ship data (package-data), or it is a stale entry.
    listed = set(SETUPTOOLS["packages"])
    data_only = listed - _folders_with_python_files()
    assert listed >= _folders_with_python_files()
    assert data_only <= set(SETUPTOOLS["package-data"]), data_only


def test_only_the_labtwin_namespace_is_installed():
    assert {name.split(".")[0] for name in SETUPTOOLS["packages"]} == {"labtwin"}
    assert all(package == "labtwin" or package.startswith("labtwin.") for package in SETUPTOOLS["package-dir"])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the test must not reach a package index; the venv's setuptools builds it.
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(out), str(REPO)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    (path,) = out.glob("labtwin-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_wheel_holds_one_top_level_name_and_the_board_firmware_as_data(wheel: zipfile.ZipFile):
    names = wheel.namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"labtwin"}
    for relative in firmware_files(STOCK_FIRMWARE_DIR):
        assert f"labtwin/firmware/{relative.as_posix()}" in names
    for relative in firmware_files(ENVIRONMENT_FIRMWARE_DIR):  # `labtwin run environment` works from a wheel
        assert f"labtwin/examples/environment/firmware/{relative.as_posix()}" in names
    assert "labtwin/examples/environment/lab.toml" in names
    assert {"labtwin/twin/board/shims/machine.py", "labtwin/twin/board/shims/network.py"} <= set(names)
    assert {"labtwin/ot2_app/__main__.py", "labtwin/cli/main.py", "labtwin/__main__.py",
            "labtwin/py.typed"} <= set(names)
    assert not any("__pycache__" in name for name in names)
    entry_points = wheel.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "labtwin = labtwin.cli.main:main" in entry_points


def test_python_dash_m_labtwin_is_the_cli():
    run = subprocess.run([sys.executable, "-m", "labtwin", "list"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("sensor ")
    assert "chaos" in run.stdout
