"""DeviceServer over real HTTP on loopback: every route, its errors, auth, and one-at-a-time queueing."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from http_testkit import Gate, ServedDevice, ThreadedServer, demo_registry, well_behaved_registry

from labtwin.errors import ConfigError
from labtwin.orchestrator.device_server import DeviceServer

QUEUE_TIMEOUT_S = 5.0


def _error(response: httpx.Response) -> dict:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == "error"
    return body["error"]


# --- the seed's routes ------------------------------------------------------------------------


def test_root_lists_the_tasks(device: ServedDevice) -> None:
    body = httpx.get(f"{device.url}/", headers=device.auth).json()
    assert body["available_tasks"][:3] == ["add", "greet", "scale"]
    assert body["docs"] == "/docs"
    assert body["running_task"] is None and body["queued"] == 0


def test_tasks_catalogue_has_json_schemas_not_python_reprs(device: ServedDevice) -> None:
    catalogue = httpx.get(f"{device.url}/tasks", headers=device.auth).json()
    add = catalogue["add"]
    assert add["doc"] == "Add two integers."
    assert add["parameters"]["properties"]["a"] == {"title": "A", "type": "integer"}
    assert add["parameters"]["properties"]["b"]["default"] == 2
    assert add["parameters"]["required"] == ["a"]
    assert add["result"] == {"type": "integer"}
    assert catalogue["echo"]["is_async"] is True
    assert "<class" not in str(catalogue)


def test_the_seeds_client_shape_still_works(device: ServedDevice) -> None:
    # What the seed's OrchestratorClient does: POST the kwargs, read body["result"].
    response = httpx.post(f"{device.url}/execute/add", json={"a": 40, "b": 2}, headers=device.auth)
    response.raise_for_status()
    body = response.json()
    assert body == {"task_name": "add", "parameters": {"a": 40, "b": 2}, "status": "success", "result": 42}


def test_execute_applies_defaults_and_allows_an_empty_body(device: ServedDevice) -> None:
    assert httpx.post(f"{device.url}/execute/add", json={"a": 1}, headers=device.auth).json()["result"] == 3
    assert httpx.post(f"{device.url}/execute/status", headers=device.auth).json()["result"] == {"uptime_s": 42}


def test_async_tasks_run_too(device: ServedDevice) -> None:
    response = httpx.post(f"{device.url}/execute/echo", json={"text": "hi"}, headers=device.auth)
    assert response.json()["result"] == "hi"


# --- the typed routes -------------------------------------------------------------------------


def test_typed_route_runs_the_task_and_echoes_validated_parameters(device: ServedDevice) -> None:
    response = httpx.post(f"{device.url}/tasks/scale", json={"values": [1, 2.5], "factor": 2},
                          headers=device.auth)
    assert response.status_code == 200
    assert response.json() == {"task_name": "scale", "status": "success",
                               "parameters": {"values": [1.0, 2.5], "factor": 2.0, "label": None},
                               "result": {"values": [2.0, 5.0], "label": None}}


def test_typed_route_of_a_task_without_parameters_needs_no_body(device: ServedDevice) -> None:
    assert httpx.post(f"{device.url}/tasks/status", headers=device.auth).json()["result"] == {"uptime_s": 42}


def test_openapi_shows_every_task_with_its_parameters_and_result(device: ServedDevice) -> None:
    schema = httpx.get(f"{device.url}/openapi.json").json()
    components = schema["components"]["schemas"]
    for name in ["add", "greet", "scale", "status", "paint", "echo", "overflow", "explode", "hold"]:
        operation = schema["paths"][f"/tasks/{name}"]["post"]
        assert operation["operationId"] == name
        success = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
        assert "result" in components[success]["properties"]
    add_body = schema["paths"]["/tasks/add"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert components[add_body["$ref"].split("/")[-1]]["properties"]["a"]["type"] == "integer"
    assert components["AddSuccess"]["properties"]["result"]["type"] == "integer"
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "the device's token: Authorization: Bearer <token>"}


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/execute/add", "/tasks/add"])
def test_wrong_missing_and_extra_parameters_get_422_per_field(device: ServedDevice, route: str) -> None:
    response = httpx.post(f"{device.url}{route}", json={"b": "abc", "r": 1}, headers=device.auth)
    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "bad_parameters"
    problems = {p["field"]: p["type"] for p in error["details"]}
    assert problems == {"a": "missing", "b": "int_type", "r": "extra_forbidden"}
    assert "b: Input should be a valid integer" in error["message"]


def test_the_seeds_string_for_an_int_is_rejected(device: ServedDevice) -> None:
    response = httpx.post(f"{device.url}/execute/add", json={"a": "abc"}, headers=device.auth)
    assert response.status_code == 422


def test_a_body_that_is_not_json_gets_400(device: ServedDevice) -> None:
    response = httpx.post(f"{device.url}/tasks/add", content=b"{a: 1", headers={
        **device.auth, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert _error(response)["code"] == "bad_request"


@pytest.mark.parametrize("route", ["/execute/no_such_task", "/tasks/no_such_task"])
def test_unknown_task_gets_404(device: ServedDevice, route: str) -> None:
    response = httpx.post(f"{device.url}{route}", json={}, headers=device.auth)
    assert response.status_code == 404
    error = _error(response)
    assert error["code"] == "unknown_task"
    assert "add" in error["message"]  # says what exists


def test_unknown_path_gets_a_json_404(device: ServedDevice) -> None:
    response = httpx.get(f"{device.url}/nowhere", headers=device.auth)
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_a_task_refusal_carries_the_tasks_own_code(device: ServedDevice) -> None:
    response = httpx.post(f"{device.url}/tasks/paint", json={"litres": 2}, headers=device.auth)
    assert response.status_code == 409
    assert _error(response) == {"code": "out_of_paint", "message": "2 l requested, the can is empty",
                                "details": None}


def test_a_result_overflowing_to_infinity_fails_the_call_instead_of_becoming_null(device: ServedDevice) -> None:
    # pydantic would send the infinity as null: a wrong value the caller cannot tell from a real one.
    response = httpx.post(f"{device.url}/tasks/overflow", json={"factor": 10.0}, headers=device.auth)
    assert response.status_code == 500, response.text
    assert _error(response) == {"code": "task_failed", "details": None,
                                "message": "ValueError: the result holds inf, which JSON cannot carry"}
    finite = httpx.post(f"{device.url}/tasks/overflow", json={"factor": 1.0}, headers=device.auth)
    assert finite.json()["result"] == [1e308]


def test_a_task_that_raises_gets_json_not_a_traceback(device: ServedDevice) -> None:
    response = httpx.post(f"{device.url}/execute/explode", headers=device.auth)
    assert response.status_code == 500
    error = _error(response)
    assert error["code"] == "task_failed"
    assert error["message"] == "ValueError: the flux capacitor melted"
    assert "Traceback" not in response.text


# --- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Bearer"},
])
@pytest.mark.parametrize("method,path", [
    ("GET", "/"), ("GET", "/tasks"), ("POST", "/execute/add"), ("POST", "/tasks/add"), ("GET", "/nowhere"),
])
def test_requests_without_the_token_get_401(device: ServedDevice, headers: dict[str, str], method: str,
                                            path: str) -> None:
    response = httpx.request(method, f"{device.url}{path}", json={"a": 1}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert _error(response)["code"] == "unauthorized"


def test_docs_stay_readable_without_the_token(device: ServedDevice) -> None:
    assert httpx.get(f"{device.url}/docs").status_code == 200
    assert httpx.get(f"{device.url}/openapi.json").status_code == 200


def test_a_server_without_token_is_open_and_says_so_nowhere() -> None:
    with ThreadedServer(DeviceServer(well_behaved_registry())) as served:
        assert httpx.post(f"{served.url}/execute/add", json={"a": 1}).json()["result"] == 3
        assert "securitySchemes" not in httpx.get(f"{served.url}/openapi.json").json().get("components", {})


def test_an_empty_token_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError):
        DeviceServer(well_behaved_registry(), auth_token="  ")


# --- one physical action at a time ------------------------------------------------------------


async def _wait_until_queued(client: httpx.AsyncClient, count: int) -> dict:
    deadline = time.monotonic() + QUEUE_TIMEOUT_S
    while True:
        summary = (await client.get("/")).json()
        if summary["queued"] == count:
            return summary
        assert time.monotonic() < deadline, f"never saw {count} queued calls: {summary}"
        await asyncio.sleep(0.01)


async def test_calls_wait_in_arrival_order_while_root_keeps_answering(fresh_device: ServedDevice) -> None:
    device = fresh_device
    async with httpx.AsyncClient(base_url=device.url, headers=device.auth, timeout=QUEUE_TIMEOUT_S) as client:
        first = asyncio.create_task(client.post("/tasks/hold", json={"label": "first"}))
        assert await asyncio.to_thread(device.gate.entered.wait, QUEUE_TIMEOUT_S)
        second = asyncio.create_task(client.post("/tasks/hold", json={"label": "second"}))
        await _wait_until_queued(client, 1)
        third = asyncio.create_task(client.post("/execute/hold", json={"label": "third"}))
        summary = await _wait_until_queued(client, 2)
        assert summary["running_task"] == "hold"  # GET / answers while the worker thread is busy
        device.gate.release.set()
        responses = await asyncio.gather(first, second, third)
    assert [r.json()["result"] for r in responses] == ["first", "second", "third"]
    assert device.gate.order == ["first", "second", "third"]


async def test_a_full_queue_answers_503_busy(gate: Gate) -> None:
    with ThreadedServer(DeviceServer(demo_registry(gate), max_queued=1)) as served:
        async with httpx.AsyncClient(base_url=served.url, timeout=QUEUE_TIMEOUT_S) as client:
            running = asyncio.create_task(client.post("/tasks/hold", json={"label": "running"}))
            assert await asyncio.to_thread(gate.entered.wait, QUEUE_TIMEOUT_S)
            waiting = asyncio.create_task(client.post("/tasks/hold", json={"label": "waiting"}))
            await _wait_until_queued(client, 1)
            refused = await client.post("/tasks/add", json={"a": 1})
            gate.release.set()
            await asyncio.gather(running, waiting)
    assert refused.status_code == 503
    assert _error(refused)["code"] == "busy"
