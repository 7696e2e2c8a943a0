"""The OT-2 twin: the OT-2 task app (ot2_app) on opentrons.simulate, behind its own HTTP server.

:class:`Ot2TaskServer` runs exactly what runs on the robot, ``python -m labtwin.ot2_app``, with
``--simulate`` (the only switch: it swaps the protocol-context factory) on a loopback port.
It is a subprocess, so the twin never imports the orchestrator or opentrons. The twin gives
the app a generated bearer token and its own opentrons config directory (opentrons would
otherwise write to ``~/.opentrons``), keeps the app's output in ``ot2.log`` and its run log
(every task's robot commands with opentrons' duration estimates) in ``ot2-run-log.jsonl``.
Spawning, readiness and stopping are :class:`~labtwin.twin.ot2.simulator_process.SimulatorProcess`'s.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labtwin.errors import ConfigError
from labtwin.twin.ot2.simulator_process import SimulatorProcess

__all__ = ["READY_LINE", "Ot2TaskServer"]

READY_LINE = re.compile(r"device server ready at (http://\S+)")
"""What the app prints once it accepts requests (``READY_LINE_PREFIX`` in ot2_app/__main__.py)."""
TOKEN_ENV = "LABTWIN_OT2_TOKEN"


class Ot2TaskServer(SimulatorProcess):
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

    ready_line = READY_LINE
    kind = "OT-2 twin"
    logger = logging.getLogger("labtwin.twin.ot2")

    def __init__(self, *, work_dir: Path, device_id: str = "ot2", host: str = "127.0.0.1", port: int = 0,
                 auth_token: str | None = None, start_timeout: float = 60.0, stop_grace: float = 5.0,
                 on_output: Callable[[str], None] | None = None, log_level: str = "WARNING",
                 log_lines_max: int = 1000) -> None:
        if auth_token is not None and not auth_token.strip():
            raise ConfigError("auth_token is empty; pass a real token or None to generate one")
        super().__init__(work_dir=work_dir, device_id=device_id, host=host, port=port, start_timeout=start_timeout,
                         stop_grace=stop_grace, on_output=on_output, log_lines_max=log_lines_max)
        self.auth_token = auth_token or secrets.token_urlsafe(24)
        self.log_level = log_level
        self.run_log_path = self.work_dir / f"{device_id}-run-log.jsonl"

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

    # --- hooks ----------------------------------------------------------------------------

    def _command(self) -> list[str]:
        return ["-m", "labtwin.ot2_app", "--simulate", "--host", self.host, "--port", str(self.port),
                "--run-log", str(self.run_log_path), "--log-level", self.log_level]

    def _environment(self) -> dict[str, str]:
        return {TOKEN_ENV: self.auth_token}

    def _prepare(self) -> None:
        self.run_log_path.unlink(missing_ok=True)
