"""The OT-2 robot API twin, first slice: the version header rules, /health, and the rail lights."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from robot_api_testkit import robot_api_process

from labtwin.twin.ot2.robot_api.app import create_app
from labtwin.twin.ot2.robot_api.health import MAX_PROTOCOL_API_VERSION, MIN_PROTOCOL_API_VERSION
from labtwin.twin.ot2.robot_api.versioning import CURRENT_API_VERSION

LATEST = {"Opentrons-Version": "*"}


@pytest.fixture
async def robot() -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of a fresh robot API app (no sockets)."""
    transport = httpx.ASGITransport(app=create_app(robot_name="bench-ot2"))
    async with httpx.AsyncClient(transport=transport, base_url="http://ot2.test") as client:
        yield client


def assert_version_headers(response: httpx.Response, version: int) -> None:
    assert response.headers["Opentrons-Version"] == str(version)
    assert response.headers["Opentrons-Min-Version"] == "2"


async def test_health_reports_identity_and_versions(robot: httpx.AsyncClient):
    response = await robot.get("/health", headers={"Opentrons-Version": "4"})
    assert response.status_code == 200
    assert_version_headers(response, 4)
    health = response.json()
    assert health["name"] == "bench-ot2"
    assert health["robot_model"] == "OT-2 Standard"
    assert health["api_version"] == "9.0.0"
    assert health["maximum_protocol_api_version"] == [2, 28]
    assert health["minimum_protocol_api_version"] == [2, 0]
    assert health["robot_serial"] and health["fw_version"] and health["system_version"]
    assert set(health["links"]) >= {"apiLog", "serialLog", "serverLog", "apiSpec", "systemTime"}
    assert all(path.startswith("/") for path in health["links"].values())


async def test_star_version_is_served_as_the_current_version(robot: httpx.AsyncClient):
    response = await robot.get("/health", headers=LATEST)
    assert response.status_code == 200
    assert_version_headers(response, CURRENT_API_VERSION)


async def test_version_newer_than_the_twin_is_served_as_the_current_version(robot: httpx.AsyncClient):
    response = await robot.get("/health", headers={"Opentrons-Version": str(CURRENT_API_VERSION + 10)})
    assert response.status_code == 200
    assert_version_headers(response, CURRENT_API_VERSION)


async def test_missing_version_header_on_a_legacy_route_is_422_in_the_legacy_shape(robot: httpx.AsyncClient):
    response = await robot.get("/health")
    assert response.status_code == 422
    assert_version_headers(response, CURRENT_API_VERSION)
    body = response.json()
    assert set(body) == {"message", "errorCode"}
    assert body["errorCode"] == "4000"
    assert "Opentrons-Version" in body["message"]


async def test_missing_version_header_on_a_newer_route_is_422_in_the_errors_envelope(robot: httpx.AsyncClient):
    response = await robot.get("/runs")
    assert response.status_code == 422
    assert_version_headers(response, CURRENT_API_VERSION)
    [error] = response.json()["errors"]
    assert error["id"] == "InvalidRequest"
    assert error["errorCode"] == "4000"
    assert error["title"] and "Opentrons-Version" in error["detail"]


@pytest.mark.parametrize("value", ["two", "2.5", ""])
async def test_non_integer_version_is_422(robot: httpx.AsyncClient, value: str):
    response = await robot.get("/robot/lights", headers={"Opentrons-Version": value})
    assert response.status_code == 422
    assert response.json()["errorCode"] == "4000"


async def test_version_1_is_400_outdated(robot: httpx.AsyncClient):
    legacy = await robot.get("/health", headers={"Opentrons-Version": "1"})
    newer = await robot.get("/runs", headers={"Opentrons-Version": "1"})
    assert legacy.status_code == newer.status_code == 400
    assert legacy.json()["errorCode"] == "4000" and "no longer supported" in legacy.json()["message"]
    assert newer.json()["errors"][0]["id"] == "OutdatedAPIVersion"


async def test_lights_start_off_and_remember_what_was_set(robot: httpx.AsyncClient):
    assert (await robot.get("/robot/lights", headers=LATEST)).json() == {"on": False}
    switched = await robot.post("/robot/lights", headers=LATEST, json={"on": True})
    assert switched.status_code == 200 and switched.json() == {"on": True}
    assert_version_headers(switched, CURRENT_API_VERSION)
    assert (await robot.get("/robot/lights", headers=LATEST)).json() == {"on": True}


async def test_lights_refuse_a_non_boolean_in_the_legacy_shape(robot: httpx.AsyncClient):
    response = await robot.post("/robot/lights", headers=LATEST, json={"on": "yes"})
    assert response.status_code == 422
    assert set(response.json()) == {"message", "errorCode"}
    assert (await robot.get("/robot/lights", headers=LATEST)).json() == {"on": False}


async def test_no_response_carries_null_fields(robot: httpx.AsyncClient):
    # The unknown route's error has no "source"; it must be absent, not null.
    for response in [await robot.get("/health", headers=LATEST), await robot.get("/nowhere", headers=LATEST)]:
        assert "null" not in response.text, response.text
    [error] = (await robot.get("/nowhere", headers=LATEST)).json()["errors"]
    assert "source" not in error


