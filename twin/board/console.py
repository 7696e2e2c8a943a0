"""A serial console on a simulated board: MicroPython's REPL on a loopback socket, for ``mpremote``.

A real board is flashed over its USB serial port with ``mpremote``, which
speaks MicroPython's raw REPL. :class:`BoardConsole` gives a board (a
:class:`~labtwin.twin.board.console_host.ConsoleHost`, i.e. a
:class:`~labtwin.twin.board.process.SimulatedBoard`) the same port as a TCP socket on
``127.0.0.1``; pyserial (and so ``mpremote``) opens it as ``socket://HOST:PORT``
(:attr:`BoardConsole.url`)::

    mpremote connect socket://127.0.0.1:PORT fs cp main.py :main.py + reset

How it behaves (``docs/board-console.md`` has the byte-level protocol):

- While ``main.py`` runs, the client sees its output. Ctrl-C interrupts it
  (``KeyboardInterrupt``, delivered as SIGINT to the firmware's VM) and the
  board drops into the friendly REPL.
- The REPL is the MicroPython unix port's own (``pyexec``, the code the rp2
  port runs too): friendly REPL, raw REPL (Ctrl-A), raw-paste mode, Ctrl-B.
  It runs in a fresh VM process ("REPL VM") whose filesystem root ``/`` is the
  board's flash directory (a Python VFS that keeps every path inside it) and
  whose ``sys.path`` is the board's ``['', '.frozen', '/lib']``; the labtwin
  ``machine``/``network`` shims answer ``import machine`` as on the board.
- Ctrl-D at an empty prompt, ``SystemExit`` or ``machine.soft_reset()`` is a
  soft reboot: ``MPY: soft reboot``, then in the raw REPL a fresh REPL VM that
  ran ``boot.py``; in the friendly REPL ``main.py`` boots again.
- ``machine.reset()`` (``mpremote reset``) hard-resets the board: ``main.py``
  boots with ``machine.reset_cause()`` == ``WDT_RESET``; on a board with native
  USB (RP2040) the connection drops, as the USB device re-enumerates.
- When the client disconnects and the REPL is idle, the board boots ``main.py``
  again if it has one (a real board would sit in its REPL; ``resume_on_disconnect=False``
  keeps that behaviour). Code still running keeps running until it returns.
- One client at a time: a new connection replaces the previous one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from labtwin.twin.board.model import WDT_RESET
from labtwin.twin.board.vm_launch import RESET_EXIT_CODE, SHIM_DIR, vm_argv
from labtwin.twin.server_shutdown import close_server

if TYPE_CHECKING:
    from labtwin.twin.board.console_host import ConsoleHost

__all__ = ["FRIENDLY_BANNER_END", "RAW_REPL_BANNER", "SOFT_REBOOT", "BoardConsole"]

log = logging.getLogger("labtwin.twin.board_console")

SOFT_REBOOT = b"MPY: soft reboot\r\n"
"""What the board prints when it soft-reboots (rp2 and esp32 ports; ``mpremote`` waits for it)."""

RAW_REPL_BANNER = b"raw REPL; CTRL-B to exit\r\n"
"""The raw REPL's banner, printed on entry (Ctrl-A) and after a soft reboot in the raw REPL."""

FRIENDLY_BANNER_END = b'Type "help()" for more information.\r\n'
"""Last line of the friendly REPL's banner (after Ctrl-B and when the REPL starts)."""

_READY = b"\x00labtwin:console-ready\x00"  # the REPL VM's startup is done (never forwarded)
_IDLE_TAIL_BUSY = (b"OK", b"\x04", b"\n")  # output endings that mean "input taken, now compiling/running"
_OUTPUT_BUFFER_MAX = 1 << 20  # bytes queued for a client that does not read; beyond it output is dropped
_TAIL = 64

