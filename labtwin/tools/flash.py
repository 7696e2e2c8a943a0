"""``labtwin flash``: put validated firmware on a board with mpremote, and call it done when it is online.

Steps (docs/flashing.md):

1. **Gate**: the firmware's content hash must have a passing scenario record (``labtwin run``),
   unless ``--force``.
2. **Probe**: mpremote connects; the board's platform must match its kind (``rp2`` for a Pico W,
   ``esp32``; a labtwin twin console says which board it simulates) and its MicroPython must be
   at least 1.20.
3. **Copy**: ``main.py`` is removed first, every other file and the generated ``device.json`` are
   copied, then ``main.py`` last, so a board reset mid-copy never boots half new firmware.
4. **Verify**: every file's SHA-256 on the board must equal the local one; a mismatch is an error
   naming the files (the board is reported as NOT flashed).
5. **Reset**, then wait for the device's retained ``online`` status with the new firmware version
   on the broker, and time one ``get_device_status`` round trip.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from labtwin.board_firmware import DEVICE_CONFIG_NAME, firmware_files
from labtwin.errors import ConfigError, DeviceOffline, LabtwinError
from labtwin.scenarios.labs.broker_url import BrokerAddress
from labtwin.scenarios.labs.device_config import device_config as build_device_config
from labtwin.scenarios.labs.lab_file import LabConfig

__all__ = ["FlashResult", "PLATFORMS", "flash_board", "firmware_version"]

PLATFORMS = {"pico_w": "rp2", "esp32": "esp32"}
"""Board kind -> ``sys.platform`` of its MicroPython port."""
MIN_MICROPYTHON = (1, 20)
TWIN_PROFILE_ENV = "LABTWIN_BOARD_PROFILE"
"""Set in a labtwin twin board's VMs: the profile it simulates (its ``sys.platform`` is the unix port's)."""

_PROBE = (
    "import sys, os\n"
    "getenv = getattr(os, 'getenv', lambda name: None)\n"
    f"print('LABTWIN-PROBE', sys.platform, getenv('{TWIN_PROFILE_ENV}'), "
    "'.'.join(str(p) for p in sys.implementation.version[:3]))\n"
)


class FlashError(LabtwinError):
    """Flashing failed; the message says at which step and what state the board is in."""


@dataclass(frozen=True)
class FlashResult:
    """What a successful flash did."""

    device_id: str
    firmware_hash: str
    version: str
    files: int
    bytes_copied: int
    copy_s: float
    online_s: float
    round_trip_ms: float


def firmware_version(firmware_dir: Path) -> str:
    """``VERSION`` from the firmware's ``firmware_version.py``."""
    try:
        text = (firmware_dir / "firmware_version.py").read_text(encoding="utf-8")
    except OSError:
        raise ConfigError(f"{firmware_dir} has no firmware_version.py") from None
    match = re.search(r"""^VERSION\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    if match is None:
        raise ConfigError(f"{firmware_dir / 'firmware_version.py'} defines no VERSION string")
    return match.group(1)


def device_config(config: LabConfig, device_id: str, kind: str) -> dict[str, object]:
    """The ``device.json`` for ``device_id`` on the bench ``config`` describes (docs/device-config.md)."""
    address = config.broker_address()
    # The board's own user where the bench gives it one (a broker ACL confines it to its own
    # topics: docs/security.md); otherwise the lab's broker credentials.
    own = config.board_credentials(device_id)
    login = address if own is None else BrokerAddress(address.host, address.port, *own)
    return build_device_config(device_id=device_id, board=kind, broker=login, topic_prefix=config.topic_prefix,
                               wifi=config.wifi_credentials())


class _Mpremote:
    """mpremote's command line against one port (each call connects afresh, as a user would)."""

    def __init__(self, port: str, timeout: float) -> None:
        self.port = port
        self.timeout = timeout

    def run(self, *args: str, on_line: Callable[[str], None] | None = None) -> str:
        command = [sys.executable, "-m", "mpremote", "connect", self.port, *args]
        lines: list[str] = []
        try:
            with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  stdin=subprocess.DEVNULL) as proc:
                assert proc.stdout is not None
                for line in proc.stdout:
                    lines.append(line.rstrip("\n"))
                    if on_line is not None:
                        on_line(line.rstrip("\n"))
                try:
                    code = proc.wait(timeout=self.timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    raise FlashError(f"mpremote on {self.port} did not finish within {self.timeout:g} s") from None
        except OSError as exc:
            raise FlashError(f"cannot run mpremote: {exc}") from None
        output = "\n".join(lines)
        if code != 0:
            tail = " | ".join(line for line in lines[-4:] if line.strip())
            raise FlashError(f"mpremote on {self.port} failed (exit {code}): {tail or 'no output'}")
        return output


def _probe(mpremote: _Mpremote, kind: str) -> str:
    output = mpremote.run("exec", _PROBE)
    match = re.search(r"LABTWIN-PROBE (\S+) (\S+) (\d+)\.(\d+)\.(\d+)", output)
    if match is None:
        raise FlashError(f"the board on {mpremote.port} did not answer the probe like MicroPython: {output[-200:]!r}")
    platform, twin_profile = match.group(1), match.group(2)
    version = tuple(int(part) for part in match.groups()[2:])
    simulated = twin_profile if twin_profile != "None" else None
    if simulated is not None:
        if simulated != kind:
            raise FlashError(f"the twin board on {mpremote.port} simulates a {simulated}, not a {kind}")
    elif platform != PLATFORMS[kind]:
        raise FlashError(f"the board on {mpremote.port} runs MicroPython for {platform!r}, not a {kind} "
                         f"({PLATFORMS[kind]!r}); check --board and the port")
    if version[:2] < MIN_MICROPYTHON:
        raise FlashError(f"the board runs MicroPython {'.'.join(map(str, version))}; labtwin firmware needs "
                         f"{'.'.join(map(str, MIN_MICROPYTHON))} or newer: update it first")
    return f"{platform}{' (twin ' + simulated + ')' if simulated else ''}, MicroPython {'.'.join(map(str, version))}"


def _other_form(name: str) -> str:
    """``x.mpy`` for ``x.py`` and the reverse: the file a flash of ``name`` must not leave behind."""
    stem, suffix = name.rsplit(".", 1)
    return f"{stem}.{'py' if suffix == 'mpy' else 'mpy'}"


def _compiled(firmware_dir: Path, out_dir: Path, progress: Callable[[str], None]) -> list[Path]:
    from labtwin.mpy_form import compile_firmware

    progress("compiling with mpy-cross ...")
    _, failures = asyncio.run(compile_firmware(firmware_dir, out_dir))
    if failures:
        raise FlashError("mpy-cross failed: " + "; ".join(f"{f.file}: {f.message}" for f in failures))
    return firmware_files(out_dir)


def _remote_hashes(mpremote: _Mpremote, names: Sequence[str]) -> dict[str, str]:
    code = ("import hashlib, binascii\n"
            f"for name in {list(names)!r}:\n"
            "    try:\n"
            "        h = hashlib.sha256()\n"
            "        with open(name, 'rb') as f:\n"
            "            while True:\n"
            "                chunk = f.read(512)\n"
            "                if not chunk:\n"
            "                    break\n"
            "                h.update(chunk)\n"
            "        print('SHA', name, binascii.hexlify(h.digest()).decode())\n"
            "    except OSError:\n"
            "        print('SHA', name, 'missing')\n")
    output = mpremote.run("exec", code)
    return dict(re.findall(r"^SHA (\S+) (\S+)$", output, re.MULTILINE))


def flash_board(*, port: str, device_id: str, kind: str, config: LabConfig, firmware_dir: Path,
                firmware_hash: str, mpy: bool = False, timeout: float = 60.0,
                progress: Callable[[str], None] = print) -> FlashResult:
    """Flash ``firmware_dir`` to the board on ``port`` and wait until it is online as ``device_id``.

    With ``mpy`` every module but ``main.py`` is precompiled with mpy-cross (bytecode, so one build
    serves every port) and the source of those modules is removed from the board, since a ``.py``
    would be imported in preference to its ``.mpy``.

    Raises:
        FlashError: the board did not answer, is the wrong platform, or a file did not verify.
        DeviceOffline: the flashed board did not come online within ``timeout`` seconds.
    """
    if kind not in PLATFORMS:
        raise ConfigError(f"unknown board kind {kind!r}; choose one of {', '.join(PLATFORMS)}")
    source_dir = firmware_dir
    files = firmware_files(firmware_dir)
    version = firmware_version(firmware_dir)
    mpremote = _Mpremote(port, timeout)
    progress(f"probing {port} ...")
    progress(f"  board: {_probe(mpremote, kind)}")
    with tempfile.TemporaryDirectory(prefix="labtwin-flash-") as scratch:
        if mpy:
            source_dir = Path(scratch) / "mpy"
            files = _compiled(firmware_dir, source_dir, progress)
        config_path = Path(scratch) / DEVICE_CONFIG_NAME
        config_path.write_text(json.dumps(device_config(config, device_id, kind)), encoding="utf-8")
        # Board path (relative to its root) -> local file; main.py goes first off the board and last
        # onto it, so a reset mid-copy boots nothing half-new.
        payload = {relative.as_posix(): source_dir / relative for relative in files if relative.as_posix() != "main.py"}
        payload[DEVICE_CONFIG_NAME] = config_path
        payload["main.py"] = source_dir / "main.py"
        local = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in payload.items()}
        total = sum(path.stat().st_size for path in payload.values())
        started = time.monotonic()
        stale = ["main.py"] + [_other_form(name) for name in payload if name.endswith((".py", ".mpy"))
                               and name != "main.py"]
        folders = sorted({parent.as_posix() for name in payload for parent in Path(name).parents
                          if parent != Path(".")}, key=len)
        mpremote.run("exec", f"import os\nfor name in {stale!r}:\n    try:\n        os.remove(name)\n"
                             "    except OSError:\n        pass\n"
                             f"for name in {folders!r}:\n    try:\n        os.mkdir(name)\n"
                             "    except OSError:\n        pass\n")
        steps: list[str] = []
        for name, path in payload.items():
            steps += ["fs", "cp", str(path), f":{name}", "+"]
        copied = 0

        def show(line: str) -> None:
            nonlocal copied
            if line.startswith("cp "):
                copied += 1
                progress(f"  copy {copied}/{len(payload)}: {line[3:].split(' ')[0].rsplit('/', 1)[-1]}")

        progress(f"copying {len(payload)} files ({total} bytes) ...")
        mpremote.run(*steps[:-1], on_line=show)
        copy_s = time.monotonic() - started
        remote = _remote_hashes(mpremote, list(local))
    bad = sorted(name for name, digest in local.items() if remote.get(name) != digest)
    if bad:
        raise FlashError(f"NOT flashed: {len(bad)} file(s) on the board do not match: {', '.join(bad)}; "
                         "the board may hold a mix of firmware, run labtwin flash again")
    progress(f"verified {len(local)} files by SHA-256 in {copy_s:.1f} s of copying; resetting")
    online_s, rtt_ms = asyncio.run(_reset_and_wait(config, device_id, version, timeout,
                                                   reset=lambda: mpremote.run("reset")))
    return FlashResult(device_id, firmware_hash, version, len(local), total, copy_s, online_s, rtt_ms)


