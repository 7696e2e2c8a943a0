"""TwinLab: a whole simulated lab on loopback — broker, boards, and orchestrator handles.

::

    async with TwinLab(devices=["pico-w-lab-001"]) as lab:
        device = lab.client("pico-w-lab-001")
        await device.execute_task("control_led", pin="LED", state=True)
        assert lab.board("pico-w-lab-001").model.led

With ``ot2=True`` the lab also runs the OT-2 twin (the OT-2 task app on opentrons.simulate,
served over HTTP on loopback): ``lab.ot2_client()`` drives it, ``lab.ot2_twin()`` shows its
run log. The default lab neither starts nor imports it. With ``ot2_robot_api=True`` it also runs
the OT-2 robot API twin (the Opentrons robot's own HTTP API, on opentrons' engine) at
``lab.ot2_robot_api_url``; ``lab.ot2_robot_api_twin().control`` injects its faults. With
``consoles=True`` every board has a serial console (``lab.board(id).console.url``,
``socket://127.0.0.1:PORT``) that ``mpremote`` and ``labtwin flash`` use as a board's USB port.

The options (devices, broker, board kind, firmware, what else runs) are a checked
:class:`~labtwin.scenarios.labs.twin_lab_options.TwinLabOptions`, given whole or as keywords.
A twin lab offers every capability (:class:`~labtwin.scenarios.labs.lab.Capability`), so
:func:`~labtwin.scenarios.labs.lab.twin_hardware` gives scenarios its boards, links and broker.

Scenarios receive a lab and never start processes themselves. Everything the lab starts
it stops on exit, even when start-up fails half-way: the boards (each before its orchestrator
client and network twin) before the broker. Boards boot ``boot_concurrency`` at a time.
"""

from __future__ import annotations

import asyncio
import functools
import resource
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from typing_extensions import Unpack

from labtwin.board_firmware import copy_firmware
from labtwin.errors import BoardCrashed, ConfigError, DeviceOffline, LabtwinError
from labtwin.mpy_form import compile_firmware_or_fail
from labtwin.orchestrator.mqtt_client import AsyncMQTTOrchestratorClient
from labtwin.scenarios.engine.runner import LabFactory
from labtwin.scenarios.labs.broker_url import BrokerAddress
from labtwin.scenarios.labs.device_config import device_config
from labtwin.scenarios.labs.lab import Capability, Lab, TwinHardware
from labtwin.scenarios.labs.twin_lab_options import (
    ORCHESTRATOR_USER,
    TwinLabKeywords,
    TwinLabOptions,
    twin_lab_keywords,
)
from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.brokers import AmqttBroker, MosquittoBroker
from labtwin.twin.brokers.acl import DeviceAcl
from labtwin.twin.clock import Clock, WallClock
from labtwin.twin.lab_time import lab_clock_of, speed_factor
from labtwin.twin.network.network_twin import NetworkTwin
from labtwin.twin.ot2.task_twin import Ot2TaskServer

if TYPE_CHECKING:
    from labtwin.orchestrator.http_client import AsyncHTTPOrchestratorClient
    from labtwin.scenarios.labs.lab_workers import LabWorkers
    from labtwin.twin.board.model import BoardModel
    from labtwin.twin.ot2.robot_api_twin import Ot2RobotApiServer

__all__ = ["OT2_ROBOT_API_CAPABILITY", "TWIN_CAPABILITIES", "TwinLab", "twin_lab_factory"]

OT2_DEVICE_ID = "ot2"
OT2_ROBOT_API_DEVICE_ID = "ot2-robot-api"
LAB_WIFI_SSID = "labtwin-ap"
TWIN_CAPABILITIES = frozenset({Capability.FAULTS, Capability.HARDWARE})
"""What every twin lab offers."""
OT2_ROBOT_API_CAPABILITY = Capability.OT2_ROBOT_API
"""What labs built with ``ot2_robot_api=True`` offer on top of TWIN_CAPABILITIES."""

_Handle = TypeVar("_Handle")


def _built_with(handle: _Handle | None, option: str, what: str) -> _Handle:
    """``handle``, or a ConfigError saying which TwinLab option builds a lab with it."""
    if handle is None:
        raise ConfigError(f"this lab has no {what}: build it with TwinLab(..., {option}=True)")
    return handle


