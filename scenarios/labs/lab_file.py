"""Lab files (TOML): one description of a lab for the twin and the bench (docs/lab-files.md).

The file names the broker, the boards (their kind, firmware, device settings and wiring), the
shared physical quantities parts are coupled through, the OT-2 and the lab's own scenarios. A twin
lab is built from it (``mode = "twin"``, the default without a broker URL); a bench run uses the
same file and ignores the twin-only parts (``mode = "bench"``, the default with ``[broker] url``;
``--twin``/``--bench`` choose otherwise). Secrets are never in it, only the names of the
environment variables that hold them::

    [broker]
    url = "mqtt://192.168.1.10:1883"              # the bench's broker; a twin lab starts its own

    [[quantities]]
    name = "enclosure"
    type = "thermal"
    ambient_c = 24.0

    [[boards]]
    id = "env-1"
    kind = "pico_w"
    firmware = "firmware"                         # relative to the lab file (default: the stock firmware)
    serial_port = "/dev/ttyACM0"

    [[boards.parts]]
    type = "bme280"
    i2c = { bus = 0, sda = 4, scl = 5 }
    temperature_c = { shared = "enclosure" }

The schema is pydantic models (:class:`LabFile`); ``labtwin schema lab`` prints its JSON Schema, and
every mistake is a ConfigError naming the key path and what is allowed.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from labtwin.errors import ConfigError
from labtwin.scenarios.labs.broker_url import PASSWORD_ENV, USERNAME_ENV, BrokerAddress, parse_broker_url
from labtwin.twin.wiring.parts_library import PART_TYPES, PartSpec
from labtwin.twin.wiring.quantities import SharedQuantitySpec

__all__ = ["BOARD_KINDS", "BoardEntry", "LabConfig", "LabFile", "Ot2Entry", "board_password_env", "lab_file_schema",
           "load_lab_config", "parse_lab_config"]

BOARD_KINDS = ("pico_w", "esp32")
_SECRET_KEYS = re.compile(r"(password|token|secret|username|ssid)$")
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"

EnvName = Annotated[str, Field(pattern=_ENV_NAME, description="the name of an environment variable")]
DeviceId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                                description="1-64 letters, digits, '.', '_' or '-'; the board's MQTT device id")]
HostName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="a fleet host's name")]
HostAddress = Annotated[str, Field(pattern=r"^[0-9A-Fa-f.:]+$",
                                   description="the IP address a fleet host's shard serves on (127.0.0.2 ...)")]
SettingValue = str | int | float | bool


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class BrokerTable(_Table):
    """``[broker]``: the bench's broker, and which broker a twin lab starts."""

    url: str | None = Field(None, description="mqtt://HOST:PORT of the bench's broker (never with credentials)")
    twin: Literal["amqtt", "mosquitto"] = Field("amqtt", description="the broker a twin lab starts")
    username_env: EnvName = USERNAME_ENV
    password_env: EnvName = PASSWORD_ENV

    @field_validator("url")
    @classmethod
    def _mqtt_url(cls, url: str | None) -> str | None:
        if url is not None:
            try:
                parse_broker_url(url, environ={})
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return url


class BoardTable(_Table):
    """``[[boards]]``: one board, its firmware, its device settings and what is wired to it."""

    id: DeviceId
    kind: Literal["pico_w", "esp32"] = "pico_w"
    firmware: str | None = Field(None, description="the board's firmware directory, relative to the lab file "
                                                   "(default: labtwin's stock firmware)")
    firmware_overlay: str | None = Field(None, description="a directory laid over the firmware: its files added, "
                                                           "those of the same path replaced")
    mpy: bool = Field(True, description="boot and flash the firmware's mpy form (every module but main.py "
                                        "precompiled: what the firmware check judges and a board should run; "
                                        "false: the .py sources, compiled by the board at import)")
    serial_port: str | None = Field(None, description="bench: where `labtwin flash` finds it (or socket://HOST:PORT)")
    password_env: EnvName | None = Field(None, description="bench: the variable holding the board's own broker "
                                                           "password (its user name is its id)")
    settings: dict[str, SettingValue] = Field(default_factory=dict,
                                              description="extra device.json keys the firmware reads")
    wiring: str | None = Field(None, description="twin: a Wokwi diagram.json whose parts are wired to the board")
    parts: list[PartSpec] = Field(default_factory=list, description="twin: the parts wired to the board")
    host: str | None = Field(None, description="fleet: the [hosts] entry whose `labtwin serve lab --shard HOST` "
                                               "simulates this board (required when the file has [hosts]; "
                                               "without [hosts]: the lab's own process)")


