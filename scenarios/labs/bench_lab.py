"""A lab made of real equipment (or of a twin lab in another process), reached only through the wire.

:class:`BenchLab` reads a lab file (:mod:`labtwin.scenarios.labs.lab_file`) and connects the orchestrator's
clients: one MQTT client per board, the OT-2 task server's HTTP client if the file names one.
It starts nothing and simulates nothing, so it offers none of the twin-only capabilities
(``faults``, ``hardware``) and has no twin accessors (it is a :class:`~labtwin.scenarios.labs.lab.Lab`,
not a :class:`~labtwin.scenarios.labs.lab.TwinHardware`): property scenarios skip the rules that
need them and list them in their report, and ``twin_hardware(bench)`` is a ConfigError that says so.
The same scenario file serves both labs.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from labtwin.errors import BrokerUnavailable, ConfigError
from labtwin.orchestrator.mqtt_client import AsyncMQTTOrchestratorClient
from labtwin.scenarios.engine.runner import LabFactory
from labtwin.scenarios.labs.broker_url import BrokerAddress
from labtwin.scenarios.labs.lab import Capability, Lab
from labtwin.scenarios.labs.lab_file import LabConfig
from labtwin.twin.clock import WallClock

if TYPE_CHECKING:
    from labtwin.orchestrator.http_client import AsyncHTTPOrchestratorClient

__all__ = ["BENCH_CAPABILITIES", "BenchLab", "bench_lab_factory"]

BENCH_CAPABILITIES: frozenset[Capability] = frozenset()
"""A bench offers no twin-only capability: no injected faults, no look inside the hardware."""


class BenchLab:
    """The boards and OT-2 a lab file describes, with connected orchestrator clients (a Lab).

    Args:
        config: the parsed lab file.
        timeout: seconds a task call waits for its result.
    """

    def __init__(self, config: LabConfig, *, timeout: float = 10.0) -> None:
        self.config = config
        self.timeout = timeout
        self.clock = WallClock()
        self.broker_address: BrokerAddress | None = None
        self._clients: dict[str, AsyncMQTTOrchestratorClient] = {}
        self._ot2_client: AsyncHTTPOrchestratorClient | None = None
        self._stack: AsyncExitStack | None = None

    @property
    def device_ids(self) -> list[str]:
        """The boards' device ids, in the lab file's order."""
        return self.config.device_ids

    @property
    def capabilities(self) -> frozenset[Capability]:
        """None of the twin-only capabilities."""
        return BENCH_CAPABILITIES

    @property
    def description(self) -> str:
        """``bench lab FILE``, for messages."""
        return f"bench lab {self.config.source}"

    @property
    def ot2_url(self) -> str | None:
        """The OT-2 task server's URL, if the lab file names one."""
        return self.config.ot2.task_server_url if self.config.ot2 else None

    @property
    def ot2_robot_api_url(self) -> str | None:
        """The OT-2 robot API's URL, if the lab file names one."""
        return self.config.ot2.robot_api_url if self.config.ot2 else None

    def client(self, device_id: str) -> AsyncMQTTOrchestratorClient:
        """The connected orchestrator client of a board."""
        try:
            return self._clients[device_id]
        except KeyError:
            raise ConfigError(f"no device {device_id!r} in this lab; devices: {self.device_ids}") from None

    def ot2_client(self) -> AsyncHTTPOrchestratorClient:
        """The connected client of the OT-2 task server."""
        if self._ot2_client is None:
            raise ConfigError(f"{self.config.source} names no OT-2 task server: add [ot2] task_server_url")
        return self._ot2_client

    async def __aenter__(self) -> BenchLab:
        stack = AsyncExitStack()
        try:
            address = self.config.broker_address()
            for device_id in self.device_ids:
                client = AsyncMQTTOrchestratorClient(
                    address.host, device_id, address.port, timeout=self.timeout,
                    topic_prefix=self.config.topic_prefix, username=address.username, password=address.password)
                try:
                    await stack.enter_async_context(client)
                except BrokerUnavailable as exc:
                    unset = [name for name in (self.config.username_env, self.config.password_env)
                             if not self.config.environ.get(name)]
                    if unset and "authoriz" in str(exc).lower():
                        raise BrokerUnavailable(f"{exc} (${' and $'.join(unset)} not set: the broker's credentials "
                                                "come from the variables the lab file names)") from None
                    raise
                self._clients[device_id] = client
            if self.ot2_url is not None:
                from labtwin.orchestrator.http_client import AsyncHTTPOrchestratorClient  # httpx only when needed

                ot2 = AsyncHTTPOrchestratorClient(self.ot2_url, self.config.ot2_token(), timeout=self.timeout,
                                                  device_id="ot2")
                await stack.enter_async_context(ot2)
                self._ot2_client = ot2
        except BaseException:
            await stack.aclose()
            self._clients.clear()
            raise
        self.broker_address = address
        self._stack = stack
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        stack, self._stack = self._stack, None
        self._clients.clear()
        self._ot2_client = None
        if stack is not None:
            await stack.aclose()


def bench_lab_factory(config: LabConfig, *, timeout: float = 10.0) -> LabFactory:
    """Labs for scenario runs on a bench: one BenchLab per example (scenario lab options are ignored:
    a bench is what it is)."""

    async def open_lab(_scenario_options: Mapping[str, object]) -> BenchLab:
        lab = BenchLab(config, timeout=timeout)
        await lab.__aenter__()
        return lab

    async def close_lab(lab: Lab) -> None:
        await lab.__aexit__(None, None, None)

    return LabFactory(open_lab, close_lab, BENCH_CAPABILITIES, firmware_dir=None)


if TYPE_CHECKING:  # the declared interface, checked by mypy (tests/test_static_checks.py)
    _IMPLEMENTS: type[Lab] = BenchLab
