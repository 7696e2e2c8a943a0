"""The board console at the byte level: what a raw socket sees, as mpremote would (docs/board-console.md)."""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from testkit import wait_until

from labtwin.errors import BoardCrashed
from labtwin.twin.board.console import (
    FRIENDLY_BANNER_END,
    RAW_REPL_BANNER,
    SOFT_REBOOT,
    BoardConsole,
)
from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.board.profiles import PICO_W

FIRMWARE = """\
import json, machine, time
cfg = json.load(open("device.json"))
print("fw boot", machine.reset_cause())
if cfg.get("crash"):
    raise ValueError("boom")
if cfg.get("stubborn"):
    try:
        print("stubborn")
        while True:
            time.sleep_ms(20)
    except KeyboardInterrupt:
        print("ignored one Ctrl-C")
while True:
    time.sleep_ms(20)
"""

RAW_PROMPT = RAW_REPL_BANNER + b">"
TIMEOUT = 10.0


class Client:
    """A serial-console client on a raw socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, console: BoardConsole) -> Client:
        reader, writer = await asyncio.open_connection(*console.address)
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def until(self, marker: bytes) -> bytes:
        """Everything up to and including ``marker``."""
        return await asyncio.wait_for(self.reader.readuntil(marker), TIMEOUT)

    async def exactly(self, n: int) -> bytes:
        return await asyncio.wait_for(self.reader.readexactly(n), TIMEOUT)

    async def friendly(self) -> bytes:
        """Ctrl-C into main.py: its KeyboardInterrupt, then the friendly REPL's banner and prompt."""
        self.send(b"\r\x03")
        return await self.until(b">>> ")

    async def raw(self) -> None:
        await self.friendly()
        self.send(b"\r\x01")
        await self.until(RAW_PROMPT)

    async def exec_raw(self, code: bytes) -> tuple[bytes, bytes]:
        """Raw REPL exec (no paste): ``OK``, output ``\\x04``, error ``\\x04``, ``>``."""
        self.send(code + b"\x04")
        assert await self.exactly(2) == b"OK"
        out = (await self.until(b"\x04"))[:-1]
        err = (await self.until(b"\x04"))[:-1]
        assert await self.exactly(1) == b">"
        return out, err

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


@pytest.fixture
def firmware(tmp_path: Path) -> Path:
    fw = tmp_path / "firmware"
    fw.mkdir()
    (fw / "main.py").write_text(FIRMWARE)
    (fw / "boot.py").write_text("BOOTED = 'yes'\nprint('boot.py ran')\n")
    return fw


def make_board(firmware: Path, tmp_path: Path, **config: object) -> SimulatedBoard:
    return SimulatedBoard(device_id="dev-console", profile=PICO_W, firmware_dir=firmware,
                          device_config=dict(config), work_dir=tmp_path / "work", seed=3, console=True)


@pytest.fixture
async def board(firmware: Path, tmp_path: Path) -> AsyncIterator[SimulatedBoard]:
    async with make_board(firmware, tmp_path) as running:
        await running.wait_for_output("^fw boot 1$", timeout=TIMEOUT)
        yield running


@pytest.fixture
async def client(board: SimulatedBoard) -> AsyncIterator[Client]:
    assert board.console is not None
    c = await Client.connect(board.console)
    yield c
    await c.close()


def fw_boots(board: SimulatedBoard) -> int:
    return sum(1 for line in board.log_lines if line.startswith("fw boot"))


async def wait_boots(board: SimulatedBoard, n: int) -> None:
    await wait_until(lambda: fw_boots(board) >= n, f"main.py booted {n} times", timeout=TIMEOUT)


async def test_console_url_lives_with_the_board(firmware: Path, tmp_path: Path) -> None:
    board = make_board(firmware, tmp_path)
    console = board.console
    assert isinstance(console, BoardConsole) and console.board is board
    with pytest.raises(RuntimeError, match="not started"):
        _ = console.url
    with pytest.raises(ValueError, match="already has a console"):
        BoardConsole(board)
    other = SimulatedBoard(device_id="y", profile=PICO_W, firmware_dir=firmware, device_config={},
                           work_dir=tmp_path, seed=1)
    with pytest.raises(ValueError, match="loopback only"):
        BoardConsole(other, host="0.0.0.0")
    async with board:
        assert re.fullmatch(r"socket://127\.0\.0\.1:\d+", console.url)
        host, port = console.address
        assert host == "127.0.0.1" and port > 0
        await board.power_cut()
        await board.start()  # a reboot keeps the console and its port
        assert console.address == (host, port)
    with pytest.raises(OSError):
        await asyncio.open_connection(host, port)
    assert SimulatedBoard(device_id="x", profile=PICO_W, firmware_dir=firmware, device_config={},
                          work_dir=tmp_path, seed=1).console is None