class Ot2Table(_Table):
    """``[ot2]``: the bench's OT-2 (URLs) and which OT-2 twins a twin lab starts."""

    task_server_url: str | None = Field(None, pattern=r"^https?://[^/\s]+",
                                        description="bench: the OT-2 task app, http://HOST:PORT")
    task_server_token_env: EnvName | None = None
    robot_api_url: str | None = Field(None, pattern=r"^https?://[^/\s]+",
                                      description="bench: the robot's own HTTP API, http://HOST:31950")
    task_app: bool | None = Field(None, description="twin: start the OT-2 task app twin (default: with "
                                                    "task_server_url, or without any URL)")
    robot_api: bool | None = Field(None, description="twin: start the robot API twin (default: with robot_api_url)")

    @property
    def starts_task_app(self) -> bool:
        """Whether a twin lab starts the task app twin."""
        if self.task_app is not None:
            return self.task_app
        return self.task_server_url is not None or (self.robot_api_url is None and not self.robot_api)

    @property
    def starts_robot_api(self) -> bool:
        """Whether a twin lab starts the robot API twin."""
        return self.robot_api if self.robot_api is not None else self.robot_api_url is not None

    @model_validator(mode="after")
    def _something(self) -> Ot2Table:
        if self.task_server_url is None and self.robot_api_url is None and not (
                self.starts_task_app or self.starts_robot_api):
            raise ValueError("[ot2] needs task_server_url and/or robot_api_url, or task_app/robot_api = true")
        return self


class WifiTable(_Table):
    """``[wifi]``: the network flashed boards join (written into their device config)."""

    ssid_env: EnvName | None = None
    password_env: EnvName | None = None


