"""Lab config files (TOML): what a bench is made of and how to reach it.

A bench file names the broker, the boards and the OT-2; secrets are never in it, only the names
of the environment variables that hold them (docs/lab-config.md)::

    [broker]
    url = "mqtt://192.168.1.10:1883"
    username_env = "LABTWIN_BROKER_USERNAME"     # optional; these are the defaults
    password_env = "LABTWIN_BROKER_PASSWORD"

    [[boards]]
    id = "pico-w-lab-001"
    kind = "pico_w"                   # or "esp32"
    serial_port = "/dev/ttyACM0"      # optional: where labtwin flash finds it (or socket://HOST:PORT)
    password_env = "LABTWIN_PICO_W_LAB_001_PASSWORD"  # optional: its own broker user (= id) and password

    [ot2]                             # optional
    task_server_url = "http://ot2.lab:8000"
    task_server_token_env = "LABTWIN_OT2_TOKEN"
    robot_api_url = "http://ot2.lab:31950"

    [wifi]                            # optional: written into flashed device configs
    ssid_env = "LABTWIN_WIFI_SSID"
    password_env = "LABTWIN_WIFI_PASSWORD"
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtwin.errors import ConfigError
from labtwin.scenarios.labs.broker_url import PASSWORD_ENV, USERNAME_ENV, BrokerAddress, parse_broker_url

__all__ = ["BOARD_KINDS", "BoardEntry", "LabConfig", "Ot2Entry", "board_password_env", "load_lab_config",
           "parse_lab_config"]

BOARD_KINDS = ("pico_w", "esp32")
_SECRET_KEYS = re.compile(r"(password|token|secret|username|ssid)$")
_DEVICE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TOPIC_PREFIX = re.compile(r"^[^+#\s]+$")


@dataclass(frozen=True)
class BoardEntry:
    """One board on the bench."""

    id: str
    kind: str = "pico_w"
    serial_port: str | None = None
    password_env: str | None = None
    """The variable holding this board's own broker password (its user name is its id), if it has one."""


@dataclass(frozen=True)
class Ot2Entry:
    """How to reach the bench's OT-2: its task server and/or its own robot API."""

    task_server_url: str | None = None
    task_server_token_env: str | None = None
    robot_api_url: str | None = None


@dataclass(frozen=True)
class LabConfig:
    """A parsed lab file. Secrets are resolved from the environment by the accessors, never stored."""

    source: str
    broker_url: str
    boards: tuple[BoardEntry, ...]
    username_env: str = USERNAME_ENV
    password_env: str = PASSWORD_ENV
    topic_prefix: str = "ot2"
    ot2: Ot2Entry | None = None
    wifi_ssid_env: str | None = None
    wifi_password_env: str | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ, repr=False, compare=False)

    @property
    def device_ids(self) -> list[str]:
        """The boards' device ids, in file order."""
        return [board.id for board in self.boards]

    def board(self, device_id: str) -> BoardEntry:
        """The board ``device_id``.

        Raises:
            ConfigError: the file has no such board.
        """
        for board in self.boards:
            if board.id == device_id:
                return board
        raise ConfigError(f"{self.source}: no board {device_id!r}; boards: {', '.join(self.device_ids)}")

    def broker_address(self) -> BrokerAddress:
        """The broker with its credentials from the environment variables the file names."""
        address = parse_broker_url(self.broker_url, environ={})
        return BrokerAddress(address.host, address.port, self.environ.get(self.username_env) or None,
                             self.environ.get(self.password_env) or None)

    def board_credentials(self, device_id: str) -> tuple[str, str] | None:
        """(user, password) the board logs in to the broker with, if it has its own (``password_env``).

        Raises:
            ConfigError: no such board, or its ``password_env`` is not set.
        """
        board = self.board(device_id)
        if board.password_env is None:
            return None
        password = self.environ.get(board.password_env)
        if not password:
            raise ConfigError(f"{self.source}: board {device_id!r} password_env names ${board.password_env}, "
                              "which is not set")
        return device_id, password

    def ot2_token(self) -> str | None:
        """The OT-2 task server's bearer token, from the environment variable the file names."""
        if self.ot2 is None or self.ot2.task_server_token_env is None:
            return None
        token = self.environ.get(self.ot2.task_server_token_env)
        if not token:
            raise ConfigError(f"{self.source}: [ot2] task_server_token_env names ${self.ot2.task_server_token_env}, "
                              "which is not set")
        return token

    def wifi_credentials(self) -> tuple[str, str] | None:
        """(SSID, password) from the environment, if the file has a [wifi] table."""
        if self.wifi_ssid_env is None:
            return None
        ssid = self.environ.get(self.wifi_ssid_env)
        if not ssid:
            raise ConfigError(f"{self.source}: [wifi] ssid_env names ${self.wifi_ssid_env}, which is not set")
        password = self.environ.get(self.wifi_password_env, "") if self.wifi_password_env else ""
        return ssid, password


def board_password_env(device_id: str) -> str:
    """The conventional name of the variable holding board ``device_id``'s broker password."""
    return "LABTWIN_" + re.sub(r"[^A-Z0-9]", "_", device_id.upper()) + "_PASSWORD"


