"""Helpers of the HTTP tests: demo task apps, and a DeviceServer served from a background thread.

The server runs in its own thread and event loop, so blocking (sync) clients and async tests
can both talk to it.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field

from labtwin.errors import TaskRefused
from labtwin.orchestrator.device_server import DeviceServer
from labtwin.orchestrator.http_tasks import TaskRegistry

START_TIMEOUT_S = 10.0
Bounded = Annotated[float, Field(ge=-1e150, le=1e150)]


@dataclass
class Gate:
    """Holds ``hold`` calls inside the device until released; records the order they ran in."""

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    order: list[str] = field(default_factory=list)


def well_behaved_registry() -> TaskRegistry:
    """Tasks that answer any valid input without a server error (for schema fuzzing)."""
    tasks = TaskRegistry()

    @tasks.task
    def add(a: int, b: int = 2) -> int:
        """Add two integers."""
        return a + b

    @tasks.task(name="greet")
    def make_greeting(name: str, excited: bool = False) -> str:
        """Greet someone."""
        return f"hello {name}" + ("!" if excited else "")

    @tasks.task()
    def scale(values: list[Bounded], factor: Bounded = 1.0, label: str | None = None) -> dict[str, Any]:
        """Scale a list of numbers (bounded, so the product stays finite)."""
        return {"values": [v * factor for v in values], "label": label}

    @tasks.task
    def status() -> dict[str, int]:
        """A task without parameters."""
        return {"uptime_s": 42}

    @tasks.task
    def paint(litres: float) -> float:
        """Refuses work it cannot do, with its own error code."""
        raise TaskRefused("out_of_paint", f"{litres:g} l requested, the can is empty")

    @tasks.task
    async def echo(text: str) -> str:
        """An async task."""
        return text

    return tasks


def demo_registry(gate: Gate) -> TaskRegistry:
    """The well-behaved tasks plus one that raises and one that blocks on ``gate``."""
    tasks = well_behaved_registry()

    @tasks.task
    def overflow(factor: float) -> list[float]:
        """Returns an infinity for a factor over about 1.8: a result JSON cannot carry."""
        return [1e308 * factor]

    @tasks.task
    def explode() -> None:
        """Raises an unexpected exception."""
        raise ValueError("the flux capacitor melted")

    @tasks.task
    def hold(label: str) -> str:
        """Blocks (in the worker thread) until the test releases the gate."""
        gate.order.append(label)
        gate.entered.set()
        if not gate.release.wait(START_TIMEOUT_S):
            raise TimeoutError("the test never released the gate")
        return label

    return tasks


class ThreadedServer:
    """Runs ``server.running()`` in a background thread's event loop; ``url`` while inside ``with``."""

    def __init__(self, server: DeviceServer) -> None:
        self.server = server
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-device-server", daemon=True)
        self._running: AbstractAsyncContextManager[str] = server.running()

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        try:
            self.url = asyncio.run_coroutine_threadsafe(self._running.__aenter__(), self._loop).result(START_TIMEOUT_S)
        except BaseException:
            self._stop_loop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._running.__aexit__(None, None, None),
                                             self._loop).result(START_TIMEOUT_S)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


@dataclass
class ServedDevice:
    """A running demo device: where it is and how to authenticate."""

    url: str
    token: str
    gate: Gate

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}
