"""TwinLabOptions: everything a twin lab is built from, checked in one place.

::

    options = TwinLabOptions(devices=["pico-a", "pico-b"], broker="mosquitto", network_twin=True)
    async with TwinLab(options) as lab: ...
    async with TwinLab(devices=["pico-a"], ot2=True) as lab: ...   # the same, as keywords

The options are a frozen dataclass; ``options.replace(seed=7)`` is a checked copy. Scenarios give
their ``lab_options`` as a mapping; :func:`twin_lab_keywords` checks its keys before they are merged.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, cast

from typing_extensions import Unpack

from labtwin.board_firmware import STOCK_FIRMWARE_DIR, firmware_sources
from labtwin.errors import ConfigError
from labtwin.orchestrator.protocol import DEFAULT_TOPIC_PREFIX, validate_device_id
from labtwin.scenarios.labs.broker_url import BrokerAddress
from labtwin.twin.board.profiles import BOARD_PROFILES, BoardProfile
from labtwin.twin.lab_time.speed import REAL, Speed

if TYPE_CHECKING:
    from labtwin.twin.board.model import BoardModel, Hazard

__all__ = ["BENCH_SENSOR_VOLTS", "BENCH_SERVO_PIN", "ORCHESTRATOR_USER", "BoardSetup", "BoardWiring", "LabWiring",
           "TwinLabKeywords", "TwinLabOptions", "twin_lab_keywords", "wire_default_bench"]

ORCHESTRATOR_USER = "orchestrator"
"""The orchestrator's broker user in a lab that runs its own broker (so no device may be named so)."""
MIN_HEAP_BYTES = 16_384
RESERVED_SETTINGS = frozenset({"device_id", "board", "mqtt_host", "mqtt_port", "mqtt_user", "mqtt_password",
                               "mqtt_tls", "mqtt_ca", "mqtt_tls_hostname", "topic_prefix", "wifi_ssid",
                               "wifi_password"})
"""device.json keys labtwin writes itself (docs/device-config.md): a board's settings may not set them."""

# What the default bench has wired to each board: three analog sensors and a servo.
BENCH_SENSOR_VOLTS = {0: 1.10, 1: 2.05, 2: 0.65}  # ADC channel (GP26, GP27, GP28) -> volts
BENCH_SERVO_PIN = 15


BoardWiring = Callable[["BoardModel"], None]
"""Wires parts to one board's model before it boots."""
LabWiring = Callable[[], Callable[[str, "BoardModel"], None]]
"""Called once per lab start (fresh shared quantities each time); wires each board by device id."""


@dataclass(frozen=True, kw_only=True)
class BoardSetup:
    """What one board of a twin lab has of its own; unset fields take the lab's (``TwinLabOptions``).

    Attributes:
        board: its board profile (``pico_w``, ``esp32``): boards of several kinds in one lab.
        firmware_dir: its firmware (must hold ``main.py``, or the overlay must).
        firmware_overlay: a directory laid over its firmware.
        settings: extra ``device.json`` keys its firmware reads (docs/device-config.md).
        mpy: boot the firmware's mpy form (every module but main.py precompiled, as ``labtwin flash
            --mpy`` writes it; what an ESP32's heap needs).
        seed: its sensors' seed (default: the lab's ``seed`` plus its position in ``devices``).
        login: (user, password) it logs in to an external broker with (default: the lab's login).
    """

    board: str | None = None
    firmware_dir: Path | None = None
    firmware_overlay: Path | None = None
    settings: Mapping[str, object] = dataclasses.field(default_factory=dict)
    mpy: bool = False
    seed: int | None = None
    login: tuple[str, str] | None = dataclasses.field(default=None, repr=False)


def wire_default_bench(model: BoardModel) -> None:
    """Connect the default bench's sensors and servo to a board model (the default ``wiring``)."""
    for channel, volts in BENCH_SENSOR_VOLTS.items():
        model.adc.set_voltage(channel, volts)
    model.attach_servo(BENCH_SERVO_PIN)


