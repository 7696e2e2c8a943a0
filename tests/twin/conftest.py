"""Fixtures for the twin tests: a manual clock, a powered Pico W model, its hardware bus."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from testkit import ManualClock
from twin_testkit import LAB_PASSWORD, LAB_SSID

from labtwin.twin.board.bus import HardwareBus
from labtwin.twin.board.model import BoardModel
from labtwin.twin.board.profiles import PICO_W


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def model() -> BoardModel:
    """A powered Pico W model on the wall clock (for VM tests)."""
    m = BoardModel(PICO_W, seed=7, wifi_ssid=LAB_SSID, wifi_password=LAB_PASSWORD, association_delay=0.05)
    m.power_on()
    return m


@pytest.fixture
async def bus(model: BoardModel) -> AsyncIterator[HardwareBus]:
    async with HardwareBus(model) as b:
        yield b