class LabFile(_Table):
    """A labtwin lab file."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, title="labtwin lab file")

    mode: Literal["twin", "bench"] | None = Field(
        None, description="what `--lab FILE` runs on by default: twin (default without [broker] url) or bench")
    topic_prefix: str = Field("ot2", pattern=r"^[^+#\s]+$", description="topics are {prefix}/{device_id}/...")
    scenarios: list[str] = Field(default_factory=list,
                                 description="the lab's scenario files or folders, relative to the lab file")
    broker: BrokerTable = Field(default_factory=BrokerTable)  # type: ignore[arg-type]
    quantities: list[SharedQuantitySpec] = Field(default_factory=list,
                                                 description="shared physical quantities parts are coupled through")
    boards: list[BoardTable] = Field(min_length=1)
    ot2: Ot2Table | None = None
    wifi: WifiTable | None = None
    hosts: dict[HostName, HostAddress] = Field(
        default_factory=dict, description="fleet: the hosts that simulate boards (name = their IP address); each "
                                          "runs `labtwin serve lab --lab FILE --shard NAME` against [broker] url")

    @model_validator(mode="after")
    def _consistent(self) -> LabFile:
        ids = [board.id for board in self.boards]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"board id(s) {duplicates} appear more than once")
        names = [q.name for q in self.quantities]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"quantity name(s) {duplicates} appear more than once")
        if self.mode == "bench" and self.broker.url is None:
            raise ValueError("mode = \"bench\" needs [broker] url (the bench's broker)")
        for name, address in self.hosts.items():
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"hosts.{name} {address!r} {_IP_ADDRESS_HINT}") from None
        known = ", ".join(sorted(self.hosts))
        for index, board in enumerate(self.boards):
            if board.host is None and self.hosts:
                raise ValueError(f"boards[{index}].host is missing: this file places boards on hosts ({known}); "
                                 "give each board one")
            if board.host is not None and board.host not in self.hosts:
                raise ValueError(f"boards[{index}].host {board.host!r} is not in [hosts] "
                                 f"({f'known: {known}' if known else 'the file has no [hosts] table'})")
        if self.hosts and self.broker.url is None:
            raise ValueError("[hosts] share one broker: give its [broker] url (every shard and the orchestrator "
                             "reach it)")
        return self


def lab_file_schema() -> dict[str, Any]:
    """The JSON Schema of a lab file (``labtwin schema lab``)."""
    schema = LabFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


# --------------------------------------------------------------------------- the parsed lab


@dataclass(frozen=True)
class BoardEntry:
    """One board of the lab, with its paths resolved against the lab file's folder."""

    id: str
    kind: str = "pico_w"
    serial_port: str | None = None
    password_env: str | None = None
    """The variable holding this board's own broker password (its user name is its id), if it has one."""
    firmware_dir: Path | None = None
    """Its firmware (None: labtwin's stock firmware)."""
    firmware_overlay: Path | None = None
    settings: Mapping[str, SettingValue] = field(default_factory=dict)
    mpy: bool = True
    """Boot (twin) and flash (bench) the firmware's mpy form."""
    wiring: Path | None = None
    """A Wokwi diagram.json to wire (twin only)."""
    parts: tuple[Any, ...] = ()
    """Its ``[[boards.parts]]`` as :data:`~labtwin.twin.wiring.parts_library.PartSpec` models (twin only)."""
    host: str | None = None
    """The fleet host (a ``[hosts]`` name) whose shard simulates it; None: the lab's own process."""

    @property
    def twin_only(self) -> bool:
        """Whether the entry wires parts (which only a twin lab has)."""
        return bool(self.parts) or self.wiring is not None


@dataclass(frozen=True)
class Ot2Entry:
    """How to reach the bench's OT-2, and which OT-2 twins a twin lab starts."""

    task_server_url: str | None = None
    task_server_token_env: str | None = None
    robot_api_url: str | None = None
    task_app: bool = False
    """A twin lab starts the OT-2 task app twin."""
    robot_api: bool = False
    """A twin lab starts the OT-2 robot API twin."""


