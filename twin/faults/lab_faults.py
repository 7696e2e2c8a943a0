"""Faults a twin lab can inject: each one an object with a start, a clear, and a record.

Scenarios interleave faults with orchestrator actions (Hypothesis state
machines start and clear them in any order), and reports shade each fault's
active ``windows`` on plots of the traces. So every fault:

- has a ``name`` (its kind), a ``target`` (a device id, or ``"broker"``) and a
  one-line :meth:`~Fault.describe`;
- records ``windows``, ``(start, clear)`` pairs in the lab clock's time, the
  clear being None while the fault is active;
- treats ``start()`` of an active fault and ``clear()`` of an inactive one as
  no-ops, never errors, so shrinking a failing example stays safe;
- composes with other faults on the same target: network controls are held per
  fault (see :class:`~labtwin.twin.network.network_twin.NetworkTwin`) and sensor faults stack
  per ADC channel (see :mod:`labtwin.twin.faults.sensor_faults`), so clearing one fault never
  undoes another that is still active.

docs/faults.md says what each fault does on the wire or the board, and what the
bench equivalent is. The base class is :class:`labtwin.twin.faults.fault.Fault`; sensor faults
live in :mod:`labtwin.twin.faults.sensor_faults`; both are re-exported here.
"""

from __future__ import annotations

from typing import Protocol

from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.clock import Clock, WallClock
from labtwin.twin.faults.fault import Fault
from labtwin.twin.faults.sensor_faults import SensorDisconnected, SensorDrift, SensorOutOfRange, SensorStuck
from labtwin.twin.models.wifi import WifiModel
from labtwin.twin.network.network_twin import TO_DEVICE, NetworkTwin

__all__ = [
    "BrokerOutage",
    "BrownOut",
    "DuplicateCommands",
    "Fault",
    "Latency",
    "LinkDrop",
    "Partition",
    "PowerCut",
    "SensorDisconnected",
    "SensorDrift",
    "SensorOutOfRange",
    "SensorStuck",
    "StoppableBroker",
    "WifiLoss",
]

BROKER_TARGET = "broker"


# --------------------------------------------------------------------- network link faults
class Latency(Fault):
    """Every packet on the device's link is delayed ``delay_s`` ± ``jitter_s``, each way."""

    def __init__(self, link: NetworkTwin, delay_s: float, jitter_s: float = 0.0, *,
                 clock: Clock | None = None) -> None:
        if delay_s < 0 or jitter_s < 0:
            raise ValueError(f"latency needs delay_s >= 0 and jitter_s >= 0, got {delay_s}, {jitter_s}")
        super().__init__(link.name, clock or link.clock)
        self.link = link
        self.delay_s = delay_s
        self.jitter_s = jitter_s

    async def _apply(self) -> None:
        self.link.set_latency(self.delay_s, self.jitter_s, reason=self)

    async def _revert(self) -> None:
        self.link.set_latency(0.0, 0.0, reason=self)

    def _effect(self) -> str:
        jitter = f" ± {self.jitter_s * 1000:g} ms" if self.jitter_s else ""
        return f"+{self.delay_s * 1000:g} ms{jitter} each way"


class LinkDrop(Fault):
    """The device's connections are reset now, and reconnects are refused until clear."""

    def __init__(self, link: NetworkTwin, *, clock: Clock | None = None) -> None:
        super().__init__(link.name, clock or link.clock)
        self.link = link

    async def _apply(self) -> None:
        # Refuse first: the device's immediate reconnect must not slip in between.
        self.link.refuse_connections(True, reason=self)
        await self.link.drop_connections()

    async def _revert(self) -> None:
        self.link.refuse_connections(False, reason=self)

    def _effect(self) -> str:
        return "connections reset, reconnects refused"


class Partition(Fault):
    """Traffic between the device and the broker vanishes both ways; sockets stay open."""

    def __init__(self, link: NetworkTwin, *, clock: Clock | None = None) -> None:
        super().__init__(link.name, clock or link.clock)
        self.link = link

    async def _apply(self) -> None:
        self.link.black_hole(True, reason=self)

    async def _revert(self) -> None:
        self.link.black_hole(False, reason=self)

    def _effect(self) -> str:
        return "traffic black-holed both ways (only keepalives notice)"


