"""Shared fixtures for the MQTT tests: loopback brokers, MicroPython VMs, a peer client."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import aiomqtt
import pytest
from testkit import BROKERS

from labtwin.twin.brokers import AmqttBroker, MosquittoBroker
from labtwin.twin.brokers.base import LoopbackBroker

REPO = Path(__file__).resolve().parents[2]
VM_SCRIPTS = Path(__file__).resolve().parent / "vm_scripts"
VM_HEAP = 180000

BrokerFactory = Callable[..., Awaitable[LoopbackBroker]]


@pytest.fixture
async def make_broker(tmp_path: Path) -> AsyncIterator[BrokerFactory]:
    """Start brokers by kind (``"amqtt"``/``"mosquitto"``); all are stopped at teardown."""
    started: list[LoopbackBroker] = []

    async def make(kind: str, users: Mapping[str, str] | None = None, **kw: object) -> LoopbackBroker:
        broker: LoopbackBroker
        if kind == "amqtt":
            broker = AmqttBroker(users=users, **kw)  # type: ignore[arg-type]
        else:
            broker = MosquittoBroker(work_dir=tmp_path / f"mosquitto{len(started)}", users=users, **kw)  # type: ignore[arg-type]
        started.append(broker)
        await broker.start()
        return broker

    yield make
    for broker in started:
        await broker.stop()


@pytest.fixture(params=BROKERS)
def broker_kind(request: pytest.FixtureRequest) -> str:
    """Each broker the twin supports; mosquitto cases skip when it is not installed."""
    return str(request.param)


@pytest.fixture
async def broker(broker_kind: str, make_broker: BrokerFactory) -> LoopbackBroker:
    """A running anonymous broker of each kind."""
    return await make_broker(broker_kind)


@contextlib.asynccontextmanager
async def _peer(broker: LoopbackBroker, **kw: object) -> AsyncIterator[aiomqtt.Client]:
    """A CPython MQTT client (aiomqtt) connected to ``broker``, for the test's side."""
    async with aiomqtt.Client(broker.host, broker.port, **kw) as client:  # type: ignore[arg-type]
        yield client


async def _next_message(client: aiomqtt.Client, timeout: float = 3.0,
                       match: Callable[[aiomqtt.Message], bool] = lambda m: True) -> aiomqtt.Message:
    """The next message on ``client`` that satisfies ``match``, within ``timeout`` s."""
    async with asyncio.timeout(timeout):
        async for message in client.messages:
            if match(message):
                return message
    raise AssertionError("message stream ended")


@pytest.fixture
def peer() -> Callable[..., contextlib.AbstractAsyncContextManager[aiomqtt.Client]]:
    """``async with peer(broker, **aiomqtt_kwargs) as client``: the test's own MQTT client."""
    return _peer


@pytest.fixture
def next_message() -> Callable[..., Awaitable[aiomqtt.Message]]:
    """``await next_message(client, timeout=3.0, match=...)``: the next matching message."""
    return _next_message


class VM:
    """One MicroPython VM process running a script from vm_scripts/; stdout is parsed by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[tuple[float, str]] = []  # (monotonic arrival time, line)
        self._matched: set[int] = set()
        self._changed = asyncio.Condition()
        self._pump = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            async with self._changed:
                self.lines.append((time.monotonic(), line.decode(errors="replace").rstrip("\n")))
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    async def expect(self, pattern: str, timeout: float = 10.0) -> tuple[float, re.Match[str]]:
        """Wait for the first not yet matched line matching regex ``pattern``.

        Lines are matched in order but not consumed by other patterns, so two
        events that race (a retained message and READY) can be awaited in any
        order. Returns (arrival time, match). ``timeout`` is a deadline against
        hanging, not a claim about how soon the line comes.
        """
        regex = re.compile(pattern)
        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    while True:
                        for i, (t, line) in enumerate(self.lines):
                            if i not in self._matched and (m := regex.search(line)):
                                self._matched.add(i)
                                return t, m
                        if self._pump.done():
                            raise AssertionError(f"VM exited before {pattern!r}; output:\n{self.output()}")
                        await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"no line matching {pattern!r} within {timeout:g} s; output:\n{self.output()}") from None
        raise AssertionError("unreachable")

    async def exited(self, timeout: float = 10.0) -> int:
        """Wait for the VM to exit and its output to be read to the end; its exit code."""
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._pump)
                return await self.proc.wait()
        except TimeoutError:
            raise AssertionError(f"VM still running after {timeout:g} s; output:\n{self.output()}") from None

    def output(self) -> str:
        """Everything the VM printed so far."""
        return "\n".join(line for _, line in self.lines)

    def kill(self) -> None:
        """SIGKILL: the socket is closed by the OS, no DISCONNECT (so the broker sends the will)."""
        if self.proc.returncode is None:
            self.proc.kill()

    async def close(self) -> None:
        """Kill if still running and reap the process and its reader task."""
        self.kill()
        await self.proc.wait()
        await self._pump


VMFactory = Callable[..., Awaitable[VM]]


@pytest.fixture
async def start_vm() -> AsyncIterator[VMFactory]:
    """Start ``vm_scripts/<script>`` in the MicroPython VM with args; all are reaped at teardown."""
    vms: list[VM] = []
    env = dict(os.environ, MICROPYPATH=f"{REPO / 'firmware'}:.frozen")

    async def start(script: str, *args: object) -> VM:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "micropython_unix", "-X", f"heapsize={VM_HEAP}",
            str(VM_SCRIPTS / script), *map(str, args),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=env,
        )
        vm = VM(proc)
        vms.append(vm)
        return vm

    yield start
    for vm in vms:
        await vm.close()
