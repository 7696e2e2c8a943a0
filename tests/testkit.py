"""What every test folder shares: the brokers a case runs on, a manual lab clock, waiting for a condition,
an MQTT client of a twin lab's broker.

The test folders are not packages; pytest puts this folder on ``sys.path`` (it holds the root
conftest.py), so any test module imports these as ``from testkit import ...``.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiomqtt
import pytest

from labtwin.twin.brokers import mosquitto_available

if TYPE_CHECKING:
    from labtwin.scenarios.labs.twin_lab import TwinLab
    from labtwin.twin.board.process import SimulatedBoard

__all__ = ["BROKERS", "MOSQUITTO", "MOSQUITTO_MARKS", "ManualClock", "lab_mqtt_client", "needs_mosquitto",
           "wait_until"]

MOSQUITTO_MARKS = [
    pytest.mark.mosquitto,
    pytest.mark.skipif(not mosquitto_available(), reason="Debian's mosquitto is not installed"),
]
"""The marks of a case that needs Debian's mosquitto: selectable with ``-m mosquitto``, skipped without it."""

MOSQUITTO = pytest.param("mosquitto", id="mosquitto", marks=MOSQUITTO_MARKS)
"""The mosquitto case of a broker parameter."""

BROKERS = [pytest.param("amqtt", id="amqtt"), MOSQUITTO]
"""Every broker the twin runs: the embedded amqtt always, mosquitto when it is installed."""

F = TypeVar("F", bound=Callable[..., Any])


def needs_mosquitto(test: F) -> F:
    """Decorate a test that runs on mosquitto only."""
    for mark in reversed(MOSQUITTO_MARKS):
        test = mark(test)
    return test


class ManualClock:
    """A lab clock that moves only when told to; a sleep moves it on at once by that much."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start

    def now(self) -> float:
        """Seconds of lab time so far."""
        return self.t

    def advance(self, seconds: float) -> None:
        """Move the clock on by ``seconds``."""
        self.t += seconds

    async def sleep(self, seconds: float) -> None:
        """Move the clock on by ``seconds`` (never back), without waiting."""
        self.t += max(0.0, seconds)


async def wait_until(condition: Callable[[], bool], what: str, *, timeout: float = 30.0) -> None:
    """Wait until ``condition()`` holds, for state that offers nothing to await; fails after ``timeout`` s.

    Only for a positive condition: the timeout is a deadline against hanging, never the claim.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.01)


def lab_mqtt_client(lab: TwinLab, identifier: str) -> aiomqtt.Client:
    """An aiomqtt client of ``lab``'s broker with the orchestrator's credentials (``async with`` it)."""
    address = lab.broker_address
    assert address is not None
    return aiomqtt.Client(address.host, address.port, identifier=identifier,
                          username=address.username, password=address.password)


def copy_distribution(name: str, flash: Path) -> None:
    """Copy an installed distribution's Python files onto a board's flash, as ``mpremote cp`` would.

    The files keep the paths pip installed them under, so a package stays a package.
    """
    dist = importlib.metadata.distribution(name)
    files = [f for f in dist.files or [] if f.suffix == ".py" and not f.parts[0].endswith(".dist-info")]
    assert files, f"{name} installed no Python files"
    for file in files:
        target = flash / Path(*file.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(str(dist.locate_file(file))), target)


async def values_until_done(board: SimulatedBoard) -> dict[str, str]:
    """Boot ``board``, wait for its firmware to print ``DONE``, stop it; the ``name=value`` lines it printed."""
    async with board:
        await board.wait_for_output("^DONE$", timeout=60)
        lines = list(board.log_lines)
    values = dict(re.findall(r"^(\w+)=(\S+)$", "\n".join(lines), re.MULTILINE))
    assert values, "\n".join(lines)
    return values