# Runs in the REPL VM (MicroPython) via `-i -c` before its REPL starts: make the flash
# directory the filesystem root, set the board's sys.path, run boot.py after a soft
# reboot, then print the ready marker. Everything lives in one function that deletes
# itself, so the REPL's globals are as clean as a board's.
_STARTUP = r'''
def _labtwin_console(flash, shims, shim_names, boot, ready):
    import os, sys
    VfsPosix = os.VfsPosix

    class FlashVfs:
        # The board's flash as "/": every path is resolved (".", "..", cwd) and clamped
        # inside the flash directory. The shims stand in for built-in modules: they are
        # readable as /lib/<name> while the flash has no such file, and never listed.
        def __init__(self):
            self._fs = VfsPosix(flash)
            self._shims = VfsPosix(shims)
            self._cwd = "/"

        def _path(self, path):
            if path[:1] != "/":
                path = self._cwd + "/" + path
            parts = []
            for part in path.split("/"):
                if part == "..":
                    if parts:
                        parts.pop()
                elif part and part != ".":
                    parts.append(part)
            return "/" + "/".join(parts)

        def _shim(self, path):
            if path[:5] == "/lib/" and path[5:] in shim_names:
                return path[4:]
            return None

        def __repr__(self):
            return "<FlashVfs>"

        def mount(self, readonly, mkfs):
            pass

        def umount(self):
            pass

        def ilistdir(self, path):
            return self._fs.ilistdir(self._path(path))

        def chdir(self, path):
            path = self._path(path)
            if not self._fs.stat(path)[0] & 0x4000:
                raise OSError(20)
            self._cwd = path

        def getcwd(self):
            return self._cwd

        def mkdir(self, path):
            self._fs.mkdir(self._path(path))

        def remove(self, path):
            self._fs.remove(self._path(path))

        def rename(self, old, new):
            self._fs.rename(self._path(old), self._path(new))

        def rmdir(self, path):
            self._fs.rmdir(self._path(path))

        def stat(self, path):
            path = self._path(path)
            try:
                return self._fs.stat(path)
            except OSError:
                shim = self._shim(path)
                if shim is None:
                    raise
                return self._shims.stat(shim)

        def statvfs(self, path):
            return self._fs.statvfs(self._path(path))

        def open(self, path, mode):
            path = self._path(path)
            try:
                return self._fs.open(path, mode)
            except OSError:
                shim = self._shim(path)
                if shim is None or "r" not in mode or "+" in mode:
                    raise
                return self._shims.open(shim, mode)

    os.umount("/")
    os.mount(FlashVfs(), "/")
    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib"]
    if boot:
        try:
            os.stat("boot.py")
        except OSError:
            boot = False
    if boot:
        try:
            with open("boot.py") as f:
                src = f.read()
            exec(compile(src, "boot.py", "exec"), globals())
        except BaseException as e:
            sys.print_exception(e)
    sys.stdout.write(ready)

_labtwin_console(%(flash)r, %(shims)r, %(shim_names)r, %(boot)r, %(ready)r)
del _labtwin_console
'''


def startup_code(flash_dir: Path, *, boot: bool) -> str:
    """MicroPython source the REPL VM runs before its REPL (flash as ``/``, sys.path, boot.py)."""
    return _STARTUP % {
        "flash": str(Path(flash_dir).resolve()),
        "shims": str(SHIM_DIR),
        "shim_names": tuple(sorted(p.name for p in SHIM_DIR.glob("*.py"))),
        "boot": boot,
        "ready": _READY.decode(),
    }