async def test_ctrl_c_interrupts_main_into_the_friendly_repl(board: SimulatedBoard, client: Client) -> None:
    assert board.console is not None and not board.console.in_repl
    banner = await client.friendly()
    assert b"KeyboardInterrupt" in banner  # main.py's traceback, as a board prints it
    assert banner.endswith(FRIENDLY_BANNER_END + b">>> ") and b"\nMicroPython " in banner
    assert board.console.in_repl and board.console.repl_mode == "friendly" and board.running
    assert "KeyboardInterrupt: " in board.log_lines  # the interrupted run is in the board's log
    client.send(b"6*7\r")
    assert await client.until(b">>> ") == b"6*7\r\n42\n>>> "  # echo, value, prompt
    client.send(b"\x03")  # Ctrl-C at the prompt: a fresh prompt
    assert await client.until(b">>> ") == b"\r\n>>> "
    client.send(b"\x01")
    assert await client.until(RAW_PROMPT) == b"\r\n" + RAW_PROMPT
    assert board.console.repl_mode == "raw"
    client.send(b"\x02")  # Ctrl-B: back to the friendly REPL, with its banner
    assert (await client.until(b">>> ")).endswith(FRIENDLY_BANNER_END + b">>> ")
    assert board.console.repl_mode == "friendly"


async def test_raw_repl_exec_output_and_error(client: Client) -> None:
    await client.raw()
    assert await client.exec_raw(b"print(1+1)") == (b"2\n", b"")
    assert await client.exec_raw(b"x = 5") == (b"", b"")
    assert await client.exec_raw(b"print(x * 2)") == (b"10\n", b"")  # globals persist
    out, err = await client.exec_raw(b"print('a')\n1/0")
    assert out == b"a\n"
    assert err == (b'Traceback (most recent call last):\n  File "<stdin>", line 2, in <module>\n'
                   b"ZeroDivisionError: divide by zero\n")
    client.send(b"junk\x03")  # Ctrl-C at the raw prompt clears the line
    assert await client.exec_raw(b"print('clean')") == (b"clean\n", b"")


async def test_raw_paste_with_flow_control(client: Client) -> None:
    await client.raw()
    client.send(b"\x05A\x01")
    assert await client.exactly(2) == b"R\x01"
    window = struct.unpack("<H", await client.exactly(2))[0]
    assert window == 128
    code = b"s = 0\n" + b"".join(b"s += %d\n" % i for i in range(200)) + b"print('sum', s)\n"
    assert len(code) > 4 * window
    credit, sent = window, 0
    while sent < len(code):  # never more than the credit; each \x01 from the board adds a window
        if credit == 0:
            assert await client.exactly(1) == b"\x01"
            credit += window
        chunk = code[sent:sent + credit]
        client.send(chunk)
        sent += len(chunk)
        credit -= len(chunk)
    client.send(b"\x04")
    rest = await client.until(b"\x04")  # window grants still in flight, then the end-of-data ack
    assert set(rest[:-1]) <= {1}
    assert await client.until(b"\x04") == b"sum 19900\n\x04"
    assert await client.until(b"\x04>") == b"\x04>"
    client.send(b"\x05B\x01")  # an unknown paste command is refused
    assert await client.exactly(2) == b"R\x00"


async def test_ctrl_c_interrupts_running_code(client: Client) -> None:
    await client.raw()
    client.send(b"print('spinning')\nwhile True:\n pass\x04")
    assert await client.until(b"spinning\n") == b"OKspinning\n"
    client.send(b"\x03")
    assert await client.until(b"\x04") == b"\x04"
    err = await client.until(b"\x04")
    assert err.endswith(b"KeyboardInterrupt: \n\x04")
    assert await client.exactly(1) == b">"
    assert await client.exec_raw(b"print('alive')") == (b"alive\n", b"")


