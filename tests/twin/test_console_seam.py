"""The board/console seam: the console uses its board only through ConsoleHost, and back.

SimulatedBoard and BoardConsole are one state machine in two modules; what each may use of the
other is their public members (ConsoleHost on the board's side, the console's board-side hooks
on the other). These checks keep it that way: no private member reached across, and no board
class known to the console.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from labtwin.twin.board import console as console_module
from labtwin.twin.board import console_host
from labtwin.twin.board import process as process_module
from labtwin.twin.board.console import BoardConsole
from labtwin.twin.board.console_host import ConsoleHost
from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.board.profiles import PICO_W

SEAM = [Path(console_module.__file__), Path(console_host.__file__), Path(process_module.__file__)]


def foreign_private_members(path: Path) -> list[str]:
    """``x._name`` where ``x`` is not ``self``/``cls``: another object's private member."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


@pytest.mark.parametrize("path", SEAM, ids=lambda p: p.name)
def test_no_private_member_is_reached_across_the_seam(path: Path) -> None:
    assert foreign_private_members(path) == []


@pytest.mark.parametrize("path", SEAM[:2], ids=lambda p: p.name)
def test_the_console_side_knows_no_board_class(path: Path) -> None:
    assert "labtwin.twin.board.process" not in imported_modules(path)


def test_a_simulated_board_is_a_console_host(tmp_path: Path) -> None:
    board = SimulatedBoard(device_id="seam-1", profile=PICO_W, firmware_dir=tmp_path / "fw", device_config={},
                           work_dir=tmp_path, seed=1, console=True)
    assert isinstance(board, ConsoleHost)
    assert isinstance(board.console, BoardConsole) and board.console.board is board
    # Not started: no process, no crash, nothing to interrupt.
    assert (board.running, board.crashed, board.console_vm_running, board.takeover_requested) == (
        False, False, False, False)
    assert board.firmware_process is None
    with pytest.raises(ValueError, match="already has a console"):
        board.attach_console(board.console)
