"""A simulator served by a subprocess on loopback: spawn it, wait for its ready line, stop it.

:class:`SimulatorProcess` is the lifecycle every such twin shares (the OT-2 task app in
:mod:`labtwin.twin.ot2.task_twin`, the OT-2 robot API in :mod:`labtwin.twin.ot2.robot_api_twin`). It runs
``python -m ...`` (a subprocess, so the twin never imports what it runs), in its own session,
with unbuffered output and its own opentrons config directory (opentrons would otherwise write
to ``~/.opentrons``). A supervisor task copies every line the process prints into a log file and
:attr:`~SimulatorProcess.log_lines`, and watches for the line that announces its URL. A
subclass says what to run (:meth:`~SimulatorProcess._command`) and which line means ready
(:attr:`~SimulatorProcess.ready_line`); the other hooks are optional.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self

from labtwin.errors import DeviceOffline, SimulatorCrashed
from labtwin.twin.process_output import STREAM_LIMIT, console_lines

__all__ = ["SimulatorProcess"]


class SimulatorProcess:
    """One simulator subprocess that serves on loopback once it prints its ready line.

    Subclasses set :attr:`ready_line` (and usually :attr:`kind` and :attr:`logger`) and implement
    :meth:`_command`; they may override :meth:`_environment`, :meth:`_prepare`,
    :meth:`_on_ready` and :meth:`_on_stopped`.

    Args:
        work_dir: holds the process's log (``<device_id>.log``) and opentrons config directory.
        device_id: names the simulator in errors, log lines and file names.
        host: loopback address to serve on.
        port: port to serve on; 0 lets the kernel pick.
        start_timeout: seconds to wait for the ready line.
        stop_grace: seconds between SIGTERM and SIGKILL in :meth:`stop`.
        on_output: called with every line the process prints.
        log_lines_max: lines kept in :attr:`log_lines`.
    """

    ready_line: ClassVar[re.Pattern[str]]
    """What the process prints once it accepts requests; group 1 is its URL."""
    kind: ClassVar[str] = "simulator"
    """What the simulator is called in messages (``"OT-2 twin"``)."""
    logger: ClassVar[logging.Logger] = logging.getLogger("labtwin.twin.simulator")
    """Where lifecycle warnings go."""

    def __init__(self, *, work_dir: Path, device_id: str, host: str = "127.0.0.1", port: int = 0,
                 start_timeout: float = 60.0, stop_grace: float = 5.0,
                 on_output: Callable[[str], None] | None = None, log_lines_max: int = 1000) -> None:
        self.work_dir = Path(work_dir)
        self.device_id = device_id
        self.host = host
        self.port = port
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.on_output = on_output
        self.log_path = self.work_dir / f"{device_id}.log"
        self.config_dir = self.work_dir / f"{device_id}-opentrons-config"
        self.log_lines: deque[str] = deque(maxlen=log_lines_max)
        self.url: str | None = None
        self.returncode: int | None = None
        self.exited = asyncio.Event()
        self._proc: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[str] | None = None
        self._log_file: IO[str] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.returncode is None

    # --- hooks ----------------------------------------------------------------------------

    def _command(self) -> list[str]:
        """The arguments after ``python``, e.g. ``["-m", "labtwin.ot2_app", "--port", "0"]``."""
        raise NotImplementedError

    def _environment(self) -> dict[str, str]:
        """Variables to set for the process on top of the inherited environment."""
        return {}

    def _prepare(self) -> None:
        """Run before each spawn, once the work and config directories exist."""

    async def _on_ready(self, url: str) -> None:
        """Run by :meth:`wait_ready` once the process serves at ``url``: each time, until :meth:`stop`."""

    async def _on_stopped(self) -> None:
        """Run by :meth:`stop` after the process is reaped."""

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        """:meth:`spawn`, then :meth:`wait_ready`; stops the process again if it never got ready."""
        await self.spawn()
        try:
            await self.wait_ready()
        except BaseException:
            await self.stop()
            raise

    async def spawn(self) -> None:
        """Start the process and return at once (a lab starts other devices meanwhile)."""
        if self._supervisor is not None:
            raise RuntimeError(f"{self.kind} {self.device_id!r} is already started")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(exist_ok=True)
        self._prepare()
        self._log_file = open(self.log_path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115
        env = dict(os.environ)
        env.update(self._environment())
        env.update({"OT_API_CONFIG_DIR": str(self.config_dir), "PYTHONUNBUFFERED": "1"})
        self.url, self.returncode, self._stopping = None, None, False
        self.exited.clear()
        self._ready = asyncio.get_running_loop().create_future()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, *self._command(), cwd=self.work_dir, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
                limit=STREAM_LIMIT)
        except BaseException:
            self._log_file.close()
            self._log_file = None
            raise
        self._supervisor = asyncio.create_task(self._supervise(self._proc), name=f"{self.kind} {self.device_id}")

    async def wait_ready(self) -> str:
        """Wait until the process accepts requests; return its URL.

        Raises:
            SimulatorCrashed: the process exited first (its last output is in the error).
            DeviceOffline: not ready within ``start_timeout`` seconds.
        """
        if self._ready is None:
            raise RuntimeError(f"{self.kind} {self.device_id!r} was not spawned")
        try:
            self.url = await asyncio.wait_for(asyncio.shield(self._ready), self.start_timeout)
        except TimeoutError:
            raise DeviceOffline(self.device_id, f"not ready {self.start_timeout:g} s after start; "
                                                f"see its log at {self.log_path}") from None
        if self._supervisor is not None:  # not after stop(): nothing would undo what the hook sets up
            await self._on_ready(self.url)
        return self.url

    async def stop(self) -> None:
        """Terminate the process (SIGKILL after ``stop_grace``) and reap it. Safe to call twice."""
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is None:
            return
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(asyncio.shield(supervisor), self.stop_grace)
            except TimeoutError:
                self.logger.warning("%s %s ignored SIGTERM for %.1f s; killing it",
                                    self.kind, self.device_id, self.stop_grace)
                proc.kill()
        try:
            await supervisor
        finally:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
            await self._on_stopped()

    # --- internals ------------------------------------------------------------------------

    async def _supervise(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            await self._pump(proc.stdout)
            self.returncode = await proc.wait()
        finally:
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(SimulatorCrashed(self.device_id, proc.returncode, list(self.log_lines)))
                # Retrieved by wait_ready(), or nobody: never "exception was never retrieved".
                self._ready.exception()
            if not self._stopping:
                self.logger.warning("%s %s exited unexpectedly (exit code %s)",
                                    self.kind, self.device_id, proc.returncode)
            self.exited.set()

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        async for line in console_lines(stream):
            self.log_lines.append(line)
            if self._log_file is not None:
                self._log_file.write(line + "\n")
            ready = self.ready_line.search(line)
            if ready and self._ready is not None and not self._ready.done():
                self._ready.set_result(ready.group(1))
            if self.on_output is not None:
                try:
                    self.on_output(line)
                except Exception:
                    self.logger.exception("on_output callback of %s %s failed", self.kind, self.device_id)