@dataclass(frozen=True)
class LabConfig:
    """A parsed lab file. Secrets are resolved from the environment by the accessors, never stored."""

    source: str
    broker_url: str | None
    boards: tuple[BoardEntry, ...]
    username_env: str = USERNAME_ENV
    password_env: str = PASSWORD_ENV
    topic_prefix: str = "ot2"
    ot2: Ot2Entry | None = None
    wifi_ssid_env: str | None = None
    wifi_password_env: str | None = None
    mode: str = "twin"
    """What the file runs on unless told otherwise: ``twin`` or ``bench``."""
    twin_broker: str = "amqtt"
    base_dir: Path = Path(".")
    """The lab file's folder: relative paths in it start here."""
    quantities: tuple[SharedQuantitySpec, ...] = ()
    scenarios: tuple[Path, ...] = ()
    hosts: Mapping[str, str] = field(default_factory=dict)
    """Fleet hosts: name -> the address its shard serves on (``labtwin serve lab --shard NAME``)."""
    named_broker_env: tuple[str, ...] = ()
    """Which of ``username_env`` / ``password_env`` the file's ``[broker]`` gives (the others are defaults)."""
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

    def bench_broker_url(self) -> str:
        """The bench's broker URL.

        Raises:
            ConfigError: the file has none (a twin-only lab file).
        """
        if self.broker_url is None:
            raise ConfigError(f"{self.source}: a bench needs [broker] url = \"mqtt://HOST:PORT\" (the bench's broker)")
        return self.broker_url

    def broker_address(self) -> BrokerAddress:
        """The bench's broker with its credentials from the environment variables the file names."""
        address = parse_broker_url(self.bench_broker_url(), environ={})
        return BrokerAddress(address.host, address.port, self.environ.get(self.username_env) or None,
                             self.environ.get(self.password_env) or None)

    def broker_credentials_note(self) -> str | None:
        """A one-line note when a variable the file's ``[broker]`` names (``username_env = "..."``) is unset.

        Not an error: a broker may let clients in without credentials, and :meth:`broker_address` then
        leaves them out; a broker that wants them answers "Not authorized" only once connected.
        """
        unset = [(key, getattr(self, key)) for key in self.named_broker_env if not self.environ.get(getattr(self, key))]
        if not unset:
            return None
        keys, names = " and ".join(key for key, _ in unset), " and ".join(f"${name}" for _, name in unset)
        if len(unset) == 1:
            return (f"{self.source}: [broker] {keys} names {names}, which is not set: connecting without it "
                    "(a broker that needs it answers Not authorized)")
        return (f"{self.source}: [broker] {keys} name {names}, which are not set: connecting without them "
                "(a broker that needs them answers Not authorized)")

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
    """Read and check a lab file; its relative paths start at its folder.

    Raises:
        ConfigError: the file is missing, not TOML, or not a valid lab (the message names the key).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read lab file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"lab file {path} is not UTF-8 text") from None
    return parse_lab_config(text, source=str(path), environ=environ, base_dir=path.resolve().parent)


def parse_lab_config(text: str, *, source: str = "<lab>", environ: Mapping[str, str] | None = None,
                     base_dir: Path | None = None) -> LabConfig:
    """Parse lab TOML ``text``; ``source`` names it in errors, ``base_dir`` anchors its relative paths.

    Raises:
        ConfigError: not TOML, or not a valid lab.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from None
    try:
        lab = LabFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_first_problem(exc, data)}") from None
    base = Path.cwd() if base_dir is None else base_dir
    ot2 = None
    if lab.ot2 is not None:
        table = lab.ot2
        ot2 = Ot2Entry(table.task_server_url, table.task_server_token_env, table.robot_api_url,
                       task_app=table.starts_task_app, robot_api=table.starts_robot_api)
    return LabConfig(
        source=source, broker_url=lab.broker.url, boards=tuple(_board(board, base) for board in lab.boards),
        username_env=lab.broker.username_env, password_env=lab.broker.password_env, topic_prefix=lab.topic_prefix,
        ot2=ot2, wifi_ssid_env=lab.wifi.ssid_env if lab.wifi else None,
        wifi_password_env=lab.wifi.password_env if lab.wifi else None,
        mode=lab.mode or ("bench" if lab.broker.url is not None else "twin"), twin_broker=lab.broker.twin,
        base_dir=base, quantities=tuple(lab.quantities), scenarios=tuple(base / path for path in lab.scenarios),
        hosts=dict(lab.hosts), environ=os.environ if environ is None else environ,
        named_broker_env=tuple(key for key in ("username_env", "password_env") if key in lab.broker.model_fields_set))


def _board(table: BoardTable, base: Path) -> BoardEntry:
    def path(value: str | None) -> Path | None:
        return None if value is None else base / value

    return BoardEntry(table.id, table.kind, table.serial_port, table.password_env, path(table.firmware),
                      path(table.firmware_overlay), dict(table.settings), table.mpy, path(table.wiring),
                      tuple(table.parts), table.host)


