"""Fixtures for the fault tests: a loopback broker and a network twin in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from labtwin.twin.brokers import AmqttBroker
from labtwin.twin.network.network_twin import NetworkTwin


@pytest.fixture
async def broker() -> AsyncIterator[AmqttBroker]:
    """An anonymous embedded broker on an ephemeral loopback port."""
    async with AmqttBroker() as running:
        yield running


@pytest.fixture
async def link(broker: AmqttBroker) -> AsyncIterator[NetworkTwin]:
    """A network twin between a device and ``broker``."""
    async with NetworkTwin(broker.host, broker.port, name="dev-1", seed=1) as running:
        yield running
