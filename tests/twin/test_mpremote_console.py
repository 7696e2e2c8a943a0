"""The real ``mpremote`` CLI against a twin board's console, as against a board on USB."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from labtwin.errors import BoardCrashed
from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.board.profiles import PICO_W

pytest.importorskip("mpremote")

FIRMWARE = """\
import machine, time
print("fw v1", machine.reset_cause())
while True:
    time.sleep_ms(20)
"""

NEW_MAIN = """\
import machine, time
from helper import VERSION
print("fw", VERSION, machine.reset_cause())
while True:
    time.sleep_ms(20)
"""

TIMEOUT = 20.0


async def mpremote(board: SimulatedBoard, *args: str, ok: bool = True) -> str:
    """Run ``python -m mpremote connect URL ARGS...``; return its stdout (and stderr)."""
    assert board.console is not None
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mpremote", "connect", board.console.url, *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = out.decode()
    if ok:
        assert proc.returncode == 0, f"mpremote {' '.join(args)} failed ({proc.returncode}): {text}"
    return text


@pytest.fixture
def firmware(tmp_path: Path) -> Path:
    fw = tmp_path / "firmware"
    fw.mkdir()
    (fw / "main.py").write_text(FIRMWARE)
    return fw


@pytest.fixture
async def board(firmware: Path, tmp_path: Path) -> AsyncIterator[SimulatedBoard]:
    async with SimulatedBoard(device_id="dev-mpremote", profile=PICO_W, firmware_dir=firmware,
                              device_config={"name": "x"}, work_dir=tmp_path / "work", seed=5,
                              console=True) as running:
        await running.wait_for_output("^fw v1 1$", timeout=TIMEOUT)
        yield running


async def test_ls_exec_run_and_soft_reset(board: SimulatedBoard, tmp_path: Path) -> None:
    listing = await mpremote(board, "fs", "ls")
    assert listing.splitlines()[0] == "ls :"
    assert {line.split()[-1] for line in listing.splitlines()[1:]} == {"main.py", "device.json"}
    assert await mpremote(board, "exec", "print(1+1)") == "2\n"
    script = tmp_path / "script.py"
    script.write_text("import os, sys\nprint('run', os.getcwd(), sys.path)\n")
    assert await mpremote(board, "run", str(script)) == "run / ['', '.frozen', '/lib']\n"
    assert await mpremote(board, "exec", "import sys; sys.exit(3)") == ""  # a soft reboot, no error
    assert await mpremote(board, "soft-reset") == ""
    failed = await mpremote(board, "exec", "1/0", ok=False)
    assert failed.endswith("ZeroDivisionError: divide by zero\n")
    await board.wait_for_output("^fw v1 1$", timeout=TIMEOUT)
    assert board.running and board.console is not None and board.console.sessions == 6
    board.check()


async def test_cp_cat_sha256_and_reset_runs_the_new_main(board: SimulatedBoard, tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(NEW_MAIN)
    (tmp_path / "helper.py").write_text("VERSION = 'v2'\n")
    blob = os.urandom(10 * 1024)
    (tmp_path / "blob.bin").write_bytes(blob)
    await mpremote(board, "fs", "mkdir", ":/lib")
    out = await mpremote(board, "fs", "cp", str(tmp_path / "helper.py"), ":/lib/helper.py", "+",
                         "fs", "cp", str(tmp_path / "main.py"), ":main.py", "+",
                         "fs", "cp", str(tmp_path / "blob.bin"), ":blob.bin")
    assert "cp " in out
    assert (board.flash_dir / "main.py").read_text() == NEW_MAIN
    assert (board.flash_dir / "lib" / "helper.py").read_text() == "VERSION = 'v2'\n"
    assert (board.flash_dir / "blob.bin").read_bytes() == blob
    assert await mpremote(board, "fs", "cat", ":/lib/helper.py") == "VERSION = 'v2'\n"
    sums = await mpremote(board, "fs", "sha256sum", ":blob.bin")
    assert sums.splitlines()[-1] == hashlib.sha256(blob).hexdigest()
    await mpremote(board, "fs", "cp", ":blob.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == blob
    assert "Up to date: main.py" in await mpremote(board, "fs", "cp", str(tmp_path / "main.py"), ":main.py")
    await mpremote(board, "fs", "rm", ":blob.bin")
    assert not (board.flash_dir / "blob.bin").exists()
    assert await mpremote(board, "reset") == ""
    # machine.reset() on an RP2040 is a watchdog reset: reset_cause() == WDT_RESET (3).
    await board.wait_for_output("^fw v2 3$", timeout=TIMEOUT)
    assert board.reboots == 1 and board.running
    board.check()


async def test_mount_runs_local_code_and_moves_binary_data(board: SimulatedBoard, tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    (local / "hello.py").write_text("print('hello from the host')\n")
    (local / "data.bin").write_bytes(bytes(range(256)))
    code = ("import hello\n"
            "d = open('/remote/data.bin', 'rb'); d.seek(10); print(d.read(4))\n"
            "with open('/remote/out.bin', 'wb') as f: f.write(bytes(range(256)))\n")
    out = await mpremote(board, "mount", str(local), "exec", code)
    # mpremote's own "Local directory ... is mounted" line may come before or after the board's output.
    assert "hello from the host\nb'\\n\\x0b\\x0c\\r'\n" in out
    assert (local / "out.bin").read_bytes() == bytes(range(256))  # the board's output is not "cooked"


async def test_a_crashing_firmware_is_fixed_over_the_console(tmp_path: Path) -> None:
    fw = tmp_path / "firmware"
    fw.mkdir()
    (fw / "main.py").write_text("raise RuntimeError('bad build')\n")
    (tmp_path / "fixed.py").write_text(FIRMWARE)
    async with SimulatedBoard(device_id="dev-fix", profile=PICO_W, firmware_dir=fw, device_config={},
                              work_dir=tmp_path / "work", seed=5, console=True) as board:
        assert await board.wait_exited(timeout=TIMEOUT) == 1
        with pytest.raises(BoardCrashed, match="bad build"):
            board.check()
        await mpremote(board, "fs", "cp", str(tmp_path / "fixed.py"), ":main.py", "+", "reset")
        await board.wait_for_output("^fw v1 3$", timeout=TIMEOUT)
        board.check()
        assert board.running
