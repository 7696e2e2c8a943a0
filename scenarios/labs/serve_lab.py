"""``labtwin serve lab``: a twin lab kept up for other processes, with the lab file that reaches it.

CI uses it to test the bench code path without hardware: ``labtwin run SCENARIO --lab FILE`` in
another process drives the twin lab through the wire protocols only, exactly as it would a bench.
The lab file it writes names environment variables for the secrets; their values (the twin
broker's generated credentials, the OT-2 task server's token) go to a separate ``.env`` file
readable only by its owner, never to the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from labtwin import __version__
from labtwin.errors import ConfigError, LabtwinError
from labtwin.scenarios.labs.broker_url import PASSWORD_ENV, USERNAME_ENV
from labtwin.scenarios.labs.lab_file import board_password_env, load_lab_config

if TYPE_CHECKING:
    from labtwin.scenarios.labs.twin_lab import TwinLab

__all__ = ["OT2_TOKEN_ENV", "READY_LINE", "add_arguments", "bench_file_text", "serve_lab"]

READY_LINE = "labtwin serve lab: ready"
OT2_TOKEN_ENV = "LABTWIN_OT2_TOKEN"
WIFI_SSID_ENV = "LABTWIN_WIFI_SSID"
WIFI_PASSWORD_ENV = "LABTWIN_WIFI_PASSWORD"
DEFAULT_BENCH_OUT = Path(".labtwin") / "bench.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``labtwin serve lab``."""
    parser.add_argument("--lab", type=Path, metavar="LAB.toml",
                        help="simulate the boards this lab file lists (default: one Pico W, pico-w-lab-001)")
    parser.add_argument("--broker", choices=("amqtt", "mosquitto"), default="amqtt",
                        help="the twin lab's broker (default: embedded amqtt)")
    parser.add_argument("--ot2", action="store_true", help="also run the OT-2 twin (task server)")
    parser.add_argument("--ot2-robot-api", action="store_true", help="also run the OT-2 robot API twin")
    parser.add_argument("--bench-out", type=Path, default=DEFAULT_BENCH_OUT, metavar="PATH",
                        help=f"write the lab file that reaches this lab here (default: {DEFAULT_BENCH_OUT}); "
                             "its secrets go to PATH with .env appended")
    parser.add_argument("--work-dir", type=Path, help="keep board flash dirs and logs here (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=0, help="seed for simulated sensors (default: 0)")


def bench_file_text(broker_url: str, boards: list[tuple[str, str, str | None, str | None]], *, topic_prefix: str,
                    ot2_url: str | None = None, robot_api_url: str | None = None) -> str:
    """A lab file (TOML) for a lab at ``broker_url`` with ``boards`` (id, kind, console URL, password_env)."""
    lines = ["# Written by labtwin serve lab: a bench file reaching a twin lab.",
             "# Secrets are in the .env file next to it (source it before labtwin run --lab).",
             f'topic_prefix = "{topic_prefix}"', "", "[broker]", f'url = "{broker_url}"',
             f'username_env = "{USERNAME_ENV}"', f'password_env = "{PASSWORD_ENV}"']
    lines += ["", "[wifi]", f'ssid_env = "{WIFI_SSID_ENV}"', f'password_env = "{WIFI_PASSWORD_ENV}"']
    for device_id, kind, console, password_env in boards:
        lines += ["", "[[boards]]", f'id = "{device_id}"', f'kind = "{kind}"']
        if console is not None:
            lines.append(f'serial_port = "{console}"')
        if password_env is not None:
            lines.append(f'password_env = "{password_env}"')
    if ot2_url is not None or robot_api_url is not None:
        lines += ["", "[ot2]"]
        if ot2_url is not None:
            lines += [f'task_server_url = "{ot2_url}"', f'task_server_token_env = "{OT2_TOKEN_ENV}"']
        if robot_api_url is not None:
            lines.append(f'robot_api_url = "{robot_api_url}"')
    return "\n".join(lines) + "\n"


def _console_url(lab: TwinLab, device_id: str) -> str:
    console = lab.board(device_id).console
    assert console is not None  # the lab was built with consoles=True
    return console.url


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(path, 0o600)


async def _serve(args: argparse.Namespace) -> None:
    from labtwin.scenarios.labs.twin_lab import TwinLab

    devices, kind = ["pico-w-lab-001"], "pico_w"
    if args.lab is not None:
        config = load_lab_config(args.lab)
        kinds = {board.kind for board in config.boards}
        if len(kinds) > 1:
            raise ConfigError(f"{args.lab}: a twin lab simulates one board kind at a time; got {sorted(kinds)}")
        devices, kind = config.device_ids, kinds.pop()
    started = time.perf_counter()
    lab = TwinLab(devices=devices, board=kind, broker=args.broker, seed=args.seed, work_dir=args.work_dir,
                  ot2=args.ot2, ot2_robot_api=args.ot2_robot_api, consoles=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with lab:
            address = lab.broker_address
            assert address is not None
            consoles = {device_id: _console_url(lab, device_id) for device_id in lab.device_ids}
            # Each board has its own broker user (its id) and password, as the ACL wants.
            users = lab.broker.users if lab.broker is not None and lab.broker.users else {}
            board_passwords = {board_password_env(d): users[d] for d in lab.device_ids if d in users}
            boards = [(d, kind, consoles.get(d), board_password_env(d) if d in users else None)
                      for d in lab.device_ids]
            text = bench_file_text(address.url, boards,
                                   topic_prefix=lab.topic_prefix, ot2_url=lab.ot2_url,
                                   robot_api_url=lab.ot2_robot_api_url)
            ssid, wifi_password = lab.wifi_credentials
            secrets = {USERNAME_ENV: address.username, PASSWORD_ENV: address.password,
                       WIFI_SSID_ENV: ssid, WIFI_PASSWORD_ENV: wifi_password}
            secrets.update(board_passwords)
            if lab.ot2_url is not None:
                secrets[OT2_TOKEN_ENV] = lab.ot2_twin().auth_token
            bench_out: Path = args.bench_out
            bench_out.parent.mkdir(parents=True, exist_ok=True)
            bench_out.write_text(text, encoding="utf-8")
            env_path = bench_out.with_name(bench_out.name + ".env")
            _write_private(env_path, "".join(f"export {name}={shlex.quote(value)}\n"
                                             for name, value in secrets.items() if value))
            print(f"labtwin {__version__}: twin lab up in {time.perf_counter() - started:.2f} s "
                  f"(broker {address.url}, devices {', '.join(lab.device_ids)})", flush=True)
            for device_id, url in consoles.items():
                print(f"  console {device_id}: {url}", flush=True)
            print(f"lab file: {bench_out}   secrets: {env_path} (source it)", flush=True)
            print(text, end="", flush=True)
            print(f"{READY_LINE}; Ctrl-C stops it", flush=True)
            await stop.wait()
            print("labtwin serve lab: stopping", flush=True)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def serve_lab(args: argparse.Namespace) -> int:
    """Run ``labtwin serve lab`` until SIGINT/SIGTERM; returns the exit status."""
    try:
        asyncio.run(_serve(args))
    except LabtwinError as exc:
        print(f"labtwin: error: {exc}", file=sys.stderr)
        return 1
    return 0
