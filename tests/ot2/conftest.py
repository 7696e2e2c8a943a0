"""One OT-2 twin per test module (its start-up imports opentrons, ~1 s), reset between tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from labtwin.orchestrator.http_client import AsyncHTTPOrchestratorClient
from labtwin.twin.ot2.task_twin import Ot2TaskServer

FULL_RESERVOIR_UL = {"red": 12_000.0, "yellow": 12_000.0, "blue": 12_000.0, "water": 12_000.0}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ot2_twin(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Ot2TaskServer]:
    work_dir: Path = tmp_path_factory.mktemp("ot2")
    async with Ot2TaskServer(work_dir=work_dir) as twin:
        yield twin


@pytest_asyncio.fixture(loop_scope="module")
async def ot2(ot2_twin: Ot2TaskServer) -> AsyncIterator[AsyncHTTPOrchestratorClient]:
    """A client of the module's twin, whose deck a person has just set up afresh."""
    assert ot2_twin.url is not None
    async with AsyncHTTPOrchestratorClient(ot2_twin.url, ot2_twin.auth_token, timeout=10.0,
                                           device_id="ot2") as client:
        await client.execute_task("reset_deck", plate=True, tips=True, reservoir_ul=FULL_RESERVOIR_UL)
        yield client
