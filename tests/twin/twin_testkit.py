"""Helpers for the twin tests: a VM runner, output parsing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from labtwin.twin.board.bus import HardwareBus
from labtwin.twin.board.profiles import PICO_W
from labtwin.twin.board.vm_launch import SHIM_DIR, vm_command

VM_SCRIPTS = Path(__file__).parent / "vm_scripts"
LAB_SSID = "labnet"
LAB_PASSWORD = "s3cret-pass"


async def run_vm(bus: HardwareBus, script: str, *, env: dict[str, str] | None = None,
                 timeout: float = 20.0) -> tuple[int, list[str]]:
    """Run a script from vm_scripts/ in the MicroPython VM against ``bus``; return (rc, lines)."""
    full_env = dict(os.environ, MICROPYPATH=f"{SHIM_DIR}:.frozen", **bus.env)
    full_env.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        *vm_command(str(VM_SCRIPTS / script), PICO_W.heap_bytes), env=full_env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode().splitlines()


def results(lines: list[str]) -> dict[str, str]:
    """``label rest-of-line`` output lines as a dict (last one wins)."""
    out: dict[str, str] = {}
    for line in lines:
        label, _, rest = line.partition(" ")
        out[label] = rest
    return out