def _ensure_open_files(boards: int) -> None:
    """Raise the soft open-files limit to what ``boards`` boards need, or say why it cannot be."""
    # Per board this process holds up to ~10 descriptors (VM pipe, log, hwbus listener and
    # connection, orchestrator connection, the embedded broker's end of two connections, a
    # network twin's three); Mosquitto inherits the limit and holds two per board.
    needed = 256 + 12 * boards
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ConfigError(
            f"{boards} boards need about {needed} open files, but this process may open at most {hard} "
            "(hard limit, `ulimit -Hn`): raise that limit or run fewer boards")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


class TwinLab:
    """Starts a broker (embedded amqtt, Mosquitto, or an external one) and simulated boards.

    Built from a :class:`TwinLabOptions`, from its fields as keywords, or from both (the keywords
    replace the options' fields): ``TwinLab(devices=["pico-a"], network_twin=True)``. A bad option is
    a ConfigError here, before anything starts. Implements :class:`~labtwin.scenarios.labs.lab.Lab`
    and the twin-only :class:`~labtwin.scenarios.labs.lab.TwinHardware`.
    """

    def __init__(self, options: TwinLabOptions | None = None, /, **overrides: Unpack[TwinLabKeywords]) -> None:
        if options is None:
            options = TwinLabOptions(**overrides)
        elif overrides:
            options = options.replace(**overrides)
        self.options = options
        self.device_ids = list(options.devices)
        self.profile = options.profile
        self.seed = options.seed
        self.topic_prefix = options.topic_prefix
        self.firmware_dir = options.firmware_dir
        self.timeout = options.timeout
        self.boot_timeout = options.boot_timeout
        self.boot_concurrency = options.boot_concurrency
        self._stack: AsyncExitStack | None = None
        self._boards: dict[str, SimulatedBoard] = {}
        self._clients: dict[str, AsyncMQTTOrchestratorClient] = {}
        self._credentials: dict[str, str] = {}
        self.broker_address: BrokerAddress | None = None
        self.broker: AmqttBroker | MosquittoBroker | None = None
        self.work_dir: Path | None = None
        self._wifi_password = secrets.token_urlsafe(12)
        self._links: dict[str, NetworkTwin] = {}
        # One clock for the whole lab: board models, traces and scenario steps share its time axis.
        # Real time until the lab starts; then its event loop's clock (lab time, docs/time.md).
        self.clock: Clock = WallClock()
        self._ot2_twin: Ot2TaskServer | None = None
        self._ot2_client: AsyncHTTPOrchestratorClient | None = None
        self._ot2_robot_api_twin: Ot2RobotApiServer | None = None
        self._firmware: dict[str, Path] = {}
        self._wire_board: Callable[[str, BoardModel], None] | None = None
        self._workers: LabWorkers | None = None

    # --- handles --------------------------------------------------------------------------

    def client(self, device_id: str) -> AsyncMQTTOrchestratorClient:
        """The lab's connected orchestrator client for a device."""
        try:
            return self._clients[device_id]
        except KeyError:
            raise ConfigError(f"no device {device_id!r} in this lab; devices: {self.device_ids}") from None

    def link(self, device_id: str) -> NetworkTwin:
        """The network twin between a device and the broker (labs built with network_twin=True)."""
        if not self.options.network_twin:
            raise ConfigError("this lab has no network twin: build it with TwinLab(network_twin=True)")
        try:
            return self._links[device_id]
        except KeyError:
            raise ConfigError(f"no device {device_id!r} in this lab; devices: {self.device_ids}") from None

    def board(self, device_id: str) -> SimulatedBoard:
        """The simulated board behind a device (twin labs only: hardware introspection, faults)."""
        if self.options.workers > 1:
            raise ConfigError(f"board {device_id!r} runs in a worker process (workers={self.options.workers}): "
                              "its model is not in this one; build the lab with workers=1 to look into it")
        try:
            return self._boards[device_id]
        except KeyError:
            raise ConfigError(f"no device {device_id!r} in this lab; devices: {self.device_ids}") from None

    def ot2_client(self) -> AsyncHTTPOrchestratorClient:
        """The lab's connected HTTP client for the OT-2 twin (labs built with ``ot2=True``)."""
        return _built_with(self._ot2_client, "ot2", "OT-2")

    def ot2_twin(self) -> Ot2TaskServer:
        """The OT-2 twin behind ot2_client() (twin labs only: run log, time estimates, logs)."""
        return _built_with(self._ot2_twin, "ot2", "OT-2")

    @property
    def ot2_url(self) -> str | None:
        """Where the OT-2 twin serves its tasks, or None without one."""
        return self._ot2_twin.url if self._ot2_twin is not None else None

    @property
    def wifi_credentials(self) -> tuple[str, str]:
        """(SSID, password) of the lab's simulated WiFi network (what a flashed device config needs)."""
        return LAB_WIFI_SSID, self._wifi_password

    def ot2_robot_api_twin(self) -> Ot2RobotApiServer:
        """The OT-2 robot API twin (labs built with ``ot2_robot_api=True``): its URL, logs and fault controls."""
        return _built_with(self._ot2_robot_api_twin, "ot2_robot_api", "OT-2 robot API")

    @property
    def ot2_robot_api_url(self) -> str | None:
        """Where the OT-2 robot API twin serves the robot's HTTP API, or None without one."""
        return self._ot2_robot_api_twin.url if self._ot2_robot_api_twin is not None else None

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What scenarios may use in this lab (see labtwin.scenarios.engine.state_machine.needs)."""
        if self.options.workers > 1:  # the boards' models and links are in the worker processes
            return frozenset()
        return _capabilities(ot2_robot_api=self.options.ot2_robot_api)

    @property
    def worker_pids(self) -> list[int]:
        """The worker processes' ids (``workers`` > 1; their boards' VMs are their children), else empty."""
        return self._workers.pids if self._workers is not None else []

    @property
    def description(self) -> str:
        """``twin lab``, for messages."""
        return "twin lab"

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> TwinLab:
        async with AsyncExitStack() as stack:
            await self._start(stack)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    def _adopt_loop_clock(self) -> None:
        """Run on the running loop's clock; ConfigError if the loop's speed is not the lab's."""
        clock = lab_clock_of(asyncio.get_running_loop())
        speed = self.options.speed
        if clock is None and not speed.real:
            raise ConfigError(f"a twin lab at speed {speed} runs on a lab event loop of that speed: "
                              "labtwin.twin.lab_time.run_on_lab_time(main(), speed) (docs/time.md)")
        if clock is not None and not speed.real and clock.speed != speed:
            raise ConfigError(f"this twin lab runs at speed {speed}, but its event loop at speed {clock.speed}")
        if clock is not None:
            self.clock = clock
            if clock.speed.jumps:
                self.options.replace(speed=clock.speed)  # raises for what max mode cannot run

    async def _start(self, stack: AsyncExitStack) -> None:
        self._adopt_loop_clock()
        if self.options.work_dir is None:
            self.work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="labtwin-")))
        else:
            self.work_dir = self.options.work_dir
            self.work_dir.mkdir(parents=True, exist_ok=True)
        await self._compose_firmware()
        self._wire_board = self.options.lab_wiring() if self.options.lab_wiring is not None else None
        _ensure_open_files(len(self.device_ids))
        # The OT-2 twins are spawned first: their ~1 s of opentrons start-up overlaps the broker's and boards'.
        if self.options.ot2:
            await self._spawn_ot2(stack)
        if self.options.ot2_robot_api:
            await self._spawn_ot2_robot_api(stack)
        await self._start_broker(stack)
        if self.options.workers > 1:
            await self._start_in_workers(stack)
            return
        # Boards boot boot_concurrency at a time, each into its own exit stack (its board stopped
        # before its client and link); on exit all are stopped at once. After a failed boot no
        # further board starts, the ones booting finish, and the first failure is raised.
        device_stacks: list[AsyncExitStack] = []
        failures: list[Exception] = []
        gate = asyncio.Semaphore(self.boot_concurrency)

        async def stop_devices() -> None:
            outcomes = await asyncio.gather(*(s.aclose() for s in device_stacks), return_exceptions=True)
            errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
            if errors:
                raise errors[0]

        async def boot(device_id: str) -> None:
            async with gate:
                if failures:
                    return
                device_stack = AsyncExitStack()
                device_stacks.append(device_stack)
                try:
                    await self._start_device(device_stack, device_id)
                except Exception as e:
                    failures.append(e)

        stack.push_async_callback(stop_devices)
        await asyncio.gather(*(boot(device_id) for device_id in self.device_ids))
        if failures:
            if len(failures) > 1:
                failures[0].add_note(f"({len(failures) - 1} more board(s) failed to boot as well)")
            raise failures[0]
        if self._ot2_twin is not None:
            await self._connect_ot2(stack, self._ot2_twin)
        if self._ot2_robot_api_twin is not None:
            await self._ot2_robot_api_twin.wait_ready()

    async def _compose_firmware(self) -> None:
        """Each board's firmware as one directory: an overlay laid over its firmware, compiled to its mpy
        form where the board boots that; the composed directories live in the work dir."""
        assert self.work_dir is not None
        work_dir = self.work_dir
        composed: dict[tuple[Path, Path | None, bool], Path] = {}

        async def boot_dir(firmware: Path, overlay: Path | None, mpy: bool = False) -> Path:
            if overlay is None and not mpy:
                return firmware
            key = (firmware, overlay, mpy)
            if key not in composed:
                target = work_dir / ("firmware" if not composed else f"firmware-{len(composed) + 1}")
                shutil.rmtree(target, ignore_errors=True)
                shutil.rmtree(target.with_name(target.name + "-mpy"), ignore_errors=True)
                source = firmware
                if overlay is not None:
                    copy_firmware(firmware, target, overlay)
                    source = target
                if mpy:
                    source = await compile_firmware_or_fail(source, target.with_name(target.name + "-mpy"))
                composed[key] = source
            return composed[key]

        # The boards boot, and the run validates, what they boot: the overlay laid over the firmware.
        self.firmware_dir = await boot_dir(self.options.firmware_dir, self.options.firmware_overlay)
        for device_id in self.device_ids:
            setup = self.options.boards.get(device_id)
            self._firmware[device_id] = await boot_dir(*self.options.firmware_of(device_id),
                                                       mpy=setup is not None and setup.mpy)

    def firmware_dir_of(self, device_id: str) -> Path:
        """The firmware directory ``device_id`` boots (composed from an overlay when it has one)."""
        if device_id not in self.device_ids:
            raise ConfigError(f"no device {device_id!r} in this lab; devices: {self.device_ids}")
        return self._firmware.get(device_id, self.options.firmware_of(device_id)[0])

    def _output_of(self, device_id: str) -> Callable[[str], None] | None:
        """The lab's on_output callback, bound to one device."""
        on_output = self.options.on_output
        return (lambda line: on_output(device_id, line)) if on_output else None

    async def _spawn_ot2(self, stack: AsyncExitStack) -> None:
        assert self.work_dir is not None
        twin = Ot2TaskServer(work_dir=self.work_dir / OT2_DEVICE_ID, device_id=OT2_DEVICE_ID,
                             on_output=self._output_of(OT2_DEVICE_ID))
        stack.push_async_callback(twin.stop)
        await twin.spawn()
        self._ot2_twin = twin

    async def _spawn_ot2_robot_api(self, stack: AsyncExitStack) -> None:
        from labtwin.twin.ot2.robot_api_twin import Ot2RobotApiServer  # httpx: only labs with the robot API

        assert self.work_dir is not None
        twin = Ot2RobotApiServer(work_dir=self.work_dir / OT2_ROBOT_API_DEVICE_ID, device_id=OT2_ROBOT_API_DEVICE_ID,
                                 delay_speedup=self.options.ot2_robot_api_delay_speedup,
                                 on_output=self._output_of(OT2_ROBOT_API_DEVICE_ID))
        stack.push_async_callback(twin.stop)
        await twin.spawn()
        self._ot2_robot_api_twin = twin

    async def _connect_ot2(self, stack: AsyncExitStack, twin: Ot2TaskServer) -> None:
        from labtwin.orchestrator.http_client import AsyncHTTPOrchestratorClient  # httpx: only labs with an OT-2

        url = await twin.wait_ready()
        client = AsyncHTTPOrchestratorClient(url, twin.auth_token, timeout=self.timeout, device_id=OT2_DEVICE_ID)
        await stack.enter_async_context(client)
        self._ot2_client = client

    async def _start_broker(self, stack: AsyncExitStack) -> None:
        assert self.work_dir is not None
        if isinstance(self.options.broker, BrokerAddress):
            self.broker_address = self.options.broker
            return
        # Per-lab generated credentials: with authentication on, amqtt also keeps sessions properly.
        users = {ORCHESTRATOR_USER: secrets.token_urlsafe(16)}
        users.update({device_id: secrets.token_urlsafe(16) for device_id in self.device_ids})
        self._credentials = users
        # Each board may only read its own commands and write its own result and status
        # (amqtt enforces less than mosquitto: docs/security.md).
        acl = DeviceAcl(prefix=self.topic_prefix, orchestrators=(ORCHESTRATOR_USER,))
        if self.options.broker == "mosquitto":
            self.broker = MosquittoBroker(work_dir=self.work_dir / "mosquitto", users=users, acl=acl,
                                          persistence=self.options.broker_persistence)
        else:
            self.broker = AmqttBroker(users=users, acl=acl)
        await stack.enter_async_context(self.broker)
        self.broker_address = BrokerAddress(
            self.broker.host, self.broker.port, ORCHESTRATOR_USER, users[ORCHESTRATOR_USER])

    def _device_config(self, device_id: str, mqtt_host: str, mqtt_port: int) -> dict[str, object]:
        """The board's device.json: it reaches the broker at ``mqtt_host:mqtt_port`` (maybe its network twin)."""
        assert self.broker_address is not None
        setup = self.options.boards.get(device_id)
        if self.broker is None and setup is not None and setup.login is not None:  # its own user (a lab worker)
            login = BrokerAddress(mqtt_host, mqtt_port, *setup.login)
        elif self.broker is None:  # an external broker: the boards log in as the lab does
            login = BrokerAddress(mqtt_host, mqtt_port, self.broker_address.username, self.broker_address.password)
        else:  # each board has its own user, confined to its own topics by the broker's ACL
            login = BrokerAddress(mqtt_host, mqtt_port, device_id, self._credentials[device_id])
        return device_config(device_id=device_id, board=self.options.profile_of(device_id).name, broker=login,
                             topic_prefix=self.topic_prefix, wifi=self.wifi_credentials,
                             settings=setup.settings if setup is not None else None)

    async def _start_device(self, stack: AsyncExitStack, device_id: str) -> None:
        assert self.work_dir is not None and self.broker_address is not None
        on_hazard = self.options.on_hazard
        mqtt_host, mqtt_port = self.broker_address.host, self.broker_address.port
        setup = self.options.boards.get(device_id)
        # Seeds by position, whatever order boards boot in (a worker's boards keep their lab's seeds).
        seed = setup.seed if setup is not None and setup.seed is not None else \
            self.seed + self.device_ids.index(device_id)
        if self.options.network_twin:
            # The device reaches the broker only through its own network twin, where faults act.
            link = NetworkTwin(mqtt_host, mqtt_port, name=device_id, clock=self.clock,
                               seed=seed, host=self.options.host)
            await stack.enter_async_context(link)
            self._links[device_id] = link
            mqtt_host, mqtt_port = link.host, link.port
        board = SimulatedBoard(
            device_id=device_id,
            profile=self.options.profile_of(device_id),
            firmware_dir=self.firmware_dir_of(device_id),
            device_config=self._device_config(device_id, mqtt_host, mqtt_port),
            work_dir=self.work_dir / device_id,
            seed=seed,
            clock=self.clock,
            on_output=self._output_of(device_id),
            on_hazard=functools.partial(on_hazard, device_id) if on_hazard else None,
            wifi_ssid=LAB_WIFI_SSID,
            wifi_password=self._wifi_password,
            console=self.options.consoles,
            console_host=self.options.host,
        )
        if self._wire_board is not None:
            self._wire_board(device_id, board.model)
        else:
            self.options.wiring(board.model)
        if not self.options.orchestrator_clients:  # a lab worker: the lab process holds the clients
            await stack.enter_async_context(board)
            self._boards[device_id] = board
            return
        await self._connect_client(stack, device_id)  # first, so it sees the device come online
        await stack.enter_async_context(board)  # stopped before its client (exit order)
        self._boards[device_id] = board
        await self.wait_online(device_id)

    async def _connect_client(self, stack: AsyncExitStack, device_id: str) -> AsyncMQTTOrchestratorClient:
        assert self.broker_address is not None
        client = AsyncMQTTOrchestratorClient(
            self.broker_address.host, device_id, self.broker_address.port, timeout=self.timeout,
            topic_prefix=self.topic_prefix, username=self.broker_address.username,
            password=self.broker_address.password)
        await stack.enter_async_context(client)
        self._clients[device_id] = client
        return client

    async def _start_in_workers(self, stack: AsyncExitStack) -> None:
        """``workers`` > 1: every board's client here, the boards in the worker processes (lab_workers.py)."""
        from labtwin.scenarios.labs.lab_workers import LabWorkers

        assert self.broker is not None and self.work_dir is not None
        gate = asyncio.Semaphore(self.boot_concurrency * 4)

        async def connect(device_id: str) -> None:
            async with gate:
                await self._connect_client(stack, device_id)

        async with asyncio.TaskGroup() as group:  # one failing cancels the others
            for device_id in self.device_ids:
                group.create_task(connect(device_id))
        workers = LabWorkers(self.options, broker=(self.broker.host, self.broker.port),
                             passwords={d: self._credentials[d] for d in self.device_ids}, work_dir=self.work_dir)
        stack.push_async_callback(workers.stop)
        await workers.start()
        self._workers = workers
        # The workers have started their boards; connecting them all to the broker is what is left.
        limit = self.boot_timeout * max(1.0, len(self.device_ids) / (self.boot_concurrency * self.options.workers))
        online = asyncio.ensure_future(asyncio.gather(
            *(self._clients[d].wait_for_status("online", timeout=limit) for d in self.device_ids)))
        ended = asyncio.ensure_future(workers.ended())
        either: set[asyncio.Future[Any]] = {online, ended}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in (online, ended):
                waiting.cancel()
            await asyncio.gather(online, ended, return_exceptions=True)
        if ended.done() and not ended.cancelled():
            k = ended.result()
            raise LabtwinError(f"lab worker {k} ended while its boards booted; see {self.work_dir}/worker-{k}.log")
        if online.exception() is not None:
            raise LabtwinError(f"not every board came online within {limit:g} s of the workers starting them "
                               f"({online.exception()}); see {self.work_dir}/worker-*.log") from None

    async def wait_online(self, device_id: str, timeout: float | None = None) -> None:
        """Wait until the device's retained status is online; BoardCrashed if its firmware dies first."""
        board, client = self.board(device_id), self.client(device_id)
        # The boot timeout bounds real start-up work (the VM's CPU time counts N times at speed N).
        limit = self.boot_timeout * speed_factor(self.clock) if timeout is None else timeout
        online = asyncio.create_task(client.wait_for_status("online", timeout=limit))
        died = asyncio.create_task(board.exited.wait())
        try:
            done, _ = await asyncio.wait({online, died}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (online, died):
                task.cancel()
            await asyncio.gather(online, died, return_exceptions=True)
        if online in done and not online.cancelled() and online.exception() is None:
            return
        if died in done:
            raise BoardCrashed(device_id, board.returncode, list(board.log_lines))
        raise DeviceOffline(device_id, f"not online {limit:g} s after boot; see its log at {board.log_path}")


def _capabilities(*, ot2_robot_api: bool) -> frozenset[Capability]:
    return (TWIN_CAPABILITIES | {OT2_ROBOT_API_CAPABILITY}) if ot2_robot_api else TWIN_CAPABILITIES


BOARD_OPTIONS = frozenset({"devices", "board", "boards", "firmware_dir", "firmware_overlay", "wiring", "lab_wiring"})
"""The options that say which boards a lab has and what runs on them (a lab file's to decide)."""


def twin_lab_factory(options: TwinLabOptions | None = None, /, *, file_decides_boards: bool = False,
                     **overrides: Unpack[TwinLabKeywords]) -> LabFactory:
    """Labs for scenario runs: a fresh TwinLab per example, the scenario's ``lab_options`` over these options.

    ``options`` and ``overrides`` combine as in TwinLab() and are checked now, before any run. The
    factory offers OT2_ROBOT_API_CAPABILITY when they ask for ``ot2_robot_api=True``. With
    ``file_decides_boards`` (a lab built from a lab file) a scenario's options about the boards
    (:data:`BOARD_OPTIONS`) are left out: the file's boards, firmware and parts are the lab.
    """
    if options is None:
        options = TwinLabOptions(**overrides)
    elif overrides:
        options = options.replace(**overrides)
    base = options

    async def open_lab(scenario_options: Mapping[str, object]) -> TwinLab:
        wanted = twin_lab_keywords(scenario_options)
        if file_decides_boards:
            wanted = cast(TwinLabKeywords, {k: v for k, v in wanted.items() if k not in BOARD_OPTIONS})
        lab = TwinLab(base.replace(**wanted))
        await lab.__aenter__()
        return lab

    async def close_lab(lab: Lab) -> None:
        await lab.__aexit__(None, None, None)

    devices = base.devices
    firmware = {base.firmware_of(device_id) for device_id in devices}
    firmware_dir, overlay = firmware.pop() if len(firmware) == 1 else (None, None)  # the run record's one hash
    return LabFactory(open_lab, close_lab, _capabilities(ot2_robot_api=base.ot2_robot_api), firmware_dir, overlay,
                      base.speed)


if TYPE_CHECKING:  # the declared interfaces, checked by mypy (tests/test_static_checks.py)
    _IMPLEMENTS: type[TwinHardware] = TwinLab
