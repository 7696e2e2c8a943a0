"""The faults a twin lab can inject, by kind and target: what a fault control offers.

The dashboard's fault buttons and the chaos scenario pick from the same menu, so a fault started by a
click is the fault a property run starts: a kind (``partition``, ``power_cut`` ...) on a target (a
device id, or ``broker``). Link faults need the lab's network twin (``TwinLab(network_twin=True)``);
a lab without one offers the board faults only.
"""

from __future__ import annotations

from collections.abc import Callable

from labtwin.errors import ConfigError
from labtwin.scenarios.labs.lab import TwinHardware
from labtwin.twin.faults.fault import Fault
from labtwin.twin.faults.lab_faults import (
    BROKER_TARGET,
    BrokerOutage,
    BrownOut,
    DuplicateCommands,
    Latency,
    LinkDrop,
    Partition,
    PowerCut,
    WifiLoss,
)
from labtwin.twin.faults.sensor_faults import SensorStuck

__all__ = ["BROKER_TARGET", "STUCK_SENSOR_VOLTS", "fault_menu"]

STUCK_SENSOR_VOLTS = 3.0
"""What ``sensor_stuck`` holds ADC channel 0 (GP26) at."""


def fault_menu(lab: TwinHardware, target: str) -> dict[str, Callable[[], Fault]]:
    """Each fault kind ``lab`` can inject on ``target`` (a device id or ``broker``), as a maker of a new fault.

    Raises:
        ConfigError: ``lab`` has no such target.
    """
    clock = lab.clock
    if target == BROKER_TARGET:
        broker = lab.broker
        return {} if broker is None else {"broker_outage": lambda: BrokerOutage(broker, clock=clock)}
    board = lab.board(target)
    makers: dict[str, Callable[[], Fault]] = {
        "power_cut": lambda: PowerCut(board, clock=clock),
        "brown_out": lambda: BrownOut(board, clock=clock),
        "sensor_stuck": lambda: SensorStuck(board.model, 0, STUCK_SENSOR_VOLTS, clock=clock),
    }
    try:
        link = lab.link(target)
    except ConfigError:  # built without a network twin
        return makers
    return {
        "partition": lambda: Partition(link, clock=clock),
        "link_drop": lambda: LinkDrop(link, clock=clock),
        "duplicate_commands": lambda: DuplicateCommands(link, clock=clock),
        "latency": lambda: Latency(link, 0.05, 0.02, clock=clock),
        **makers,
        "wifi_loss": lambda: WifiLoss(board, link, clock=clock),
    }
