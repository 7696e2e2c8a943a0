"""A twin lab per test, on each broker: embedded amqtt always, Mosquitto when installed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from testkit import BROKERS

from labtwin.scenarios.labs.twin_lab import TwinLab


@pytest.fixture(params=BROKERS)
async def lab(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[TwinLab]:
    async with TwinLab(broker=request.param, work_dir=tmp_path / "lab", timeout=5.0) as running:
        yield running
