"""A simulated board: firmware running in a MicroPython VM process, wired to its model.

:class:`SimulatedBoard` copies the firmware into the board's own "flash"
directory, starts the board's :class:`~labtwin.twin.board.bus.HardwareBus`, and runs
``main.py`` in the MicroPython unix VM with the labtwin ``machine`` and
``network`` shims first on ``MICROPYPATH``. The VM's output is captured line
by line. ``machine.reset()`` reboots the board (same flash, new process); any
other exit nobody asked for is a crash, surfaced as
:class:`~labtwin.errors.BoardCrashed`.

With ``console=True`` the board also has a serial console
(:class:`~labtwin.twin.board.console.BoardConsole`, ``board.console.url``) that
``mpremote`` can flash it through; see ``docs/board-console.md``. The board
serves its console through the public members listed by
:class:`~labtwin.twin.board.console_host.ConsoleHost`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from labtwin.board_firmware import DEVICE_CONFIG_NAME, copy_firmware
from labtwin.errors import BoardCrashed
from labtwin.twin.board.bus import HardwareBus
from labtwin.twin.board.console import BoardConsole
from labtwin.twin.board.link_state import LINK_FILE_ENV, LinkStateFile
from labtwin.twin.board.model import PWRON_RESET, WDT_RESET, BoardModel, Hazard
from labtwin.twin.board.profiles import BoardProfile
from labtwin.twin.board.vm_launch import BOARD_PROFILE_ENV, LAB_TIME_SHIM_DIR, RESET_EXIT_CODE, SHIM_DIR, vm_command
from labtwin.twin.clock import Clock
from labtwin.twin.lab_time import LabEventLoop
from labtwin.twin.process_output import STREAM_LIMIT, console_lines

__all__ = ["SimulatedBoard"]

log = logging.getLogger("labtwin.twin.board")


class SimulatedBoard:
    """One board: flash directory, hardware bus, model and VM process.

    Args:
        device_id: the device's id; names its flash directory and log file.
        profile: board type.
        firmware_dir: firmware source; every file except the ``ot2/`` folder is flashed.
        device_config: written to ``device.json`` on the flash.
        work_dir: where the flash directory and log live.
        seed: seeds the model (noise, unique id, MAC).
        clock: lab clock for the model.
        on_output: called with every line the VM prints.
        on_hazard: called with every :class:`~labtwin.twin.board.model.Hazard`.
        wifi_ssid: the lab network's SSID.
        wifi_password: its password.
        log_lines_max: lines kept in :attr:`log_lines`.
        stop_grace: seconds between SIGTERM and SIGKILL in :meth:`stop`.
        reset_grace: seconds a VM may linger after ``machine.reset()`` before it is killed.
        console: give the board a serial console (:attr:`console`) that ``mpremote`` can use.
        console_host: the address the console listens on.
    """

    def __init__(self, *, device_id: str, profile: BoardProfile, firmware_dir: Path,
                 device_config: dict[str, Any], work_dir: Path, seed: int, clock: Clock | None = None,
                 on_output: Callable[[str], None] | None = None,
                 on_hazard: Callable[[Hazard], None] | None = None,
                 wifi_ssid: str = "labtwin", wifi_password: str = "labtwin-wifi",
                 log_lines_max: int = 1000, stop_grace: float = 2.0, reset_grace: float = 1.0,
                 console: bool = False, console_host: str = "127.0.0.1") -> None:
        self.device_id = device_id
        self.profile = profile
        self.firmware_dir = Path(firmware_dir)
        self.device_config = dict(device_config)
        self.work_dir = Path(work_dir)
        self.flash_dir = self.work_dir / f"{device_id}.flash"
        self.log_path = self.work_dir / f"{device_id}.log"
        self.on_output = on_output
        self.stop_grace = stop_grace
        self.reset_grace = reset_grace
        self.model = BoardModel(profile, seed=seed, clock=clock, wifi_ssid=wifi_ssid,
                                wifi_password=wifi_password, board_id=device_id, on_hazard=on_hazard,
                                on_reset=self._on_reset)
        self.bus = HardwareBus(self.model)
        # isconnected() from a file the WiFi model keeps current, not a bus call per poll (link_state.py).
        self._link = LinkStateFile(self.work_dir / "wifi-link", self.model.wifi) if self.model.wifi else None
        self.log_lines: deque[str] = deque(maxlen=log_lines_max)
        self.exited = asyncio.Event()
        self.returncode: int | None = None
        self.reboots = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._crash: BoardCrashed | None = None
        self._expect_exit = False
        self._flashed = False
        self._log_file: IO[str] | None = None
        self._listeners: set[asyncio.Queue[str | None]] = set()
        self._reset_timer: asyncio.TimerHandle | None = None
        # The serial console, if any: it attaches itself (attach_console). `_console_vm` says
        # the current process is the console's REPL VM rather than main.py; `_takeover` that
        # the console interrupted main.py (Ctrl-C) and wants its REPL when it has exited.
        self._console: BoardConsole | None = None
        self._console_vm = False
        self._takeover = False
        if console:
            BoardConsole(self, host=console_host)

    # ----------------------------------------------------------------- state
    @property
    def running(self) -> bool:
        """Whether the VM process is alive."""
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        """Process id of the current VM, if any."""
        return self._proc.pid if self._proc is not None else None

    def check(self) -> None:
        """Raise :class:`BoardCrashed` if the board's VM exited unexpectedly."""
        if self._crash is not None:
            raise self._crash

    @property
    def console(self) -> BoardConsole | None:
        """The board's serial console, if any (``console=True``, or ``BoardConsole(board)``)."""
        return self._console

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Flash (first time only), start the bus, boot the VM. No-op if running."""
        if self._supervisor is not None and not self._supervisor.done():
            return
        first = not self._flashed
        if first:
            self._flash()
        if self._link is not None:
            self._link.open()
        await self.bus.start()
        if self._log_file is None:
            # A fresh flash starts a fresh log; later starts (reboots) append to it.
            mode = "w" if first else "a"
            self._log_file = open(self.log_path, mode, encoding="utf-8", buffering=1)  # noqa: SIM115
        self._crash = None
        self.returncode = None
        self.exited.clear()
        self._expect_exit = False
        if self.console is not None:
            await self.console.start()
        await self._spawn(PWRON_RESET)
        self._supervisor = asyncio.create_task(self._supervise(), name=f"board {self.device_id}")

    async def stop(self) -> None:
        """Terminate the VM (SIGKILL after ``stop_grace``), reap it, stop the bus."""
        try:
            await self._end(kill=False)
        finally:
            if self.console is not None:
                await self.console.stop()
            await self.bus.stop()
            if self._link is not None:
                self._link.close()
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    async def power_cut(self) -> None:
        """Kill the VM at once, like pulling the plug: no cleanup runs in the firmware.

        The model loses power at the cut: its outputs go dead before the lab has reaped the VM.
        """
        await self._end(kill=True)

    async def reboot(self) -> None:
        """Power-cycle: :meth:`power_cut`, then :meth:`start` on the same flash."""
        await self.power_cut()
        await self.start()

    async def wait_exited(self, timeout: float | None = None) -> int | None:
        """Wait until the VM ends without rebooting; return its exit code."""
        await asyncio.wait_for(self.exited.wait(), timeout)
        return self.returncode

    async def wait_for_output(self, pattern: str | re.Pattern[str], timeout: float | None = None) -> str:
        """Wait for a VM output line matching ``pattern`` (already printed lines count).

        Raises:
            BoardCrashed: the VM exited before printing a matching line.
            TimeoutError: nothing matched within ``timeout`` seconds.
        """
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._listeners.add(queue)
        try:
            for line in list(self.log_lines):
                if regex.search(line):
                    return line
            if self.exited.is_set():
                self._raise_stopped()

            async def scan() -> str:
                while True:
                    line = await queue.get()
                    if line is None:
                        self._raise_stopped()
                    elif regex.search(line):
                        return line

            return await asyncio.wait_for(scan(), timeout)
        finally:
            self._listeners.discard(queue)

    def _raise_stopped(self) -> None:
        self.check()
        raise BoardCrashed(self.device_id, self.returncode, list(self.log_lines))

    async def __aenter__(self) -> SimulatedBoard:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    # ----------------------------------------------------------------- the console's side (ConsoleHost)
    # What the attached console may ask of the board (labtwin.twin.board.console_host); nothing
    # else should call these.
    @property
    def crashed(self) -> bool:
        """Whether the VM exited unexpectedly (:meth:`check` would raise)."""
        return self._crash is not None

    @property
    def reset_cause(self) -> int:
        """What ``machine.reset_cause()`` would answer now (the model's last reset cause)."""
        return self.model.reset_cause

    @property
    def console_vm_running(self) -> bool:
        """Whether the current process is the console's REPL VM rather than ``main.py``."""
        return self._console_vm

    @property
    def firmware_process(self) -> asyncio.subprocess.Process | None:
        """The live ``main.py`` VM process, or None (no process, it exited, or the REPL VM runs)."""
        proc = self._proc
        if proc is None or proc.returncode is not None or self._console_vm:
            return None
        return proc

    @property
    def takeover_requested(self) -> bool:
        """Whether the console interrupted ``main.py`` and wants its REPL once ``main.py`` has exited."""
        return self._takeover

    def attach_console(self, console: BoardConsole) -> None:
        """Make ``console`` this board's console; it starts and stops with the board.

        Raises:
            ValueError: the board already has a console.
        """
        if self._console is not None:
            raise ValueError(f"board {self.device_id} already has a console")
        self._console = console

    def note(self, text: str) -> None:
        """Record a labtwin event in the log file only (``# labtwin: ...``): :attr:`log_lines` stay pure VM output."""
        if self._log_file is not None:
            self._log_file.write(f"# labtwin: {text}\n")

    def request_takeover(self) -> None:
        """Boot the console's REPL, not ``main.py``, when ``main.py`` exits (after the console's Ctrl-C)."""
        self._takeover = True

    async def boot_firmware(self, cause: int) -> None:
        """Boot ``main.py`` in a new VM with reset cause ``cause`` (the previous VM has exited)."""
        await self._spawn(cause)

    async def boot_console_vm(self, argv: list[str], cause: int | None) -> asyncio.subprocess.Process:
        """Run the console's REPL VM (``argv``) as the board's process; the supervisor bridges it.

        A soft reboot (``cause`` given) resets the peripherals like any boot; a takeover (Ctrl-C
        into ``main.py``, ``cause`` None) leaves them as ``main.py`` left them.
        """
        self._cancel_reset_timer()
        self._console_vm, self._takeover = True, False
        if cause is not None:
            self.model.power_on(cause=cause)
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=self.flash_dir, env=self._vm_env(), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        self._proc = proc
        self._note_pid(proc.pid)
        self.note(f"console REPL (pid {proc.pid}, {'soft reboot' if cause is not None else 'takeover'})")
        return proc

    async def revive_into_repl(self, argv: list[str]) -> bool:
        """Give the console a REPL VM (``argv``) on a board whose ``main.py`` crashed or returned.

        A real board sits in its REPL then. Returns False (and does nothing) if the board is
        stopped or still running.
        """
        if self._crash is None or self._log_file is None or (
                self._supervisor is not None and not self._supervisor.done()):
            return False
        self.note("console: REPL after the crash")
        self._crash = None
        self.returncode = None
        self.exited.clear()
        self._expect_exit = False
        await self.boot_console_vm(argv, self.model.reset_cause)
        self._supervisor = asyncio.create_task(self._supervise(), name=f"board {self.device_id}")
        return True

    # ----------------------------------------------------------------- internals
    def _flash(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if self.flash_dir.exists():
            shutil.rmtree(self.flash_dir)
        copy_firmware(self.firmware_dir, self.flash_dir)
        (self.flash_dir / DEVICE_CONFIG_NAME).write_text(json.dumps(self.device_config, indent=2) + "\n",
                                                         encoding="utf-8")
        self._flashed = True

    async def _spawn(self, cause: int) -> None:
        self._cancel_reset_timer()
        self._console_vm = self._takeover = False
        self.model.power_on(cause=cause)
        self._proc = await asyncio.create_subprocess_exec(
            *vm_command("main.py", self.profile.heap_bytes),
            cwd=self.flash_dir, env=self._vm_env(), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True, limit=STREAM_LIMIT)
        self._note_pid(self._proc.pid)
        self.note(f"boot {self.model.boot_count} (pid {self._proc.pid}, reset cause {cause})")

    def _vm_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.bus.env)
        # What the twin simulates, for code that must tell it from a board (its sys.platform
        # is the unix port's): `labtwin flash` probes it over the console.
        env[BOARD_PROFILE_ENV] = self.profile.name
        if self._link is not None:
            env[LINK_FILE_ENV] = str(self._link.path)
        # Like the board's sys.path ['', '.frozen', '/lib'], with the shims ahead of .frozen.
        shims = str(SHIM_DIR)
        loop = asyncio.get_running_loop()
        if isinstance(loop, LabEventLoop):  # faster than real time: the VM reads the lab's clock
            env.update(loop.vm_starting(self.device_id))
            shims = f"{LAB_TIME_SHIM_DIR}:{shims}"
        env["MICROPYPATH"] = f"{self.flash_dir}:{shims}:.frozen:{self.flash_dir / 'lib'}"
        return env

    def _note_pid(self, pid: int) -> None:
        loop = asyncio.get_running_loop()
        if isinstance(loop, LabEventLoop):  # at --speed max its connections are attributed to it
            loop.vm_spawned(self.device_id, pid)

    async def _supervise(self) -> None:
        # Runs for the whole powered life: pumps output, reaps, reboots on machine.reset().
        try:
            while True:
                proc = self._proc
                assert proc is not None and proc.stdout is not None
                if self._console_vm and self._console is not None:
                    await self._console.bridge(proc)
                else:
                    await self._pump(proc.stdout)
                rc = await proc.wait()
                self.returncode = rc
                loop = asyncio.get_running_loop()
                if isinstance(loop, LabEventLoop):
                    loop.vm_exited(self.device_id)
                reset = self.model.reset_requested
                if not self._expect_exit and self._console is not None and (
                        self._console_vm or self._takeover or rc == RESET_EXIT_CODE or reset is not None):
                    # The console decides what a reset, takeover or soft reboot boots next.
                    if reset is not None or rc == RESET_EXIT_CODE:
                        self.reboots += 1
                        self.note(f"machine.reset() ({reset or 'exit code'}): rebooting")
                    await self._console.vm_exited(rc, reset)
                    continue
                if not self._expect_exit and (rc == RESET_EXIT_CODE or reset is not None):
                    self.reboots += 1
                    self.note(f"machine.reset() ({reset or 'exit code'}): rebooting")
                    await self._spawn(self.model.reset_cause if reset == "soft" else WDT_RESET)
                    continue
                if not self._expect_exit:
                    self._crash = BoardCrashed(self.device_id, rc, list(self.log_lines))
                    self.note(f"crashed: exit code {rc}")
                    log.warning("%s", self._crash)
                else:
                    self.note(f"stopped: exit code {rc}")
                break
        finally:
            self._cancel_reset_timer()
            self.model.power_off()
            self.exited.set()
            if self._console is not None:
                self._console.board_stopped()
            for queue in list(self._listeners):
                queue.put_nowait(None)

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        async for line in console_lines(stream):
            self.log_lines.append(line)
            if self._log_file is not None:
                self._log_file.write(line + "\n")
            for queue in list(self._listeners):
                queue.put_nowait(line)
            if self._console is not None:
                self._console.firmware_line(line)
            if self.on_output is not None:
                try:
                    self.on_output(line)
                except Exception:
                    log.exception("on_output callback of board %s failed", self.device_id)

    def _on_reset(self, kind: str) -> None:
        # Firmware that swallows SystemExit would keep running after machine.reset():
        # give it reset_grace seconds, then pull the plug (the supervisor reboots it).
        # A watchdog that bit pulls it at once: that VM will not exit by itself.
        proc = self._proc
        if proc is None:
            return

        def kill_if_lingering() -> None:
            if self._proc is proc and proc.returncode is None:
                if kind != "watchdog":
                    log.warning("board %s still running %.1f s after machine.reset(); killing it",
                                self.device_id, self.reset_grace)
                proc.kill()

        self._cancel_reset_timer()
        grace = 0.0 if kind == "watchdog" else self.reset_grace
        self._reset_timer = asyncio.get_running_loop().call_later(grace, kill_if_lingering)

    def _cancel_reset_timer(self) -> None:
        if self._reset_timer is not None:
            self._reset_timer.cancel()
            self._reset_timer = None

    async def _end(self, *, kill: bool) -> None:
        supervisor = self._supervisor
        if supervisor is None or supervisor.done():
            return
        self._expect_exit = True  # from here on the supervisor reboots nothing
        proc = self._proc
        if not kill and proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(asyncio.shield(supervisor), self.stop_grace)
            except TimeoutError:
                pass
        # Kill whatever VM is current until the supervisor has reaped the last one
        # (a reboot may have been spawning a new VM while we were asked to stop).
        while not supervisor.done():
            proc = self._proc
            if proc is not None and proc.returncode is None:
                proc.kill()
                if kill:
                    # The plug is out: the outputs go dead at the cut, not once the VM is reaped a few loop
                    # turns later (a watcher would otherwise see the broker's will before the power state).
                    self.model.power_off()
            try:
                await asyncio.wait_for(asyncio.shield(supervisor), 1.0)
            except TimeoutError:
                continue
        await supervisor
