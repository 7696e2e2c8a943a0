"""Debian's mosquitto as a child process on loopback, with a generated config.

mosquitto is the reference broker the twin is checked against (amqtt has
known deviations). Everything it writes (config, password file, log,
persistence database) stays in the caller's ``work_dir``.

With ``acl=DeviceAcl(...)`` (opt-in, needs ``users``) the broker also gets an
ACL file that confines each board to its own topics; see docs/security.md.
With ``tls=(certfile, keyfile)`` (opt-in) the listener speaks TLS only.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from labtwin.errors import BrokerUnavailable

from ._base import LoopbackBroker, check_port_free, free_port, wait_accepting

__all__ = ["DeviceAcl", "MosquittoBroker", "mosquitto_available", "mosquitto_path"]

# Debian installs the broker in sbin, which is not on a normal user's PATH.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
_STOP_TIMEOUT_S = 5.0


def mosquitto_path() -> str | None:
    """Path of the mosquitto binary, or None when it is not installed."""
    return shutil.which("mosquitto", path=_SEARCH_PATH)


def mosquitto_available() -> bool:
    """True when both ``mosquitto`` and ``mosquitto_passwd`` are installed."""
    return mosquitto_path() is not None and shutil.which("mosquitto_passwd", path=_SEARCH_PATH) is not None


@dataclass(frozen=True)
class DeviceAcl:
    """Per-device topic access for ``{prefix}/{device_id}/command|result|status``.

    Boards authenticate with user name == device id. Each board may only read
    its own command topic and write its own result and status topics (a
    mosquitto ``pattern`` on ``%u``: the authenticated user name, not the
    client id, which any client may choose freely). The ``orchestrators``
    users may write every command topic and read every result and status
    topic. Anything not granted is denied; mosquitto also denies everything
    to clients whose user name or client id contains ``+`` or ``#``.
    """

    prefix: str = "ot2"
    orchestrators: tuple[str, ...] = ("orchestrator",)

    def __post_init__(self) -> None:
        if not self.prefix or any(c in self.prefix for c in "+#%\n\r\x00") or self.prefix != self.prefix.strip():
            raise ValueError(
                f"ACL topic prefix {self.prefix!r} must be non-empty, unpadded and free of + # % and control characters"
            )
        if isinstance(self.orchestrators, str):
            raise TypeError("orchestrators is a tuple of user names, not one string")
        for user in self.orchestrators:
            if not user or user != user.strip() or any(c in user for c in "+#:\n\r\x00"):
                raise ValueError(f"orchestrator user {user!r} cannot be named in an ACL file")

    def lines(self) -> list[str]:
        """The mosquitto acl_file lines (without the header comment)."""
        p = self.prefix
        out: list[str] = []
        for user in self.orchestrators:
            out += [
                f"user {user}",
                f"topic write {p}/+/command",
                f"topic read {p}/+/result",
                f"topic read {p}/+/status",
                "",
            ]
        out += [
            "# Every authenticated client, %u = its user name (a board's user name is its device id).",
            f"pattern read {p}/%u/command",
            f"pattern write {p}/%u/result",
            f"pattern write {p}/%u/status",
        ]
        return out


class MosquittoBroker(LoopbackBroker):
    """mosquitto listening on ``host:port`` (0 = a free port picked at first start).

    With ``users`` anonymous access is off and only those user/password pairs
    may connect; otherwise anyone may connect. With ``persistence`` the broker
    keeps sessions and retained messages across restart() in ``work_dir``.
    With ``acl`` (needs ``users``) an ACL file restricts which topics each
    user may read and write (:class:`DeviceAcl`); without it every
    authenticated client may use every topic. With ``tls=(certfile, keyfile)``
    (PEM files: the server certificate, chain included, and its key) the one
    listener speaks TLS only, with no client certificates; clients verify it
    against the CA that issued ``certfile``.
    """

    def __init__(
        self,
        *,
        work_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        users: Mapping[str, str] | None = None,
        persistence: bool = False,
        acl: DeviceAcl | None = None,
        tls: tuple[Path | str, Path | str] | None = None,
    ) -> None:
        super().__init__(host=host, port=port, users=users)
        if acl is not None and users is None:
            raise ValueError("an ACL needs users: anonymous clients have no user name to match")
        self.work_dir = Path(work_dir)
        self.persistence = persistence
        self.acl = acl
        self.tls = None if tls is None else (Path(tls[0]).resolve(), Path(tls[1]).resolve())
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        """The generated mosquitto.conf."""
        return self.work_dir / "mosquitto.conf"

    @property
    def acl_path(self) -> Path:
        """The generated ACL file (written only with ``acl``)."""
        return self.work_dir / "acl"

    def acl_text(self) -> str:
        """The ACL file contents ("" without ``acl``)."""
        if self.acl is None:
            return ""
        header = ["# generated by labtwin (twin/brokers/mosquitto_broker.py, DeviceAcl)"]
        return "\n".join(header + self.acl.lines()) + "\n"

    @property
    def log_path(self) -> Path:
        """mosquitto's log (appended to across restarts)."""
        return self.work_dir / "mosquitto.log"

    async def _write_password_file(self, path: Path) -> None:
        assert self.users is not None
        path.unlink(missing_ok=True)
        path.touch(mode=0o600)
        passwd = shutil.which("mosquitto_passwd", path=_SEARCH_PATH)
        if passwd is None:
            raise BrokerUnavailable("mosquitto_passwd is not installed (apt-get install mosquitto)")
        for user, password in self.users.items():
            proc = await asyncio.create_subprocess_exec(
                passwd, "-b", str(path), user, password,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await proc.communicate()
            if proc.returncode != 0:
                raise BrokerUnavailable(
                    f"mosquitto_passwd rejected user {user!r}: {out.decode(errors='replace').strip()}"
                )

    def _config_text(self) -> str:
        lines = [
            "# generated by labtwin (twin/brokers/mosquitto_broker.py)",
            f"listener {self.port} {self.host}",
            # Without it every small packet waits on Nagle: ~44 ms per round trip.
            "set_tcp_nodelay true",
        ]
        if self.tls is not None:
            # Server authentication only: boards verify the broker, the broker does not ask them.
            lines += [f"certfile {self.tls[0]}", f"keyfile {self.tls[1]}", "require_certificate false"]
        lines += [
            # As root mosquitto would switch to user 'mosquitto', who cannot
            # read work_dir; naming the current user keeps it as it is.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "log_timestamp_format %H:%M:%S",
        ]
        if self.users is None:
            lines.append("allow_anonymous true")
        else:
            lines += ["allow_anonymous false", f"password_file {self.work_dir / 'passwd'}"]
        if self.acl is not None:
            lines.append(f"acl_file {self.acl_path}")
        if self.persistence:
            # mosquitto appends the file name to this string, so it needs the slash.
            lines += ["persistence true", f"persistence_location {self.work_dir}/"]
        else:
            lines.append("persistence false")
        return "\n".join(lines) + "\n"

    def _log_tail(self, n: int = 5) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in lines[-n:] if line.strip())

    async def _start(self) -> None:
        binary = mosquitto_path()
        if binary is None:
            raise BrokerUnavailable("mosquitto is not installed (apt-get install mosquitto)")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if self.users is not None:
            await self._write_password_file(self.work_dir / "passwd")
        if self.acl is not None:
            self.acl_path.write_text(self.acl_text(), encoding="utf-8")
        pick = self.port == 0
        for attempt in range(3):
            if pick:
                self.port = free_port(self.host)
            else:
                check_port_free(self.host, self.port)
            try:
                await self._spawn(binary)
                return
            except BrokerUnavailable:
                # Another process may have grabbed the port we picked: pick again.
                if not pick or attempt == 2 or "Address already in use" not in self._log_tail(20):
                    raise

    async def _spawn(self, binary: str) -> None:
        self.config_path.write_text(self._config_text(), encoding="utf-8")
        with self.log_path.open("ab") as log:
            log.write(f"--- labtwin: starting mosquitto on {self.host}:{self.port}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(
                    [binary, "-c", str(self.config_path)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.work_dir,
                )
            except OSError as e:
                raise BrokerUnavailable(f"cannot run {binary}: {e}") from e
        self._proc = proc

        def exited() -> str | None:
            if proc.poll() is None:
                return None
            return f"mosquitto exited with code {proc.returncode} at start: {self._log_tail()}"

        try:
            await wait_accepting(self.host, self.port, failed=exited)
        except BrokerUnavailable:
            await self._stop()
            raise
        if exited():  # the port answered, but maybe someone else's listener did
            reason = exited()
            await self._stop()
            raise BrokerUnavailable(reason or "mosquitto exited at start")

    async def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            deadline = time.monotonic() + _STOP_TIMEOUT_S
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            if proc.poll() is None:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        proc.wait()  # reap (returns at once): no zombie, no ResourceWarning