@dataclass(frozen=True, kw_only=True)
class TwinLabOptions:
    """How to build a twin lab. Construction checks every option and raises ConfigError on a bad one.

    Attributes:
        devices: the boards' device ids (kept as a tuple), unique, usable in MQTT topics.
        board: the board profile every board simulates (``pico_w``, ``esp32``).
        broker: ``"amqtt"`` (embedded), ``"mosquitto"`` (started for the lab) or an external broker.
        broker_persistence: keep Mosquitto's persistence database (Mosquitto only).
        seed: seeds the simulated sensors (board ``i`` gets ``seed + i``) and the network twins.
        topic_prefix: the first MQTT topic segment of every device.
        firmware_dir: the firmware every board boots (must hold ``main.py``, or the overlay must).
        firmware_overlay: a directory laid over ``firmware_dir`` (a lab's main.py, task modules and
            drivers over the stock framework); the lab boots, hashes and validates the two as one.
        work_dir: where flash directories and logs go (default: a temporary directory).
        timeout: seconds an orchestrator call waits for its result.
        boot_timeout: seconds a board may take to come online.
        boot_concurrency: how many boards boot at a time.
        on_output: called with (device id, line) for each line of firmware and twin output.
        on_hazard: called with (device id, hazard) when a board's model sees a hazard.
        wiring: connects parts to each board's model before it boots.
        heap_bytes: MicroPython heap instead of the profile's (what-if runs).
        ot2: also run the OT-2 twin (task server).
        network_twin: put a network twin between each board and the broker (network faults).
        ot2_robot_api: also run the OT-2 robot API twin.
        ot2_robot_api_delay_speedup: how much faster the robot API twin runs protocol delays.
        consoles: give every board a serial console (for mpremote and ``labtwin flash``).
        host: the address the boards' consoles and network twins listen on (a fleet shard's own address,
            ``[hosts]`` in a lab file; default loopback).
        workers: boot the boards in this many worker processes (each holding its boards' hardware buses
            and models) so the lab process keeps only the broker and the orchestrator clients: every core
            of the machine works for a big lab (docs/performance.md). The boards' models are then out of
            reach (no ``hardware`` or ``faults`` capability), the default bench wiring only, real time only.
        orchestrator_clients: give every board an orchestrator client and wait until it is online (a
            worker process boots boards without: the lab process holds their clients).
        boards: per-device :class:`BoardSetup` (kind, firmware, settings) over the lab-wide ones.
        lab_wiring: replaces ``wiring``: called at each lab start, returns a function wiring each board
            by device id (a lab file's parts, with shared quantities fresh for every lab).
        speed: how fast lab time runs (:class:`~labtwin.twin.lab_time.Speed`);
            the lab runs on a loop of that speed (``run_on_lab_time``, docs/time.md). Timeouts and
            delays given here are lab seconds, but ``boot_timeout``, which bounds real start-up work,
            lasts as long in real time at every speed.
    """

    devices: Sequence[str] = ("pico-w-lab-001",)
    board: str = "pico_w"
    broker: str | BrokerAddress = "amqtt"
    broker_persistence: bool = False
    seed: int = 0
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    firmware_dir: Path = STOCK_FIRMWARE_DIR
    firmware_overlay: Path | None = None
    work_dir: Path | None = None
    timeout: float = 10.0
    boot_timeout: float = 15.0
    boot_concurrency: int = 8
    on_output: Callable[[str, str], None] | None = None
    on_hazard: Callable[[str, Hazard], None] | None = None
    wiring: Callable[[BoardModel], None] = wire_default_bench
    heap_bytes: int | None = None
    ot2: bool = False
    network_twin: bool = False
    ot2_robot_api: bool = False
    ot2_robot_api_delay_speedup: float = 100.0
    consoles: bool = False
    boards: Mapping[str, BoardSetup] = dataclasses.field(default_factory=dict)
    lab_wiring: LabWiring | None = None
    speed: Speed = REAL
    host: str = "127.0.0.1"
    workers: int = 1
    orchestrator_clients: bool = True

    def __post_init__(self) -> None:
        speed = Speed.parse(self.speed)
        object.__setattr__(self, "speed", speed)
        if speed.jumps:
            off_clock = [what for present, what in (
                (self.broker == "mosquitto", "a Mosquitto broker (use the embedded amqtt broker)"),
                (isinstance(self.broker, BrokerAddress), "an external broker (use the embedded amqtt broker)"),
                (self.ot2, "the OT-2 twin (use --speed N)"),
                (self.ot2_robot_api, "the OT-2 robot API twin (use --speed N)")) if present]
            if off_clock:
                raise ConfigError("--speed max jumps the clock when the whole lab waits, which it cannot see in "
                                  f"processes off the lab clock: this lab has {'; '.join(off_clock)} (docs/time.md)")
        devices = tuple(self.devices)
        if not devices:
            raise ConfigError("a twin lab needs at least one device")
        for device_id in devices:
            validate_device_id(device_id)
        if len(set(devices)) != len(devices):
            raise ConfigError(f"device ids must be unique, got {list(devices)}")
        if ORCHESTRATOR_USER in devices:
            raise ConfigError(f"{ORCHESTRATOR_USER!r} is the orchestrator's broker user; name the device otherwise")
        if self.board not in BOARD_PROFILES:
            raise ConfigError(f"unknown board {self.board!r}; known boards: {', '.join(sorted(BOARD_PROFILES))}")
        if isinstance(self.broker, str) and self.broker not in ("amqtt", "mosquitto"):
            raise ConfigError(f"broker must be 'amqtt', 'mosquitto' or an external address, got {self.broker!r}")
        if self.broker_persistence and self.broker != "mosquitto":
            raise ConfigError("broker_persistence is a Mosquitto option (its persistence database); "
                              f"the broker here is {self.broker!r}")
        firmware_sources(self.firmware_dir, self.firmware_overlay)  # raises ConfigError when there is none
        if self.boot_concurrency < 1:
            raise ConfigError(f"boot_concurrency must be at least 1, got {self.boot_concurrency!r}")
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers!r}")
        if self.workers > 1:
            alone = [what for present, what in (
                (not self.speed.real, "lab time (--speed): one clock needs the boards in one process"),
                (self.network_twin, "network twins (network faults)"),
                (self.consoles, "serial consoles"),
                (self.lab_wiring is not None or self.wiring is not wire_default_bench,
                 "wiring of its own (the workers wire the default bench)"),
                (self.ot2 or self.ot2_robot_api, "the OT-2 twins"),
                (self.on_output is not None or self.on_hazard is not None,
                 "on_output or on_hazard callbacks (the boards' output goes to each worker's log)"),
                (isinstance(self.broker, BrokerAddress), "an external broker")) if present]
            if alone:
                raise ConfigError(f"a lab in {self.workers} worker processes cannot have {'; '.join(alone)}: "
                                  "use workers=1 for those")
        try:
            listen = ipaddress.ip_address(self.host)
        except ValueError:
            raise ConfigError(f"host must be an IP address to listen on, got {self.host!r}") from None
        if self.consoles and not listen.is_loopback:
            raise ConfigError(f"a board's serial console is a REPL without a login: it listens on loopback only, "
                              f"not {self.host} (reach another host's consoles with ssh -L)")
        if not self.ot2_robot_api_delay_speedup > 0:
            raise ConfigError(f"ot2_robot_api_delay_speedup must be > 0, got {self.ot2_robot_api_delay_speedup!r}")
        if self.heap_bytes is not None and self.heap_bytes < MIN_HEAP_BYTES:
            raise ConfigError(f"heap_bytes={self.heap_bytes} is too small for any MicroPython firmware")
        for device_id, setup in self.boards.items():
            if device_id not in devices:
                raise ConfigError(f"boards: {device_id!r} is not one of the devices {list(devices)}")
            if setup.board is not None and setup.board not in BOARD_PROFILES:
                raise ConfigError(f"board {device_id!r}: unknown board {setup.board!r}; known boards: "
                                  f"{', '.join(sorted(BOARD_PROFILES))}")
            if setup.firmware_dir is not None or setup.firmware_overlay is not None:
                firmware_sources(*self.firmware_of(device_id))
            reserved = sorted(set(setup.settings) & RESERVED_SETTINGS)
            if reserved:
                raise ConfigError(f"board {device_id!r}: settings {reserved} are set by labtwin from the lab "
                                  "(broker, login, WiFi, topics); the settings are the firmware's own keys")
        object.__setattr__(self, "devices", devices)  # frozen: a caller's list cannot change the lab
        object.__setattr__(self, "boards", dict(self.boards))

    @property
    def profile(self) -> BoardProfile:
        """The board profile every board simulates, with ``heap_bytes`` applied."""
        profile = BOARD_PROFILES[self.board]
        if self.heap_bytes is None:
            return profile
        # What-if runs: the same board with less (or more) RAM for MicroPython.
        return dataclasses.replace(profile, heap_bytes=self.heap_bytes)

    def profile_of(self, device_id: str) -> BoardProfile:
        """The board profile of ``device_id`` (its own kind, or the lab's), with ``heap_bytes`` applied."""
        setup = self.boards.get(device_id)
        if setup is None or setup.board is None:
            return self.profile
        profile = BOARD_PROFILES[setup.board]
        return profile if self.heap_bytes is None else dataclasses.replace(profile, heap_bytes=self.heap_bytes)

    def firmware_of(self, device_id: str) -> tuple[Path, Path | None]:
        """(firmware directory, overlay or None) ``device_id`` boots."""
        setup = self.boards.get(device_id, BoardSetup())
        firmware = setup.firmware_dir if setup.firmware_dir is not None else self.firmware_dir
        overlay = setup.firmware_overlay if setup.firmware_dir is not None or setup.firmware_overlay is not None \
            else self.firmware_overlay
        return firmware, overlay

    def replace(self, **changes: Unpack[TwinLabKeywords]) -> TwinLabOptions:
        """A copy with ``changes`` applied, checked like a new one."""
        return dataclasses.replace(self, **changes)


