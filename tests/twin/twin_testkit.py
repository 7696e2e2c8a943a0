"""Helpers for the twin tests: a VM runner, output parsing."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from labtwin.twin.board.bus import HardwareBus
from labtwin.twin.board.vm_launch import BOARD_PROFILE_ENV, SHIM_DIR, vm_command

VM_SCRIPTS = Path(__file__).parent / "vm_scripts"
LAB_SSID = "labnet"
LAB_PASSWORD = "s3cret-pass"


async def run_vm(bus: HardwareBus, script: str, *, env: dict[str, str] | None = None, timeout: float = 60.0,
                 on_line: Callable[[str], Awaitable[None]] | None = None) -> tuple[int, list[str]]:
    """Run a vm_scripts/ script in the MicroPython VM as ``bus``'s board (its profile's name and heap).

    ``on_line`` sees each output line as it comes; returns (exit code, every line).
    """
    profile = bus.model.profile
    full_env = dict(os.environ, MICROPYPATH=f"{SHIM_DIR}:.frozen", **bus.env)
    full_env[BOARD_PROFILE_ENV] = profile.name
    full_env.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        *vm_command(str(VM_SCRIPTS / script), profile.heap_bytes), env=full_env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    lines: list[str] = []

    async def pump() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode().rstrip("\n")
            lines.append(line)
            if on_line is not None:
                await on_line(line)
        await proc.wait()

    try:
        await asyncio.wait_for(pump(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, lines


async def run_vm_results(bus: HardwareBus, script: str, *, timeout: float = 60.0) -> dict[str, str]:
    """Run a script that must exit 0 without a bus error; its labelled results (:func:`results`)."""
    rc, lines = await run_vm(bus, script, timeout=timeout)
    assert rc == 0 and bus.internal_errors == [], lines
    return results(lines)


def results(lines: list[str]) -> dict[str, str]:
    """``label rest-of-line`` output lines as a dict (last one wins)."""
    out: dict[str, str] = {}
    for line in lines:
        label, _, rest = line.partition(" ")
        out[label] = rest
    return out