async def test_soft_reboot_in_the_raw_repl(board: SimulatedBoard, client: Client) -> None:
    await client.raw()
    assert await client.exec_raw(b"x = 1") == (b"", b"")
    boots = board.model.boot_count
    client.send(b"\x04")  # Ctrl-D at an empty raw prompt: soft reboot, as mpremote does first
    assert await client.until(RAW_PROMPT) == b"OK\r\n" + SOFT_REBOOT + b"boot.py ran\n" + RAW_PROMPT
    assert board.model.boot_count == boots + 1 and board.model.reset_cause == 1
    out, err = await client.exec_raw(b"print(BOOTED)\nprint(x)")
    assert out == b"yes\n" and b"NameError" in err  # a fresh VM that ran boot.py
    client.send(b"import sys\nsys.exit()\x04")  # SystemExit is a soft reboot too
    assert await client.until(RAW_PROMPT) == b"OK\x04\x04" + SOFT_REBOOT + b"boot.py ran\n" + RAW_PROMPT
    client.send(b"import machine\nmachine.soft_reset()\x04")
    assert (await client.until(RAW_PROMPT)).endswith(SOFT_REBOOT + b"boot.py ran\n" + RAW_PROMPT)
    assert board.console is not None and board.console.soft_reboots == 3
    assert fw_boots(board) == 1


async def test_the_flash_is_the_filesystem_root(board: SimulatedBoard, client: Client) -> None:
    await client.raw()
    code = b"""\
import os, sys
os.mkdir('/lib')
with open('/lib/helper.py', 'w') as f:
    f.write('VALUE = 7\\n')
with open('/../../../escape.txt', 'w') as f:
    f.write('kept inside')
os.chdir('lib')
print(os.getcwd(), sorted(os.listdir()))
os.chdir('/')
import helper
print(helper.VALUE, sys.path, os.getcwd(), sorted(os.listdir('/')))
"""
    out, err = await client.exec_raw(code)
    assert err == b""
    assert out == (b"/lib ['helper.py']\n7 ['', '.frozen', '/lib'] / "
                   b"['boot.py', 'device.json', 'escape.txt', 'lib', 'main.py']\n")
    assert (board.flash_dir / "lib" / "helper.py").read_text() == "VALUE = 7\n"
    assert (board.flash_dir / "escape.txt").read_text() == "kept inside"
    out, err = await client.exec_raw(b"import machine\nprint(machine.reset_cause(), machine.unique_id().hex())")
    assert err == b"" and out == f"1 {board.model.op_unique_id()}\n".encode()
    out, err = await client.exec_raw(b"import os\nprint(os.getenv('LABTWIN_BOARD_PROFILE'))")
    assert (out, err) == (b"pico_w\n", b"")  # what the twin simulates (sys.platform is 'linux')
    out, err = await client.exec_raw(b"open('missing.txt')")
    assert out == b"" and err.endswith(b"OSError: [Errno 2] ENOENT\n")


async def test_soft_reboot_in_the_friendly_repl_runs_main(board: SimulatedBoard, client: Client) -> None:
    await client.friendly()
    client.send(b"\x04")  # Ctrl-D at the friendly prompt: soft reboot, then main.py runs
    assert await client.until(b"fw boot 1\n") == b"\r\n" + SOFT_REBOOT + b"fw boot 1\n"
    assert board.console is not None and not board.console.in_repl
    await client.friendly()  # and Ctrl-C takes it over again


async def test_disconnect_boots_main_again(board: SimulatedBoard, client: Client) -> None:
    await client.raw()
    await client.close()
    await wait_boots(board, 2)
    assert board.console is not None and not board.console.in_repl and board.running


async def test_a_board_without_main_py_stays_in_its_repl_when_the_client_leaves(
        board: SimulatedBoard, client: Client) -> None:
    # What `labtwin flash` leaves between its mpremote sessions: main.py removed, the rest being copied.
    await client.raw()
    assert await client.exec_raw(b"import os\nos.remove('main.py')\nkept = 7") == (b"", b"")
    await client.close()
    assert board.console is not None
    await wait_until(lambda: not board.console.connected, "the console saw its client go", timeout=TIMEOUT)
    client = await Client.connect(board.console)
    try:
        client.send(b"\x01")  # still in the raw REPL it was left in: just its banner again
        await client.until(RAW_PROMPT)
        assert await client.exec_raw(b"print(kept)") == (b"7\n", b"")  # the same REPL VM, no reboot
    finally:
        await client.close()
    assert board.running and fw_boots(board) == 1  # main.py never booted, and nothing crashed


async def test_disconnect_lets_running_code_finish(board: SimulatedBoard, client: Client) -> None:
    await client.raw()
    client.send(b"import time\ntime.sleep_ms(300)\nopen('finished.txt', 'w').write('yes')\x04")
    assert await client.exactly(2) == b"OK"
    await client.close()
    await wait_boots(board, 2)
    assert (board.flash_dir / "finished.txt").read_text() == "yes"  # main.py waited for the code's end