def sigint_caught(pid: int) -> bool:
    """Whether process ``pid`` has a SIGINT handler installed (Linux ``/proc``).

    The MicroPython unix VM installs one exactly while it runs Python code (a
    script, or one REPL input) and restores the default (terminate) at its
    prompt; labtwin's launcher ignores SIGINT until then. So this says whether
    a SIGINT would be a ``KeyboardInterrupt``.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def native_usb(machine: str) -> bool:
    """Whether a board's serial port is its own USB device (it vanishes on a hard reset).

    The RP2040/RP2350 ports' REPL is USB CDC on the chip; ESP32 dev boards have a
    USB-serial bridge that stays connected through a reset.
    """
    return "RP2040" in machine or "RP2350" in machine


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_State = Literal["firmware", "takeover", "starting", "live"]


class BoardConsole:
    """The serial console of one board, served on a loopback socket.

    Creating it attaches it to the board (``board.console``); it starts and stops
    with the board. ``SimulatedBoard(..., console=True)`` does the same. It uses
    the board only through :class:`~labtwin.twin.board.console_host.ConsoleHost`;
    the board's supervisor calls its board-side hooks (:meth:`bridge`,
    :meth:`firmware_line`, :meth:`vm_exited`, :meth:`board_stopped`).

    Args:
        board: the board; must not have a console yet.
        host: loopback address to listen on.
        port: TCP port; 0 picks a free one (kept across the board's restarts when possible).
        resume_on_disconnect: when the client goes away and the REPL is idle, boot ``main.py``.
        interrupt_timeout: seconds a Ctrl-C waits for a booting ``main.py`` to become interruptible.
    """

    def __init__(self, board: ConsoleHost, *, host: str = "127.0.0.1", port: int = 0,
                 resume_on_disconnect: bool = True, interrupt_timeout: float = 5.0) -> None:
        if board.console is not None:
            raise ValueError(f"board {board.device_id} already has a console")
        if not _is_loopback(host):
            raise ValueError(f"the console listens on loopback only, not {host!r}")
        self.board = board
        self.host = host
        self.resume_on_disconnect = resume_on_disconnect
        self.interrupt_timeout = interrupt_timeout
        self.drops_on_hard_reset = native_usb(board.profile.machine)
        self.sessions = 0
        self.soft_reboots = 0
        self._port = port
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._client: asyncio.StreamWriter | None = None
        self._state: _State = "firmware"
        self._mode: Literal["friendly", "raw"] = "friendly"
        self._target: Literal["friendly", "raw"] = "friendly"
        self._phase: Literal["boot", "banner", "live"] = "live"
        self._vm: asyncio.subprocess.Process | None = None
        self._pending = bytearray()
        self._hold = b""
        self._tail = b""
        self._sent_ctrl_a = False
        self._resume = False
        self._resuming = False
        board.attach_console(self)

    # ----------------------------------------------------------------- public
    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the console listens on (after the board started)."""
        if self._server is None:
            raise RuntimeError(f"the console of board {self.board.device_id} is not started")
        return self.host, self._port

    @property
    def url(self) -> str:
        """pyserial URL of the console, e.g. ``socket://127.0.0.1:40123`` (``mpremote connect URL``)."""
        host, port = self.address
        return f"socket://{host}:{port}"

    @property
    def connected(self) -> bool:
        """Whether a client is connected."""
        return self._client is not None

    @property
    def in_repl(self) -> bool:
        """Whether the board runs its REPL (not ``main.py``)."""
        return self._state in ("starting", "live")

    @property
    def repl_mode(self) -> Literal["friendly", "raw"]:
        """The REPL's current mode, as its output last showed."""
        return self._mode

    async def start(self) -> None:
        """Listen (idempotent; :meth:`SimulatedBoard.start` calls it)."""
        if self._server is not None:
            return
        try:
            self._server = await asyncio.start_server(self._serve_client, self.host, self._port)
        except OSError:
            if not self._port:
                raise
            self._server = await asyncio.start_server(self._serve_client, self.host, 0)
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Drop the client and stop listening (idempotent; :meth:`SimulatedBoard.stop` calls it)."""
        server, self._server = self._server, None
        self._drop_client()
        await close_server(server, self._handlers)

    # ----------------------------------------------------------------- client side
    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        sock = writer.get_extra_info("socket")
        quickack = getattr(socket, "TCP_QUICKACK", 0) if sock is not None else 0
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._client is not None:
            log.info("board %s console: a new client replaces the connected one", self.board.device_id)
            self._drop_client(notify=False)
        self._client = writer
        self._resume = False
        self.sessions += 1
        self.board.note(f"console: client connected ({writer.get_extra_info('peername')})")
        try:
            while True:
                data = await reader.read(4096)
                if not data or self._client is not writer:
                    break
                if quickack:
                    # ACK at once: mpremote's small writes (Nagle) wait for our ACK, which Linux
                    # would delay up to 40 ms, and the kernel leaves quick-ACK mode by itself.
                    sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
                await self._client_input(data)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._handlers.discard(task)
            if self._client is writer:
                self._client = None
                self._client_gone()
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, asyncio.CancelledError):
                pass

    def _drop_client(self, *, notify: bool = True) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
            if notify:
                self._client_gone()

    def _client_gone(self) -> None:
        self.board.note("console: client disconnected")
        if self._state in ("takeover", "starting", "live") and self.resume_on_disconnect:
            self._resume = True
            self._pending.clear()
            self._maybe_resume()

    def _send(self, data: bytes) -> None:
        client = self._client
        if client is None or not data or client.is_closing():
            return
        if client.transport.get_write_buffer_size() > _OUTPUT_BUFFER_MAX:
            return  # a client that does not read loses output, like a USB host that stopped polling
        client.write(data)

    async def _client_input(self, data: bytes) -> None:
        board = self.board
        if self._state == "live":
            self._feed_live(data)
        elif self._state == "firmware":
            self._begin_vm("friendly")
            if await board.revive_into_repl(self._argv(boot=False)):
                self._pending += data  # a crashed board sits in its REPL: it takes every byte
                return
            self._state = "firmware"
            cut = data.find(b"\x03")
            if cut < 0 or not board.running:
                return  # main.py's stdin is not connected: what it would not read is lost
            self._pending += data[cut + 1:]
            self._state = "takeover"
            board.request_takeover()
            await self._interrupt_firmware()
        elif self._state == "takeover" and not board.console_vm_running:
            # main.py is still running (it caught the KeyboardInterrupt, or has not seen it
            # yet): input stays held for the REPL, and every further Ctrl-C interrupts again.
            first, *rest = data.split(b"\x03")
            self._pending += first
            for chunk in rest:
                await self._interrupt_firmware()
                self._pending += chunk
        else:
            self._pending += data  # the REPL VM is starting: held until its prompt

    async def _interrupt_firmware(self) -> None:
        # SIGINT is a KeyboardInterrupt only while the VM runs main.py (not while it boots).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.interrupt_timeout
        while self._state == "takeover" and self.board.takeover_requested:
            proc = self.board.firmware_process
            if proc is None:
                return
            if sigint_caught(proc.pid):
                proc.send_signal(signal.SIGINT)
                return
            if loop.time() > deadline:
                log.warning("board %s: main.py did not become interruptible in %.1f s",
                            self.board.device_id, self.interrupt_timeout)
                return
            await asyncio.sleep(0.01)

    def _feed_live(self, data: bytes) -> None:
        vm = self._vm
        if vm is None or vm.stdin is None or vm.returncode is not None or vm.stdin.is_closing():
            return
        chunks = data.split(b"\x03")
        for i, chunk in enumerate(chunks):
            if i:
                # Ctrl-C while code runs is a KeyboardInterrupt (the byte never reaches stdin,
                # as on the board, whose UART/USB driver takes it); at a prompt it is input.
                if sigint_caught(vm.pid):
                    vm.send_signal(signal.SIGINT)
                else:
                    vm.stdin.write(b"\x03")
            if chunk:
                vm.stdin.write(chunk)

    # ----------------------------------------------------------------- board side
    def _argv(self, *, boot: bool) -> list[str]:
        code = startup_code(self.board.flash_dir, boot=boot)
        return vm_argv(self.board.profile.heap_bytes, "-i", "-c", code)

    def _begin_vm(self, target: Literal["friendly", "raw"]) -> None:
        self._state = "starting"
        self._target = target
        self._phase = "boot"
        self._hold = b""
        self._sent_ctrl_a = False
        self._resuming = False

    async def _start_vm(self, target: Literal["friendly", "raw"], cause: int | None, *, boot: bool) -> None:
        self._begin_vm(target)
        await self.board.boot_console_vm(self._argv(boot=boot), cause)

    def firmware_line(self, line: str) -> None:
        """Board-side hook: ``main.py`` printed ``line`` (as the board captured it); the client sees it."""
        self._send(line.encode("utf-8", errors="replace") + b"\n")

    async def bridge(self, proc: asyncio.subprocess.Process) -> None:
        """Board-side hook: bridge the client to the REPL VM ``proc`` until its output ends.

        The board's supervisor runs it for the life of each REPL VM, instead of reading
        ``main.py``'s lines.
        """
        assert proc.stdout is not None
        self._vm = proc
        self._tail = b""
        try:
            while True:
                data = await proc.stdout.read(65536)
                if not data:
                    return
                self._vm_output(data)
        finally:
            self._vm = None
            if proc.stdin is not None:
                proc.stdin.close()

    def _forward(self, data: bytes) -> None:
        # Byte for byte: sys.stdout.buffer carries binary data (mpremote's `mount` protocol),
        # so the unix port's "\n" line ends are not turned into the rp2 port's "\r\n".
        self._send(data)

    def _vm_output(self, data: bytes) -> None:
        if self._phase == "boot":
            buf = self._hold + data
            i = buf.find(_READY)
            if i < 0:
                keep = next((k for k in range(min(len(_READY) - 1, len(buf)), 0, -1)
                             if _READY.startswith(buf[-k:])), 0)
                self._forward(buf[:len(buf) - keep])  # boot.py's output
                self._hold = buf[len(buf) - keep:]
                return
            self._forward(buf[:i])
            self._phase = "banner"
            self._hold = b""
            data = buf[i + len(_READY):]
        if self._phase == "banner":
            if self._target == "friendly":
                self._forward(data)
                self._tail = (self._tail + data)[-_TAIL:]
                if self._tail.endswith(b">>> "):
                    self._mode = "friendly"
                    self._go_live()
                    self._maybe_resume()
                return
            # Raw REPL after a soft reboot: the VM starts friendly; switch it with Ctrl-A and
            # show only what a board shows: the raw REPL's banner and prompt.
            buf = self._hold + data
            i = buf.find(RAW_REPL_BANNER)
            if i < 0:
                self._hold = buf[-(len(RAW_REPL_BANNER) + _TAIL):]
                if buf.endswith(b">>> ") and not self._sent_ctrl_a and self._vm is not None:
                    assert self._vm.stdin is not None
                    self._vm.stdin.write(b"\x01")
                    self._sent_ctrl_a = True
                return
            self._hold = b""
            self._mode = "raw"
            self._go_live()
            data = buf[i:]
        self._forward(data)
        seen = self._tail + data
        raw_at, friendly_at = seen.rfind(RAW_REPL_BANNER), seen.rfind(FRIENDLY_BANNER_END)
        if raw_at > friendly_at:
            self._mode = "raw"
        elif friendly_at > raw_at:
            self._mode = "friendly"
        self._tail = seen[-_TAIL:]
        self._maybe_resume()

    def _go_live(self) -> None:
        self._phase = "live"
        self._state = "live"
        pending, self._pending = bytes(self._pending), bytearray()
        if pending:
            self._feed_live(pending)

    def _vm_idle(self) -> bool:
        vm = self._vm
        return (vm is not None and vm.returncode is None and not sigint_caught(vm.pid)
                and not self._tail.endswith(_IDLE_TAIL_BUSY))

    def _maybe_resume(self) -> None:
        # The client is gone and the REPL waits for input: boot main.py (a soft reboot). Without a
        # main.py (mid-flash: `labtwin flash` removes it first) a board stays in its REPL.
        if not self._resume or self._resuming or self._state != "live" or not self._vm_idle():
            return
        if not (self.board.flash_dir / "main.py").is_file():
            self._resume = False
            return
        assert self._vm is not None
        self._resuming = True
        self._vm.terminate()

    async def vm_exited(self, rc: int, reset: str | None) -> None:
        """Board-side hook: the board's VM exited with ``rc`` (no stop asked for); boot what comes next.

        The board's supervisor calls it when the console is involved: the REPL VM ran, the
        console asked for a takeover, or the VM reset (``reset``: the firmware's ``"hard"`` or
        ``"soft"`` reset request, or None). It boots what the board would boot next.
        """
        board = self.board
        hard = reset == "hard" or (reset is None and rc == RESET_EXIT_CODE)
        was_vm = board.console_vm_running
        if hard:
            self._state = "firmware"
            self._pending.clear()
            self._resume = False
            if self.drops_on_hard_reset:
                self._drop_client()  # the board's USB device goes away with the reset
            await board.boot_firmware(WDT_RESET)
        elif not was_vm and reset is None:
            # main.py ended after the console's Ctrl-C: the friendly REPL takes over.
            await self._start_vm("friendly", None, boot=False)
        elif was_vm and self._state == "starting":
            # The REPL VM died before its prompt (no flash directory?): no reboot loop; main.py
            # boots and fails the way the board would.
            log.warning("board %s: the console's REPL VM exited with %s before its prompt",
                        board.device_id, rc)
            self._state = "firmware"
            self._pending.clear()
            await board.boot_firmware(board.reset_cause)
        elif was_vm and self._resume:
            self._resume = False
            self._state = "firmware"
            await board.boot_firmware(board.reset_cause)
        else:
            # Soft reboot: Ctrl-D at an empty prompt, SystemExit, machine.soft_reset().
            self.soft_reboots += 1
            self._send(SOFT_REBOOT)
            if was_vm and self._mode == "raw":
                await self._start_vm("raw", board.reset_cause, boot=True)
            else:
                self._state = "firmware"
                await board.boot_firmware(board.reset_cause)

    def board_stopped(self) -> None:
        """Board-side hook: the board's supervisor ended (stopped, power cut, or ``main.py`` crashed)."""
        self._state = "firmware"
        self._pending.clear()
        self._resume = False
        self._vm = None
        if not self.board.crashed:
            self._drop_client()  # no power, no USB
