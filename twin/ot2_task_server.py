"""The OT-2 twin: the OT-2 task app (firmware/ot2) on opentrons.simulate, behind its own HTTP server.

:class:`Ot2TaskServer` runs exactly what runs on the robot, ``python -m firmware.ot2``, with
``--simulate`` (the only switch: it swaps the protocol-context factory) on a loopback port.
It is a subprocess, so the twin never imports the orchestrator or opentrons. The twin gives
the app a generated bearer token and its own opentrons config directory (opentrons would
otherwise write to ``~/.opentrons``), keeps the app's output in ``ot2.log`` and its run log
(every task's robot commands with opentrons' duration estimates) in ``ot2-run-log.jsonl``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from labtwin.errors import ConfigError, DeviceOffline, SimulatorCrashed
from twin.process_output import STREAM_LIMIT, console_lines

__all__ = ["READY_LINE", "Ot2TaskServer"]

log = logging.getLogger("labtwin.twin.ot2")

READY_LINE = re.compile(r"device server ready at (http://\S+)")
"""What the app prints once it accepts requests (``READY_LINE_PREFIX`` in firmware/ot2/__main__.py)."""
TOKEN_ENV = "LABTWIN_OT2_TOKEN"


class Ot2TaskServer:
    """One simulated OT-2 serving the colour-mixing task app over HTTP.

    Args:
        work_dir: holds the app's log, its run log and its opentrons config directory.
        device_id: names the device in errors and log lines.
        host: loopback address to serve on.
        port: port to serve on; 0 lets the kernel pick.
        auth_token: the bearer token clients must send (default: generated per start).
        start_timeout: seconds to wait for the app to accept requests (opentrons' import is ~1 s).
        stop_grace: seconds between SIGTERM and SIGKILL in :meth:`stop`.
        on_output: called with every line the app prints.
        log_level: the app's logging level; its run log records every command whatever the level.
        log_lines_max: lines kept in :attr:`log_lines`.
    """

    def __init__(self, *, work_dir: Path, device_id: str = "ot2", host: str = "127.0.0.1", port: int = 0,
                 auth_token: str | None = None, start_timeout: float = 60.0, stop_grace: float = 5.0,
                 on_output: Callable[[str], None] | None = None, log_level: str = "WARNING",
                 log_lines_max: int = 1000) -> None:
        if auth_token is not None and not auth_token.strip():
            raise ConfigError("auth_token is empty; pass a real token or None to generate one")
        self.work_dir = Path(work_dir)
        self.device_id = device_id
        self.host = host
        self.port = port
        self.auth_token = auth_token or secrets.token_urlsafe(24)
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.on_output = on_output
        self.log_level = log_level
        self.log_path = self.work_dir / f"{device_id}.log"
        self.run_log_path = self.work_dir / f"{device_id}-run-log.jsonl"
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
        """Whether the app's process is alive."""
        return self._proc is not None and self._proc.returncode is None

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Ot2TaskServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        """:meth:`spawn`, then :meth:`wait_ready`; stops the app again if it never got ready."""
        await self.spawn()
        try:
            await self.wait_ready()
        except BaseException:
            await self.stop()
            raise

    async def spawn(self) -> None:
        """Start the app's process and return at once (a lab starts other devices meanwhile)."""
        if self._supervisor is not None:
            raise RuntimeError(f"OT-2 twin {self.device_id!r} is already started")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(exist_ok=True)
        self.run_log_path.unlink(missing_ok=True)
        self._log_file = open(self.log_path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115
        env = dict(os.environ)
        env.update({TOKEN_ENV: self.auth_token, "OT_API_CONFIG_DIR": str(self.config_dir), "PYTHONUNBUFFERED": "1"})
        self.url, self.returncode, self._stopping = None, None, False
        self.exited.clear()
        self._ready = asyncio.get_running_loop().create_future()
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "firmware.ot2", "--simulate", "--host", self.host, "--port", str(self.port),
            "--run-log", str(self.run_log_path), "--log-level", self.log_level,
            cwd=self.work_dir, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True, limit=STREAM_LIMIT)
        self._supervisor = asyncio.create_task(self._supervise(self._proc), name=f"OT-2 twin {self.device_id}")

    async def wait_ready(self) -> str:
        """Wait until the app accepts requests; return its URL.

        Raises:
            SimulatorCrashed: the app exited first (its last output is in the error).
            DeviceOffline: not ready within ``start_timeout`` seconds.
        """
        if self._ready is None:
            raise RuntimeError(f"OT-2 twin {self.device_id!r} was not spawned")
        try:
            self.url = await asyncio.wait_for(asyncio.shield(self._ready), self.start_timeout)
        except TimeoutError:
            raise DeviceOffline(self.device_id, f"not ready {self.start_timeout:g} s after start; "
                                                f"see its log at {self.log_path}") from None
        return self.url

    async def stop(self) -> None:
        """Terminate the app (SIGKILL after ``stop_grace``) and reap it. Safe to call twice."""
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
                log.warning("OT-2 twin %s ignored SIGTERM for %.1f s; killing it", self.device_id, self.stop_grace)
                proc.kill()
        await supervisor
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # --- introspection --------------------------------------------------------------------

    def run_log(self) -> list[dict[str, Any]]:
        """Every finished task call so far: parameters, outcome, robot commands, wall and estimated times."""
        if not self.run_log_path.exists():
            return []
        with open(self.run_log_path, encoding="utf-8") as file:
            return [json.loads(line) for line in file if line.strip()]

    def estimated_robot_seconds(self) -> float:
        """How long the tasks run so far would have kept the real robot busy (a lower bound)."""
        return sum(float(entry["estimated_robot_s"]) for entry in self.run_log())

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
                log.warning("OT-2 twin %s exited unexpectedly (exit code %s)", self.device_id, proc.returncode)
            self.exited.set()

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        async for line in console_lines(stream):
            self.log_lines.append(line)
            if self._log_file is not None:
                self._log_file.write(line + "\n")
            ready = READY_LINE.search(line)
            if ready and self._ready is not None and not self._ready.done():
                self._ready.set_result(ready.group(1))
            if self.on_output is not None:
                try:
                    self.on_output(line)
                except Exception:
                    log.exception("on_output callback of OT-2 twin %s failed", self.device_id)