class DuplicateCommands(Fault):
    """QoS 1 PUBLISHes towards the device arrive twice (the copy with DUP=1), with ``probability``."""

    def __init__(self, link: NetworkTwin, probability: float = 1.0, *, clock: Clock | None = None) -> None:
        if not 0.0 < probability <= 1.0:
            raise ValueError(f"probability must be within (0, 1], got {probability}")
        super().__init__(link.name, clock or link.clock)
        self.link = link
        self.probability = probability

    async def _apply(self) -> None:
        self.link.duplicate_publishes(TO_DEVICE, self.probability, reason=self)

    async def _revert(self) -> None:
        self.link.duplicate_publishes(TO_DEVICE, 0.0, reason=self)

    def _effect(self) -> str:
        return f"QoS 1 PUBLISHes to the device delivered twice (p={self.probability:g})"


# --------------------------------------------------------------------- broker
class StoppableBroker(Protocol):
    """What :class:`BrokerOutage` needs: a broker that stops, and starts again on the same port."""

    port: int

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class BrokerOutage(Fault):
    """The broker stops (every client loses it); clear starts it again on the same port.

    Retained messages and sessions survive only if the broker persists them
    (the twin's brokers do not): devices re-announce their status on reconnect.

    Args:
        broker: the lab's broker (:class:`~labtwin.twin.brokers.AmqttBroker` or
            :class:`~labtwin.twin.brokers.MosquittoBroker`).
        clock: the lab clock; pass the lab's, or windows count from this fault's creation.
    """

    def __init__(self, broker: StoppableBroker, *, clock: Clock | None = None) -> None:
        super().__init__(BROKER_TARGET, clock or WallClock())
        self.broker = broker

    async def _apply(self) -> None:
        await self.broker.stop()

    async def _revert(self) -> None:
        await self.broker.start()

    def _effect(self) -> str:
        return f"broker stopped (port {self.broker.port})"


# --------------------------------------------------------------------- boards
class PowerCut(Fault):
    """The board loses power: its VM is killed at once (no cleanup); clear boots it again."""

    def __init__(self, board: SimulatedBoard, *, clock: Clock | None = None) -> None:
        super().__init__(board.device_id, clock or board.model.clock)
        self.board = board

    async def _apply(self) -> None:
        await self.board.power_cut()

    async def _revert(self) -> None:
        await self.board.start()

    def _effect(self) -> str:
        return "power removed (VM killed, no cleanup)"


class BrownOut(Fault):
    """A supply dip resets the board now, mid-task if one runs: kill and boot at once (one-shot).

    A board that is not running (powered off, crashed) is left as it is: the
    window is still recorded, as the dip happened.
    """

    one_shot = True

    def __init__(self, board: SimulatedBoard, *, clock: Clock | None = None) -> None:
        super().__init__(board.device_id, clock or board.model.clock)
        self.board = board

    async def _apply(self) -> None:
        if self.board.running:
            await self.board.reboot()

    async def _revert(self) -> None:
        raise AssertionError("a one-shot fault is never active, so it is never reverted")

    def _effect(self) -> str:
        return "reset by a supply dip (kill + immediate boot)"


class WifiLoss(Fault):
    """The lab's access point vanishes for this board: WLAN drops, and so does its TCP.

    While active, ``network.WLAN.isconnected()`` is False, joins fail with
    ``STAT_NO_AP_FOUND``, the link's connections are reset and new ones refused
    (a board's sockets die with its WiFi). On clear the access point returns,
    and the link keeps refusing until the firmware has rejoined WiFi itself.
    """

    def __init__(self, board: SimulatedBoard, link: NetworkTwin, *, clock: Clock | None = None) -> None:
        if board.model.wifi is None:
            raise ValueError(f"board {board.device_id!r} ({board.profile.name}) has no WiFi to lose")
        super().__init__(board.device_id, clock or board.model.clock)
        self.board = board
        self.link = link
        self.wifi: WifiModel = board.model.wifi

    async def _apply(self) -> None:
        self.wifi.lose_access_point()
        self.link.refuse_connections(True, reason=self)
        await self.link.drop_connections()

    async def _revert(self) -> None:
        self.wifi.restore_access_point()
        self.link.refuse_connections(True, reason=self, until=self.wifi.isconnected)

    def _effect(self) -> str:
        return "access point gone: WLAN down, TCP connections reset and refused"
