"""Fixtures of the HTTP tests: demo devices, each stopped by the fixture that started it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from http_testkit import Gate, ServedDevice, ThreadedServer, demo_registry

from labtwin.orchestrator.device_server import DeviceServer


def _serve_demo(gate: Gate) -> Iterator[ServedDevice]:
    token = secrets.token_urlsafe(16)
    try:
        with ThreadedServer(DeviceServer(demo_registry(gate), auth_token=token)) as served:
            yield ServedDevice(served.url, token, gate)
            gate.release.set()  # a blocked worker thread would hold up the server's shutdown
    finally:
        gate.release.set()


@pytest.fixture(scope="module")
def device() -> Iterator[ServedDevice]:
    """The demo device with a token, shared by a module's tests that leave no state behind."""
    yield from _serve_demo(Gate())


@pytest.fixture
def gate() -> Iterator[Gate]:
    gate = Gate()
    yield gate
    gate.release.set()  # never leave a worker thread blocked after a failed test


@pytest.fixture
def fresh_device(gate: Gate) -> Iterator[ServedDevice]:
    """A demo device of its own, for tests that hold its worker thread."""
    yield from _serve_demo(gate)
