"""The declared lab interface: what a scenario may ask of any lab, and what only a twin offers.

A scenario receives a :class:`Lab` and never starts processes. Two kinds implement it:
:class:`~labtwin.scenarios.labs.twin_lab.TwinLab` (everything simulated, on loopback) and
:class:`~labtwin.scenarios.labs.bench_lab.BenchLab` (real equipment, reached through the wire).
Both hand out the same orchestrator clients, so a scenario's orchestrator code is the same in both
columns.

A lab also says what else it offers as :class:`Capability` values. The twin-only accessors (a
board's model, its network link, the broker process, the OT-2 twins) are declared by
:class:`TwinHardware` and reached through :func:`twin_hardware`, which checks the capability first::

    if Capability.HARDWARE in lab.capabilities:
        model = twin_hardware(lab).board(device_id).model

On a lab without the capability :func:`twin_hardware` raises a ConfigError that names the lab and
what would offer it; property scenarios mark such rules with ``@needs(Capability.HARDWARE)`` so a
bench skips them and lists them in its report.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

from labtwin.errors import ConfigError

if TYPE_CHECKING:
    from labtwin.orchestrator.http_client import AsyncHTTPOrchestratorClient
    from labtwin.orchestrator.mqtt_client import AsyncMQTTOrchestratorClient
    from labtwin.scenarios.labs.broker_url import BrokerAddress
    from labtwin.twin.board.process import SimulatedBoard
    from labtwin.twin.brokers import AmqttBroker, MosquittoBroker
    from labtwin.twin.clock import Clock
    from labtwin.twin.network.network_twin import NetworkTwin
    from labtwin.twin.ot2.robot_api_twin import Ot2RobotApiServer
    from labtwin.twin.ot2.task_twin import Ot2TaskServer

__all__ = ["Capability", "Lab", "TwinHardware", "twin_hardware"]


class Capability(StrEnum):
    """Something a lab offers beyond its orchestrator clients.

    The values are the strings reports and ``needs(...)`` have always used, and a Capability
    compares equal to its string: ``"hardware" in lab.capabilities`` still works.
    """

    FAULTS = "faults"
    """Faults can be injected: power cuts, brown-outs, network faults, broker outages, stuck sensors."""
    HARDWARE = "hardware"
    """The hardware can be looked into: board models (pins, LED, servo, traces), the OT-2 twin's run log."""
    OT2_ROBOT_API = "ot2_robot_api"
    """The OT-2 robot API twin runs, with its fault controls."""

    @property
    def offered_by(self) -> str:
        """Which lab offers this capability (for error messages)."""
        if self is Capability.OT2_ROBOT_API:
            return "a twin lab built with TwinLab(ot2_robot_api=True)"
        return "a twin lab"


@runtime_checkable
class Lab(Protocol):
    """What every lab offers a scenario: its devices, their orchestrator clients, a clock, capabilities.

    A lab is an async context manager: entering it starts (a twin) or connects to (a bench) what it
    describes, exiting stops or disconnects all of that. The accessors are meant for a lab that has
    been entered.
    """

    @property
    def description(self) -> str:
        """What this lab is, for messages: ``twin lab``, ``bench lab bench.toml``."""
        ...

    @property
    def device_ids(self) -> Sequence[str]:
        """The boards' device ids, in the lab's order (a twin's ``devices``, a bench file's boards)."""
        ...

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What this lab offers beyond its clients (see :func:`twin_hardware` and ``needs``)."""
        ...

    @property
    def clock(self) -> Clock:
        """The lab's clock: steps, traces and faults share its time axis."""
        ...

    @property
    def broker_address(self) -> BrokerAddress | None:
        """The broker the orchestrator clients use, with their credentials; None until the lab is entered."""
        ...

    @property
    def ot2_url(self) -> str | None:
        """Where the OT-2 task server is, or None without one."""
        ...

    @property
    def ot2_robot_api_url(self) -> str | None:
        """Where the OT-2 robot's own HTTP API is, or None without one."""
        ...

    def client(self, device_id: str) -> AsyncMQTTOrchestratorClient:
        """The connected orchestrator client of a board (boards are reached over MQTT in every lab).

        Raises:
            ConfigError: the lab has no such device.
        """
        ...

    def ot2_client(self) -> AsyncHTTPOrchestratorClient:
        """The connected HTTP client of the OT-2 task server.

        Raises:
            ConfigError: the lab has no OT-2 task server.
        """
        ...

    async def __aenter__(self) -> Self:
        """Start or connect everything the lab describes; on failure, undo what was done and raise."""
        ...

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop or disconnect everything the lab started or connected."""
        ...


@runtime_checkable
class TwinHardware(Lab, Protocol):
    """The twin-only accessors of a lab whose hardware is simulated (TwinLab).

    Reach them through :func:`twin_hardware`, which checks the capability they need:
    ``board()`` and ``ot2_twin()`` :attr:`Capability.HARDWARE` (or :attr:`Capability.FAULTS`, to fault
    a board), ``link()`` and ``broker`` :attr:`Capability.FAULTS`, ``ot2_robot_api_twin()``
    :attr:`Capability.OT2_ROBOT_API`.
    """

    @property
    def broker(self) -> AmqttBroker | MosquittoBroker | None:
        """The broker the lab runs (to stop and restart it), or None when it uses an external one."""
        ...

    def board(self, device_id: str) -> SimulatedBoard:
        """The simulated board behind a device: its model, process, console and log."""
        ...

    def link(self, device_id: str) -> NetworkTwin:
        """The network twin between a device and the broker (labs built with ``network_twin=True``)."""
        ...

    def ot2_twin(self) -> Ot2TaskServer:
        """The OT-2 twin behind ``ot2_client()``: its run log, time estimates and logs."""
        ...

    def ot2_robot_api_twin(self) -> Ot2RobotApiServer:
        """The OT-2 robot API twin: its URL, logs and fault controls."""
        ...


def twin_hardware(lab: Lab, capability: Capability = Capability.HARDWARE) -> TwinHardware:
    """``lab``'s twin-only accessors, for code that needs ``capability``.

    Raises:
        ConfigError: ``lab`` does not offer ``capability`` (a bench offers none), or offers it
            without the twin accessors.
    """
    offered = lab.capabilities
    if capability not in offered:
        offers = ", ".join(sorted(c.value for c in offered)) or "none"
        raise ConfigError(f"{lab.description} has no {capability.value!r} capability (it offers: {offers}); "
                          f"this needs {capability.offered_by}")
    if not isinstance(lab, TwinHardware):
        raise ConfigError(f"{lab.description} claims the {capability.value!r} capability but has no twin "
                          f"accessors ({type(lab).__name__} does not implement TwinHardware)")
    return lab
