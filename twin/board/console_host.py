"""The seam between a board's serial console and the board it serves: what the console may ask of it.

A board runs one VM process at a time, and the console decides some of them: after a Ctrl-C it
wants its REPL VM instead of ``main.py``, after a soft reboot it wants a fresh REPL or ``main.py``
again. :class:`ConsoleHost` lists exactly what :class:`~labtwin.twin.board.console.BoardConsole`
needs for that, and :class:`~labtwin.twin.board.process.SimulatedBoard` implements it; the console
knows no concrete board class.

The other direction is :class:`~labtwin.twin.board.console.BoardConsole`'s board-side hooks
(``bridge``, ``firmware_line``, ``vm_exited``, ``board_stopped``), which the board's supervisor
calls.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from labtwin.twin.board.profiles import BoardProfile

if TYPE_CHECKING:
    from labtwin.twin.board.console import BoardConsole

__all__ = ["ConsoleHost"]


@runtime_checkable
class ConsoleHost(Protocol):
    """A board as its serial console sees it.

    The board owns its VM processes and their supervision; the console only asks for the next
    one (:meth:`boot_firmware`, :meth:`boot_console_vm`, :meth:`revive_into_repl`) and interrupts
    ``main.py`` (:attr:`firmware_process`, :meth:`request_takeover`).
    """

    @property
    def device_id(self) -> str:
        """The board's device id (for messages and logs)."""

    @property
    def profile(self) -> BoardProfile:
        """The board type: heap size of its VM, machine name (native USB or a bridge)."""

    @property
    def flash_dir(self) -> Path:
        """The board's flash directory, the REPL's filesystem root."""

    @property
    def console(self) -> BoardConsole | None:
        """The console attached to the board, if any."""

    @property
    def running(self) -> bool:
        """Whether a VM process (``main.py`` or the REPL VM) is alive."""

    @property
    def crashed(self) -> bool:
        """Whether the board's VM exited unexpectedly (the board is stopped with a crash)."""

    @property
    def reset_cause(self) -> int:
        """What ``machine.reset_cause()`` would answer now."""

    @property
    def console_vm_running(self) -> bool:
        """Whether the current process is the console's REPL VM rather than ``main.py``."""

    @property
    def firmware_process(self) -> asyncio.subprocess.Process | None:
        """The live ``main.py`` VM process, or None (no process, it exited, or the REPL VM runs)."""

    @property
    def takeover_requested(self) -> bool:
        """Whether the console interrupted ``main.py`` and wants its REPL once ``main.py`` has exited."""

    def attach_console(self, console: BoardConsole) -> None:
        """Make ``console`` the board's console (``board.console``); a board has at most one."""

    def note(self, text: str) -> None:
        """Record a labtwin event (``# labtwin: ...``) in the board's log file."""

    def request_takeover(self) -> None:
        """Ask for the REPL when ``main.py`` exits (the console just sent it a Ctrl-C)."""

    async def boot_firmware(self, cause: int) -> None:
        """Boot ``main.py`` in a new VM with reset cause ``cause`` (the previous VM has exited)."""

    async def boot_console_vm(self, argv: list[str], cause: int | None) -> asyncio.subprocess.Process:
        """Run ``argv`` (the REPL VM) as the board's process; ``cause`` None keeps the peripherals as they are."""

    async def revive_into_repl(self, argv: list[str]) -> bool:
        """Start the REPL VM on a crashed board (it would sit in its REPL); False if not crashed."""
