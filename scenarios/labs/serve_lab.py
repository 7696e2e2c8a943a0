"""Serving a twin lab to other processes: the twin lab a lab file asks for, and the lab file that reaches it.

CI uses it (``labtwin serve lab``, labtwin/cli/serve.py) to test the bench code path without
hardware: ``labtwin run SCENARIO --lab FILE`` in another process drives the twin lab through the
wire protocols only, exactly as it would a bench. The lab file names environment variables for the
secrets; their values (the twin broker's generated credentials, the OT-2 task server's token) go to
a separate ``.env`` file readable only by its owner, never to the terminal.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from labtwin.scenarios.labs.broker_url import PASSWORD_ENV, USERNAME_ENV
from labtwin.scenarios.labs.lab_file import board_password_env, load_lab_config
from labtwin.scenarios.labs.lab_file_twin import twin_lab_options
from labtwin.scenarios.labs.twin_lab import TwinLab

__all__ = ["OT2_TOKEN_ENV", "WIFI_PASSWORD_ENV", "WIFI_SSID_ENV", "ServedLabFile", "bench_file_text",
           "served_twin_lab", "write_served_lab_file"]

OT2_TOKEN_ENV = "LABTWIN_OT2_TOKEN"
WIFI_SSID_ENV = "LABTWIN_WIFI_SSID"
WIFI_PASSWORD_ENV = "LABTWIN_WIFI_PASSWORD"


def bench_file_text(broker_url: str, boards: Sequence[tuple[str, str, str | None, str | None]], *, topic_prefix: str,
                    ot2_url: str | None = None, robot_api_url: str | None = None,
                    firmware: Mapping[str, Sequence[str]] | None = None) -> str:
    """A lab file (TOML) for a lab at ``broker_url`` with ``boards`` (id, kind, console URL, password_env);
    ``firmware`` gives a board's firmware lines (its lab file's ``firmware``, overlay and form)."""
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
        lines += (firmware or {}).get(device_id, [])
    if ot2_url is not None or robot_api_url is not None:
        lines += ["", "[ot2]"]
        if ot2_url is not None:
            lines += [f'task_server_url = "{ot2_url}"', f'task_server_token_env = "{OT2_TOKEN_ENV}"']
        if robot_api_url is not None:
            lines.append(f'robot_api_url = "{robot_api_url}"')
    return "\n".join(lines) + "\n"


def served_twin_lab(lab_file: Path | None, *, broker: str, seed: int, work_dir: Path | None, ot2: bool,
                    ot2_robot_api: bool) -> TwinLab:
    """The twin lab to serve: the twin of ``lab_file`` (default: one Pico W), each board with a console and a
    network twin (the dashboard's link faults)."""
    if lab_file is None:
        return TwinLab(devices=["pico-w-lab-001"], broker=broker, seed=seed, work_dir=work_dir, ot2=ot2,
                       ot2_robot_api=ot2_robot_api, consoles=True, network_twin=True)
    options = twin_lab_options(load_lab_config(lab_file), broker=broker, seed=seed, work_dir=work_dir,
                               consoles=True)
    return TwinLab(options.replace(ot2=ot2 or options.ot2, ot2_robot_api=ot2_robot_api or options.ot2_robot_api,
                                   network_twin=True))


@dataclass(frozen=True)
class ServedLabFile:
    """The lab file written for a served lab: its text, where it and its secrets are, the consoles."""

    text: str
    path: Path
    secrets_path: Path
    consoles: dict[str, str]


def write_served_lab_file(lab: TwinLab, path: Path) -> ServedLabFile:
    """Write the lab file that reaches the running ``lab`` to ``path`` and its secrets to ``path``.env."""
    address = lab.broker_address
    assert address is not None, "the lab is not running"
    consoles = {}
    for device_id in lab.device_ids:
        console = lab.board(device_id).console
        assert console is not None, "served labs are built with consoles"
        consoles[device_id] = console.url
    # Each board has its own broker user (its id) and password, as the ACL wants.
    users = lab.broker.users if lab.broker is not None and lab.broker.users else {}
    boards = [(d, lab.options.profile_of(d).name, consoles[d], board_password_env(d) if d in users else None)
              for d in lab.device_ids]
    text = bench_file_text(address.url, boards, topic_prefix=lab.topic_prefix, ot2_url=lab.ot2_url,
                           robot_api_url=lab.ot2_robot_api_url, firmware=_firmware_lines(lab))
    ssid, wifi_password = lab.wifi_credentials
    secrets = {USERNAME_ENV: address.username, PASSWORD_ENV: address.password,
               WIFI_SSID_ENV: ssid, WIFI_PASSWORD_ENV: wifi_password}
    secrets.update({board_password_env(d): users[d] for d in lab.device_ids if d in users})
    if lab.ot2_url is not None:
        secrets[OT2_TOKEN_ENV] = lab.ot2_twin().auth_token
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    secrets_path = path.with_name(path.name + ".env")
    _write_private(secrets_path, "".join(f"export {name}={shlex.quote(value)}\n"
                                         for name, value in secrets.items() if value))
    return ServedLabFile(text, path, secrets_path, consoles)


def _firmware_lines(lab: TwinLab) -> dict[str, list[str]]:
    """Each board's firmware and form as the served twin boots them (so `labtwin flash --lab` takes the same)."""
    lines: dict[str, list[str]] = {}
    for device_id in lab.device_ids:
        setup = lab.options.boards.get(device_id)
        entry = []
        if setup is not None:
            firmware, overlay = lab.options.firmware_of(device_id)
            entry.append(f"firmware = {json.dumps(str(firmware))}")
            if overlay is not None:
                entry.append(f"firmware_overlay = {json.dumps(str(overlay))}")
        entry.append(f"mpy = {'true' if setup is not None and setup.mpy else 'false'}")
        lines[device_id] = entry
    return lines


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(path, 0o600)