async def test_openapi_spec_documents_the_version_header(robot: httpx.AsyncClient):
    spec = (await robot.get("/openapi.json", headers=LATEST)).json()
    parameters = spec["paths"]["/health"]["get"]["parameters"]
    assert any(p["name"] == "Opentrons-Version" and p["in"] == "header" and p["required"] for p in parameters)


def test_protocol_api_range_matches_the_pinned_opentrons():
    # /health writes the range out to avoid importing opentrons; this keeps it honest on upgrades.
    from opentrons.protocols.api_support.definitions import (
        MAX_SUPPORTED_VERSION,
        MIN_SUPPORTED_VERSION,
    )

    assert MAX_PROTOCOL_API_VERSION == (MAX_SUPPORTED_VERSION.major, MAX_SUPPORTED_VERSION.minor)
    assert MIN_PROTOCOL_API_VERSION == (MIN_SUPPORTED_VERSION.major, MIN_SUPPORTED_VERSION.minor)


# --- the real process ---------------------------------------------------------------------------

def test_module_serves_health_over_loopback(tmp_path: Path):
    with robot_api_process(work_dir=tmp_path) as process:
        url, startup_s = process.url, process.startup_s
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        response = httpx.get(f"{url}/health", headers=LATEST, timeout=5.0)
        assert response.status_code == 200
        assert response.json()["robot_model"] == "OT-2 Standard"
        assert_version_headers(response, CURRENT_API_VERSION)
    print(f"robot API process ready after {startup_s:.2f} s")


# --- found by schemathesis (test_openapi_every_check.py) ----------------------------------------------

@pytest.mark.parametrize("method,path,allowed", [
    ("OPTIONS", "/runs/some-run", "DELETE, GET, PATCH"),
    ("PUT", "/runs/some-run", "DELETE, GET, PATCH"),
    ("DELETE", "/runs", "GET, POST"),
    ("PUT", "/runs/some-run/commands", "GET, POST"),
    ("POST", "/protocols/some-protocol", "DELETE, GET"),
    ("DELETE", "/robot/lights", "GET, POST"),
])
async def test_a_405_allows_every_method_the_path_serves(robot: httpx.AsyncClient, method: str, path: str,
                                                         allowed: str):
    # Starlette's own Allow named only the first route matching the path (GET for /runs/{runId}).
    response = await robot.request(method, path, headers=LATEST)
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    if path.startswith("/robot/"):
        assert set(response.json()) == {"message", "errorCode"}
    else:
        assert response.json()["errors"][0]["id"] == "MethodNotAllowed"


@pytest.mark.parametrize("value,status", [("3_0", 422), ("٣", 422), ("0x8", 422), ("3.0", 422), ("+3", 200),
                                          ("03", 200), ("-1", 400), ("0", 400), ("+1", 400)])
async def test_the_version_is_an_ascii_integer(robot: httpx.AsyncClient, value: str, status: int):
    # int() took Python's spellings too: "3_0" was served as version 30.
    response = await robot.get("/robot/lights", headers={"Opentrons-Version": value.encode()})
    assert response.status_code == status, response.text


async def test_the_documented_version_pattern_is_what_is_served(robot: httpx.AsyncClient):
    spec = (await robot.get("/openapi.json", headers=LATEST)).json()
    [header] = [p for p in spec["paths"]["/runs"]["get"]["parameters"] if p["name"] == "Opentrons-Version"]
    pattern = re.compile(header["schema"]["pattern"])
    for value in ["*", "2", "8", "9", "10", "123", "+4", "002", "0", "1", "01", "-2", "", "x", "2x", "**", "3_0"]:
        served = (await robot.get("/robot/lights", headers={"Opentrons-Version": value})).status_code == 200
        assert served == bool(pattern.fullmatch(value)), value


async def test_the_document_says_what_the_routes_refuse(robot: httpx.AsyncClient):
    """Schema-valid requests were refused: a pipette homed without its mount, a run made current again, an
    unknown action. The document now says so, and a JSON 0 no longer passes for false."""
    schemas = (await robot.get("/openapi.json", headers=LATEST)).json()["components"]["schemas"]
    assert schemas["HomePipette"]["required"] == ["target", "mount"]
    assert schemas["RunUpdate"]["properties"]["current"]["const"] is False
    assert schemas["ActionCreate"]["properties"]["actionType"]["enum"] == ["play", "pause", "stop"]
    for body in ({"target": "pipette"}, {"target": "pipette", "mount": None}, {"target": "gantry"}):
        response = await robot.post("/robot/home", headers=LATEST, json=body)
        assert response.status_code == 422 and set(response.json()) == {"message", "errorCode"}
    for current in (True, 0, "false", None):
        response = await robot.patch("/runs/any", headers=LATEST, json={"data": {"current": current}})
        assert response.status_code == 422, current
    response = await robot.post("/runs/any/actions", headers=LATEST, json={"data": {"actionType": "resume"}})
    assert response.status_code == 422


async def test_the_document_declares_the_version_headers_of_every_response(robot: httpx.AsyncClient):
    # So that schemathesis' response_headers_conformance has something to check on every response.
    spec = (await robot.get("/openapi.json", headers=LATEST)).json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                declared = set(response["headers"])
                assert {"Opentrons-Version", "Opentrons-Min-Version"} <= declared, (path, method, status)