def load_lab_config(path: Path, environ: Mapping[str, str] | None = None) -> LabConfig:
    """Read and check a lab file.

    Raises:
        ConfigError: the file is missing, not TOML, or not a valid lab (the message names the key).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read lab file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"lab file {path} is not UTF-8 text") from None
    return parse_lab_config(text, source=str(path), environ=environ)


def parse_lab_config(text: str, *, source: str = "<lab>", environ: Mapping[str, str] | None = None) -> LabConfig:
    """Parse lab TOML ``text``; ``source`` names it in errors.

    Raises:
        ConfigError: not TOML, or not a valid lab.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from None
    _check_keys(source, "", data, {"broker", "boards", "ot2", "wifi", "topic_prefix"})
    broker = _table(source, data, "broker", required=True)
    _check_keys(source, "broker", broker, {"url", "username_env", "password_env"})
    url = _required_string(source, "broker.url", broker.get("url"))
    parse_broker_url(url, environ={})  # validate the URL's shape now
    boards_data = data.get("boards")
    if not isinstance(boards_data, list) or not boards_data:
        raise ConfigError(f"{source}: add at least one [[boards]] entry (id, kind)")
    boards = tuple(_board(source, index, entry) for index, entry in enumerate(boards_data))
    duplicates = sorted({b.id for b in boards if [x.id for x in boards].count(b.id) > 1})
    if duplicates:
        raise ConfigError(f"{source}: board id(s) {duplicates} appear more than once")
    prefix = _required_string(source, "topic_prefix", data.get("topic_prefix", "ot2"))
    if not _TOPIC_PREFIX.match(prefix):
        raise ConfigError(f"{source}: topic_prefix {prefix!r} must not contain spaces, '+' or '#'")
    ot2 = _ot2(source, _table(source, data, "ot2")) if "ot2" in data else None
    wifi = _table(source, data, "wifi")
    _check_keys(source, "wifi", wifi, {"ssid_env", "password_env"})
    return LabConfig(
        source=source, broker_url=url, boards=boards,
        username_env=_env_name(source, "broker.username_env", broker.get("username_env", USERNAME_ENV)),
        password_env=_env_name(source, "broker.password_env", broker.get("password_env", PASSWORD_ENV)),
        topic_prefix=prefix, ot2=ot2,
        wifi_ssid_env=_env_name(source, "wifi.ssid_env", wifi["ssid_env"]) if "ssid_env" in wifi else None,
        wifi_password_env=(_env_name(source, "wifi.password_env", wifi["password_env"])
                           if "password_env" in wifi else None),
        environ=os.environ if environ is None else environ)


def _board(source: str, index: int, entry: Any) -> BoardEntry:
    where = f"boards[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{source}: {where} must be a table with id and kind")
    _check_keys(source, where, entry, {"id", "kind", "serial_port", "password_env"})
    device_id = _required_string(source, f"{where}.id", entry.get("id"))
    if not _DEVICE_ID.match(device_id):
        raise ConfigError(f"{source}: {where}.id {device_id!r} must be 1-64 letters, digits, '.', '_' or '-'")
    kind = _required_string(source, f"{where}.kind", entry.get("kind", "pico_w"))
    if kind not in BOARD_KINDS:
        raise ConfigError(f"{source}: {where}.kind {kind!r} is not one of {', '.join(BOARD_KINDS)}")
    password_env = None
    if "password_env" in entry:
        password_env = _env_name(source, f"{where}.password_env", entry["password_env"])
    return BoardEntry(device_id, kind, _string(source, f"{where}.serial_port", entry.get("serial_port")), password_env)


def _ot2(source: str, table: dict[str, Any]) -> Ot2Entry:
    _check_keys(source, "ot2", table, {"task_server_url", "task_server_token_env", "robot_api_url"})
    entry = Ot2Entry(
        task_server_url=_url(source, "ot2.task_server_url", table.get("task_server_url")),
        task_server_token_env=(_env_name(source, "ot2.task_server_token_env", table["task_server_token_env"])
                               if "task_server_token_env" in table else None),
        robot_api_url=_url(source, "ot2.robot_api_url", table.get("robot_api_url")))
    if entry.task_server_url is None and entry.robot_api_url is None:
        raise ConfigError(f"{source}: [ot2] needs task_server_url and/or robot_api_url")
    return entry


def _check_keys(source: str, where: str, table: dict[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            path = f"{where}.{key}" if where else key
            if _SECRET_KEYS.search(key):
                raise ConfigError(f"{source}: {path}: secrets do not belong in a lab file; put the value in "
                                  f"an environment variable and name it with {key}_env")
            raise ConfigError(f"{source}: unknown key {path!r}; allowed here: {', '.join(sorted(allowed))}")


def _table(source: str, data: dict[str, Any], key: str, required: bool = False) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{source}: missing [{key}] table")
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {key} must be a table ([{key}])")
    return value


def _string(source: str, path: str, value: Any) -> str | None:
    """``value`` if it is a non-empty string, None if it is missing."""
    if value is None:
        return None
    return _required_string(source, path, value)


def _required_string(source: str, path: str, value: Any) -> str:
    if value is None:
        raise ConfigError(f"{source}: missing {path}")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{source}: {path} must be a non-empty string")
    return value


def _env_name(source: str, path: str, value: Any) -> str:
    name = _required_string(source, path, value)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ConfigError(f"{source}: {path} must name an environment variable (like LABTWIN_BROKER_PASSWORD), "
                          f"got {name!r}")
    return name


def _url(source: str, path: str, value: Any) -> str | None:
    url = _string(source, path, value)
    if url is not None and not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(f"{source}: {path} must look like http://HOST:PORT, got {url!r}")
    return url
