"""`labtwin init DIR`: scaffold a working lab repository (docs/lab-project.md).

The repository holds a lab file (one Pico W with a BME280, a button and a servo), the board's
firmware (labtwin's stock firmware copied file by file, the example's BME280 driver and the lab's own
task module), an experiment, a property scenario, pytest tests with labtwin's plugin, a CI workflow
and a README whose "Try it" commands pass right after scaffolding. The files are text templates in
``labtwin/cli/templates/`` (package data) with ``{name}`` and ``{board_id}`` placeholders.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from labtwin.errors import ConfigError

__all__ = ["DEFAULT_BOARD_ID", "TEMPLATES", "TEMPLATE_DIR", "add_init_parser", "run_init", "scaffold_lab",
           "try_it_commands"]

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
"""The templates of a lab repository's files (package data of ``labtwin.cli``)."""

TEMPLATES: dict[str, str] = {
    "README.md": "README.md.tmpl",
    "lab.toml": "lab.toml.tmpl",
    "firmware/lab_tasks.py": "firmware/lab_tasks.py.tmpl",
    "scenarios/experiments.py": "scenarios/experiments.py.tmpl",
    "scenarios/properties.py": "scenarios/properties.py.tmpl",
    "tests/test_lab.py": "tests/test_lab.py.tmpl",
    "pytest.ini": "pytest.ini.tmpl",
    ".github/workflows/labtwin.yml": "github/labtwin.yml.tmpl",
    ".gitignore": "gitignore.tmpl",
}
"""A lab repository's file (relative path) -> its template (relative to :data:`TEMPLATE_DIR`)."""

DEFAULT_BOARD_ID = "lab-pico-1"
_BOARD_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # a lab file's board id (labtwin.scenarios.labs.lab_file)
_STOCK_IMPORT = "import stock_tasks"
_LAB_IMPORT = "import lab_tasks  # noqa: F401  (registers this lab's tasks: read_bme280, button_presses)\n"


def add_init_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``init`` to the labtwin command line."""
    init = commands.add_parser(
        "init", help="scaffold a working lab repository: lab file, firmware, scenarios, tests, CI",
        description="Write a lab repository into DIR (created; a new or empty folder): a lab file with "
                    "one Pico W wired to a BME280, a button and a servo, its firmware (labtwin's stock firmware "
                    "plus the lab's own tasks), an experiment, a property scenario, pytest tests, a GitHub "
                    "workflow and a README whose commands pass as written. See docs/lab-project.md.")
    init.add_argument("dir", type=Path, metavar="DIR", help="where to write the lab repository")
    init.add_argument("--name", help="the lab's name in its README and comments (default: DIR's name)")
    init.add_argument("--board-id", default=DEFAULT_BOARD_ID,
                      help=f"the Pico W's device id (default: {DEFAULT_BOARD_ID}; 1-64 letters, digits, '.', "
                           "'_' or '-')")


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a folder; labtwin init writes a new lab repository")
    if target.is_dir() and any(target.iterdir()):
        raise ConfigError(f"{target} exists and is not empty; labtwin init writes only into a new or empty folder")


def _render(template: str, name: str, board_id: str) -> str:
    return (TEMPLATE_DIR / template).read_text(encoding="utf-8").replace("{name}", name).replace(
        "{board_id}", board_id)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as file:  # "x": never overwrite
        file.write(text)


def _lab_main(stock_main: str) -> str:
    """The stock ``main.py`` with ``import lab_tasks`` beside ``import stock_tasks``."""
    lines = stock_main.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.startswith(_STOCK_IMPORT):
            lines.insert(index, _LAB_IMPORT)
            return "".join(lines)
    raise ConfigError(f"labtwin's stock firmware main.py has no {_STOCK_IMPORT!r} line to add the lab's tasks beside")


def scaffold_lab(target: Path, *, name: str | None = None, board_id: str = DEFAULT_BOARD_ID) -> list[Path]:
    """Write a lab repository into ``target`` (created; it must be missing or empty).

    Returns the files written, relative to ``target``, sorted.

    Raises:
        ConfigError: ``target`` exists and is not an empty folder; ``board_id`` or ``name`` is invalid.
    """
    from labtwin.board_firmware import STOCK_FIRMWARE_DIR, copy_firmware
    from labtwin.scenarios.experiments.environment import ENVIRONMENT_FIRMWARE_DIR
    from labtwin.scenarios.labs.lab_file import parse_lab_config

    if not _BOARD_ID.match(board_id):
        raise ConfigError(f"--board-id {board_id!r} must be 1-64 letters, digits, '.', '_' or '-'")
    name = (name if name is not None else target.resolve().name).strip()
    if not name or any(char in name for char in "\r\n{}"):
        raise ConfigError(f"--name {name!r} must be one line of text without braces")
    _check_target(target)
    rendered = {relative: _render(template, name, board_id) for relative, template in TEMPLATES.items()}
    parse_lab_config(rendered["lab.toml"], source="lab.toml")  # a template mistake, before anything is written

    target.mkdir(parents=True, exist_ok=True)
    firmware = target / "firmware"
    written = [Path("firmware") / relative for relative in copy_firmware(STOCK_FIRMWARE_DIR, firmware)]
    main_py = firmware / "main.py"
    main_py.write_text(_lab_main(main_py.read_text(encoding="utf-8")), encoding="utf-8")
    driver = Path("firmware/lib/bme280.py")
    _write(target / driver, (ENVIRONMENT_FIRMWARE_DIR / "lib" / "bme280.py").read_text(encoding="utf-8"))
    written.append(driver)
    for relative, text in rendered.items():
        _write(target / relative, text)
        written.append(Path(relative))
    return sorted(written, key=lambda path: path.as_posix())


def run_init(args: argparse.Namespace) -> int:
    """Run ``labtwin init``; returns the exit code."""
    target: Path = args.dir
    written = scaffold_lab(target, name=args.name, board_id=args.board_id)
    firmware = [path for path in written if path.parts[0] == "firmware"]
    print(f"wrote a lab repository to {target}/ ({len(written)} files):")
    for path in written:
        if path.parts[0] != "firmware":
            print(f"  {path.as_posix()}")
    print(f"  firmware/ ({len(firmware)} files: labtwin's stock firmware, main.py importing lab_tasks, "
          "lab_tasks.py, lib/bme280.py)")
    print("next, in that folder (README.md says more):")
    print(f"  cd {target}")
    for command in try_it_commands((target / "README.md").read_text(encoding="utf-8")):
        print(f"  {command}")
    return 0


def try_it_commands(readme: str) -> list[str]:
    """The commands of the first ``sh`` block under a README's "## Try it" heading, one a line."""
    _, _, section = readme.partition("\n## Try it\n")
    block = re.search(r"```sh\n(.*?)```", section.split("\n## ", 1)[0], re.DOTALL)
    if block is None:
        return []
    return [line.strip() for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]