async def _reset_and_wait(config: LabConfig, device_id: str, version: str, timeout: float,
                          reset: Callable[[], object]) -> tuple[float, float]:
    """Reset the board and wait for an ``online`` status published after the reset (not the retained one)."""
    from labtwin.orchestrator.mqtt_client import AsyncMQTTOrchestratorClient

    address = config.broker_address()
    async with AsyncMQTTOrchestratorClient(address.host, device_id, address.port, timeout=timeout,
                                           topic_prefix=config.topic_prefix, username=address.username,
                                           password=address.password) as client:
        retained_until = time.monotonic() + 1.0
        while client.status is None and time.monotonic() < retained_until:
            await asyncio.sleep(0.02)  # the retained status, if any, arrives right after subscribing
        before = client.status
        reset_at = time.monotonic()
        await asyncio.to_thread(reset)
        deadline = reset_at + timeout
        while True:
            status = client.status
            if status is not None and status is not before and status.online and status.firmware == version:
                break
            if time.monotonic() > deadline:
                seen = f"{status.status} with firmware {status.firmware}" if status else "no status"
                raise DeviceOffline(device_id, f"not online with firmware {version} within {timeout:g} s after "
                                               f"flashing (last seen: {seen}); check its WiFi and broker settings")
            await asyncio.sleep(0.02)
        online_s = time.monotonic() - reset_at
        started = time.perf_counter()
        await client.get_device_status()
        return online_s, (time.perf_counter() - started) * 1000