class TwinLabKeywords(TypedDict, total=False):
    """TwinLabOptions' fields as keyword arguments (``TwinLab(**keywords)``, ``options.replace(...)``)."""

    devices: Sequence[str]
    board: str
    broker: str | BrokerAddress
    broker_persistence: bool
    seed: int
    topic_prefix: str
    firmware_dir: Path
    firmware_overlay: Path | None
    work_dir: Path | None
    timeout: float
    boot_timeout: float
    boot_concurrency: int
    on_output: Callable[[str, str], None] | None
    on_hazard: Callable[[str, Hazard], None] | None
    wiring: Callable[[BoardModel], None]
    heap_bytes: int | None
    ot2: bool
    network_twin: bool
    ot2_robot_api: bool
    ot2_robot_api_delay_speedup: float
    consoles: bool
    boards: Mapping[str, BoardSetup]
    lab_wiring: LabWiring | None
    speed: Speed
    host: str
    workers: int
    orchestrator_clients: bool


OPTION_NAMES = frozenset(field.name for field in dataclasses.fields(TwinLabOptions))


def twin_lab_keywords(options: Mapping[str, object]) -> TwinLabKeywords:
    """``options`` (a scenario's ``lab_options``) as TwinLab keywords, once their names are checked.

    The values are checked when they are applied (TwinLabOptions' own checks).

    Raises:
        TypeError: a name is not a TwinLab option.
    """
    unknown = sorted(set(options) - OPTION_NAMES)
    if unknown:
        raise TypeError(f"unknown TwinLab option(s) {', '.join(map(repr, unknown))}; "
                        f"the options are: {', '.join(sorted(OPTION_NAMES))}")
    return cast(TwinLabKeywords, dict(options))