async def test_machine_reset_drops_the_usb_connection(board: SimulatedBoard, client: Client) -> None:
    await client.raw()
    client.send(b"import machine\nmachine.reset()\x04")
    assert (await asyncio.wait_for(client.reader.read(), TIMEOUT)).startswith(b"OK")  # then EOF
    await board.wait_for_output("^fw boot 3$", timeout=TIMEOUT)  # WDT_RESET, like rp2's machine.reset()
    assert board.reboots == 1 and board.console is not None and not board.console.connected


async def test_power_cut_drops_the_client(board: SimulatedBoard, client: Client) -> None:
    await client.raw()
    await board.power_cut()
    assert await asyncio.wait_for(client.reader.read(), TIMEOUT) == b""
    await board.start()
    await wait_boots(board, 2)


async def test_a_new_client_replaces_the_old_one(board: SimulatedBoard, client: Client) -> None:
    assert board.console is not None
    await client.raw()
    second = await Client.connect(board.console)
    try:
        assert await asyncio.wait_for(client.reader.read(), TIMEOUT) == b""
        second.send(b"\r\x01")  # still in the raw REPL's VM: the old session's state is the board's
        await second.until(RAW_PROMPT)
        assert await second.exec_raw(b"print('second')") == (b"second\n", b"")
    finally:
        await second.close()


async def test_a_crashed_board_answers_with_its_repl(firmware: Path, tmp_path: Path) -> None:
    async with make_board(firmware, tmp_path, crash=True) as board:
        assert await board.wait_exited(timeout=TIMEOUT) == 1
        with pytest.raises(BoardCrashed):
            board.check()
        assert board.console is not None
        client = await Client.connect(board.console)
        try:
            client.send(b"\r")
            assert (await client.until(b">>> ")).endswith(FRIENDLY_BANNER_END + b">>> ")
            board.check()  # the board lives again: its REPL runs
            assert board.running
            client.send(b"\x01")
            await client.until(RAW_PROMPT)
            await client.exec_raw(b"import json\njson.dump({}, open('device.json', 'w'))")
            client.send(b"import machine\nmachine.reset()\x04")
            await board.wait_for_output("^fw boot 3$", timeout=TIMEOUT)
        finally:
            await client.close()
        assert board.running
        board.check()


async def test_ctrl_c_while_main_boots_waits_until_it_runs(firmware: Path, tmp_path: Path) -> None:
    async with make_board(firmware, tmp_path) as board:
        assert board.console is not None
        client = await Client.connect(board.console)  # at once: the VM may not run main.py yet
        try:
            assert (await client.friendly()).endswith(b">>> ")
            assert board.console.in_repl
        finally:
            await client.close()


async def test_firmware_that_ignores_a_ctrl_c_gets_another(firmware: Path, tmp_path: Path) -> None:
    async with make_board(firmware, tmp_path, stubborn=True) as board:
        await board.wait_for_output("^stubborn$", timeout=TIMEOUT)  # inside its try block
        assert board.console is not None
        client = await Client.connect(board.console)
        try:
            client.send(b"\r\x03\r\x01")
            assert await client.until(b"ignored one Ctrl-C\n") == b"ignored one Ctrl-C\n"
            assert not board.console.in_repl and board.running
            client.send(b"\x03")  # as a person would press it again; the held "\r\x01" follows
            assert (await client.until(RAW_PROMPT)).endswith(b">>> \r\n>>> \r\n" + RAW_PROMPT)
        finally:
            await client.close()


async def test_without_resume_the_board_stays_in_its_repl(firmware: Path, tmp_path: Path) -> None:
    board = SimulatedBoard(device_id="dev-stay", profile=PICO_W, firmware_dir=firmware, device_config={},
                           work_dir=tmp_path / "work", seed=3)
    console = BoardConsole(board, resume_on_disconnect=False)
    assert board.console is console
    async with board:
        await board.wait_for_output("^fw boot 1$", timeout=TIMEOUT)
        client = await Client.connect(console)
        await client.raw()
        assert await client.exec_raw(b"kept = 42") == (b"", b"")
        await client.close()
        await wait_until(lambda: not console.connected, "the console saw its client go", timeout=TIMEOUT)
        client = await Client.connect(console)
        try:
            client.send(b"\x01")  # the raw REPL's reset: just its banner again
            await client.until(RAW_PROMPT)
            assert await client.exec_raw(b"print(kept)") == (b"42\n", b"")  # the same VM all along
        finally:
            await client.close()
        assert fw_boots(board) == 1  # like a board: it stayed at its REPL
