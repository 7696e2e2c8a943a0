"""The dashboard serves the same AsyncAPI 3.0 document `labtwin docs` writes, valid against the official schema."""

from __future__ import annotations

import httpx
from jsonschema import Draft7Validator

from labtwin.dashboard.live_lab import LiveLab
from labtwin.dashboard.server import DashboardServer
from labtwin.scenarios.labs.twin_lab import TwinLab

DEVICE = "pico-w-lab-001"


async def test_the_dashboards_asyncapi_document_is_valid_and_names_the_boards_tasks(
        validator: Draft7Validator) -> None:
    async with (TwinLab(devices=[DEVICE], topic_prefix="lab9") as lab,
                DashboardServer(LiveLab(lab, topic_prefix=lab.topic_prefix)) as server,
                httpx.AsyncClient(timeout=10) as client):
        assert server.url is not None
        async with client.stream("GET", server.url + "api/events") as events:
            async for line in events.aiter_lines():  # until a frame shows the board's catalogue
                if '"tasks":["control_led"' in line:
                    break
        document = (await client.get(server.url + "api/docs/asyncapi.json")).json()
        missing = await client.get(server.url + "api/docs/openapi-ot2.json")
    assert validator.is_valid(document), list(validator.iter_errors(document))[:3]
    assert f"lab9/{DEVICE}/command" in {channel["address"] for channel in document["channels"].values()}
    assert missing.status_code == 404 and "no OT-2 task server" in missing.json()["detail"]