# --------------------------------------------------------------------------- errors, as a lab engineer reads them


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _first_problem(error: ValidationError, data: dict[str, Any]) -> str:
    """The first problem pydantic found, with its key path and what is allowed there."""
    problem = error.errors()[0]
    loc = tuple(part for part in problem["loc"] if not _is_tag(part))
    kind, message = problem["type"], problem["msg"].removeprefix("Value error, ")
    where = _path(loc)
    value = problem.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        if _SECRET_KEYS.search(key):
            return (f"{where}: secrets do not belong in a lab file; put the value in an environment variable "
                    f"and name it with {key}_env")
        allowed = _allowed_keys(loc[:-1], data)
        return f"unknown key {where!r}; allowed here: {', '.join(allowed)}"
    if kind == "missing":
        if where == "boards":
            return "add at least one [[boards]] entry (id, kind)"
        return f"missing {where}"
    if kind == "too_short" and where == "boards":
        return "add at least one [[boards]] entry (id, kind)"
    if kind == "literal_error":
        expected = str(problem.get("ctx", {}).get("expected", "")).replace("'", "").replace(" or ", ", ")
        if loc and loc[-1] == "address" and isinstance(value, int):  # I2C addresses read in hex
            expected = ", ".join(f"0x{int(choice):02x}" for choice in expected.split(", "))
            return f"{where} 0x{value:02x} is not one of {expected}"
        return f"{where} {value!r} is not one of {expected}"
    if "settings" in loc[:-1]:
        return f"{where}: a device setting is a string, a number or true/false"
    if kind in ("union_tag_invalid", "union_tag_not_found"):  # the only tagged union: a part's type
        tag = value.get("type") if isinstance(value, dict) else None
        if tag is None:
            return f"{where} needs a type; the part types are: {', '.join(PART_TYPES)}"
        return f"{where}.type {tag!r} is not a part type; the part types are: {', '.join(PART_TYPES)}"
    if kind == "string_pattern_mismatch":
        if len(loc) == 2 and loc[0] == "hosts":  # a host's address
            return f"{where} {value!r} {_IP_ADDRESS_HINT}"
        if len(loc) == 3 and loc[0] == "hosts":  # a host's name (pydantic's loc ends in "[key]")
            return f"hosts: the host name {value!r} must be 1-64 letters, digits, '.', '_' or '-'"
        return f"{where} {value!r} {_PATTERN_HINTS.get(loc[-1] if loc else '', 'has the wrong form')}"
    if not where:
        return message
    return f"{where}: {message}"


_IP_ADDRESS_HINT = "must be an IP address, IPv4 (10.0.0.21) or IPv6 (fd00::21); host names are not looked up"
_PATTERN_HINTS: dict[int | str, str] = {
    "id": "must be 1-64 letters, digits, '.', '_' or '-'",
    "topic_prefix": "must not contain spaces, '+' or '#'",
    "task_server_url": "must look like http://HOST:PORT",
    "robot_api_url": "must look like http://HOST:PORT",
    "name": "must start with a letter or '_' and hold only letters, digits, '_' or '-'",
}
for _env_key in ("username_env", "password_env", "ssid_env", "task_server_token_env"):
    _PATTERN_HINTS[_env_key] = "must name an environment variable (like LABTWIN_BROKER_PASSWORD)"


def _is_tag(part: int | str) -> bool:
    # pydantic puts a discriminated union's tag, or a union member's name, into the location.
    return isinstance(part, str) and (part in PART_TYPES or part.endswith("Source") or part in ("float", "str"))


def _allowed_keys(loc: tuple[int | str, ...], data: Any) -> list[str]:
    """The keys the table at ``loc`` may have."""
    annotation: Any = LabFile
    value = data
    for part in loc:
        annotation = _step(annotation, part, value)  # a union member is picked by the parent's own keys
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and isinstance(part, int):
            value = value[part]
        else:
            value = None
    model = _model_of(annotation, value)
    return sorted(model.model_fields) if model is not None else []


def _step(annotation: Any, part: int | str, value: Any) -> Any:
    model = _model_of(annotation, value)
    if isinstance(part, str) and model is not None:
        return model.model_fields[part].annotation
    for arg in typing.get_args(annotation):
        if typing.get_origin(arg) is list or arg is list:
            return typing.get_args(arg)[0]
    if typing.get_origin(annotation) is list:
        return typing.get_args(annotation)[0]
    return annotation


def _model_of(annotation: Any, value: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) is Annotated:
        return _model_of(typing.get_args(annotation)[0], value)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for member in typing.get_args(annotation):
            model = _model_of(member, value)
            if model is None:
                continue
            tag = model.model_fields.get("type")
            if tag is None or not isinstance(value, dict):
                return model
            if value.get("type") in typing.get_args(tag.annotation):
                return model
    return None
