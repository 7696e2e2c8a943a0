"""How a board's MicroPython VM is launched: its command line, its shims and its reset exit code.

Shared by the board process (:mod:`labtwin.twin.board.process`, which boots ``main.py``) and its
serial console (:mod:`labtwin.twin.board.console`, which boots the REPL VM), so neither has to
import the other for them.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["BOARD_PROFILE_ENV", "LAB_TIME_SHIM_DIR", "RESET_EXIT_CODE", "SHIM_DIR", "vm_argv", "vm_command"]

RESET_EXIT_CODE = 75
"""Exit code of the VM after ``machine.reset()``/``soft_reset()`` (the shim's ``RESET_EXIT_CODE``).

Any exit with this code, or after the firmware sent the bus's ``reset`` op, is
a reboot: the board restarts automatically.
"""

BOARD_PROFILE_ENV = "LABTWIN_BOARD_PROFILE"
"""Environment variable set in every VM of a board: the name of the profile it simulates."""

SHIM_DIR = Path(__file__).resolve().parent / "shims"
"""MicroPython ``machine``/``network`` shims put on ``MICROPYPATH`` before ``.frozen``."""

LAB_TIME_SHIM_DIR = Path(__file__).resolve().parent / "lab_time_shims"
"""``time`` and ``select`` on lab time, put before SHIM_DIR when the lab runs faster than real time."""

# `python -m micropython_unix` drops run_main's return value (the VM's exit code),
# so a one-line launcher passes it on: crashes exit 1, machine.reset() exits 75.
# SIGINT is ignored until the VM installs its own handler (while it runs a script or
# REPL input), so a SIGINT is caught by the process exactly while MicroPython code runs
# (the board console reads that from /proc to deliver Ctrl-C as KeyboardInterrupt).
_LAUNCHER = ("import signal, sys, micropython_unix; signal.signal(signal.SIGINT, signal.SIG_IGN); "
             "sys.exit(micropython_unix.run_main(sys.argv))")


def vm_argv(heap_bytes: int, *args: str) -> list[str]:
    """argv that runs the MicroPython unix VM with ``args`` and exits with the VM's exit code."""
    return [sys.executable, "-c", _LAUNCHER, "-X", f"heapsize={heap_bytes}", *args]


def vm_command(script: str, heap_bytes: int) -> list[str]:
    """argv that runs ``script`` in the MicroPython unix VM and exits with the VM's exit code."""
    return vm_argv(heap_bytes, script)
