"""HTTPOrchestratorClient / AsyncHTTPOrchestratorClient: the MQTT clients' shape and exceptions, over HTTP."""

from __future__ import annotations

import asyncio
import socket

import pytest
from http_testkit import ServedDevice

from labtwin.errors import AuthenticationFailed, ConfigError, DeviceOffline, TaskError, TaskTimeout
from labtwin.orchestrator import (
    AsyncHTTPOrchestratorClient,
    AsyncMQTTOrchestratorClient,
    AsyncTaskClient,
    HTTPOrchestratorClient,
    MQTTOrchestratorClient,
    TaskClient,
)


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


def test_every_client_satisfies_the_one_task_client_interface() -> None:
    assert isinstance(AsyncHTTPOrchestratorClient("http://127.0.0.1:1"), AsyncTaskClient)
    assert isinstance(AsyncMQTTOrchestratorClient("127.0.0.1", "pico"), AsyncTaskClient)
    assert isinstance(HTTPOrchestratorClient("http://127.0.0.1:1"), TaskClient)
    assert isinstance(MQTTOrchestratorClient("127.0.0.1", "pico"), TaskClient)


def test_sync_client_runs_tasks(device: ServedDevice) -> None:
    with HTTPOrchestratorClient(device.url, auth_token=device.token, timeout=5.0) as client:
        assert client.execute_task("add", a=1, b=2) == 3
        assert client.call("greet", {"name": "ot2", "excited": True}) == "hello ot2!"
        assert client.device_info is not None and "add" in client.device_info["available_tasks"]
        assert client.list_tasks()["add"]["parameters"]["required"] == ["a"]


async def test_async_client_runs_tasks(device: ServedDevice) -> None:
    async with AsyncHTTPOrchestratorClient(device.url, auth_token=device.token, timeout=5.0) as client:
        assert await client.execute_task("add", a=1) == 3
        assert await client.execute_task("echo", text="hi") == "hi"
        assert (await client.summary())["running_task"] is None


@pytest.mark.parametrize("task,parameters,code,words", [
    ("no_such_task", {}, "unknown_task", "add"),
    ("add", {"a": "abc", "z": 1}, "bad_parameters", "a: Input should be a valid integer; z: Extra inputs"),
    ("paint", {"litres": 3}, "out_of_paint", "the can is empty"),
    ("explode", {}, "task_failed", "ValueError: the flux capacitor melted"),
])
def test_sync_client_raises_task_error_with_the_devices_code(device: ServedDevice, task: str, parameters: dict,
                                                             code: str, words: str) -> None:
    with HTTPOrchestratorClient(device.url, auth_token=device.token) as client:
        with pytest.raises(TaskError) as caught:
            client.call(task, parameters)
    assert caught.value.code == code
    assert words in caught.value.message
    assert caught.value.task == task and caught.value.request_id


async def test_async_client_raises_the_same_task_errors(device: ServedDevice) -> None:
    async with AsyncHTTPOrchestratorClient(device.url, auth_token=device.token) as client:
        with pytest.raises(TaskError) as caught:
            await client.execute_task("paint", litres=1)
    assert caught.value.code == "out_of_paint"


def test_a_wrong_token_fails_at_connect(device: ServedDevice) -> None:
    with pytest.raises(AuthenticationFailed, match="auth token"):
        HTTPOrchestratorClient(device.url, auth_token="not-the-token").connect()


async def test_a_missing_token_fails_at_connect(device: ServedDevice) -> None:
    with pytest.raises(AuthenticationFailed):
        async with AsyncHTTPOrchestratorClient(device.url):
            pass


def test_an_unreachable_device_is_offline() -> None:
    with pytest.raises(DeviceOffline, match="cannot reach"):
        HTTPOrchestratorClient(_closed_port_url(), timeout=2.0).connect()


async def test_an_unreachable_device_is_offline_for_the_async_client_too() -> None:
    with pytest.raises(DeviceOffline):
        async with AsyncHTTPOrchestratorClient(_closed_port_url(), timeout=2.0):
            pass


def test_calls_on_a_client_that_is_not_connected_say_so(device: ServedDevice) -> None:
    client = HTTPOrchestratorClient(device.url, auth_token=device.token)
    client.disconnect()  # safe without connect()
    with pytest.raises(DeviceOffline, match="not connected"):
        client.execute_task("add", a=1)


def test_sync_client_times_out_while_the_device_is_busy(fresh_device: ServedDevice) -> None:
    with HTTPOrchestratorClient(fresh_device.url, auth_token=fresh_device.token) as client:
        with pytest.raises(TaskTimeout) as caught:
            client.call("hold", {"label": "slow"}, timeout=0.2)
    assert caught.value.timeout == 0.2


async def test_async_client_times_out_while_the_device_is_busy(fresh_device: ServedDevice) -> None:
    async with AsyncHTTPOrchestratorClient(fresh_device.url, auth_token=fresh_device.token) as client:
        with pytest.raises(TaskTimeout):
            await client.call("hold", {"label": "slow"}, timeout=0.2)
        fresh_device.gate.release.set()
        # The device is free again once the held call finished; the connection pool still works.
        assert await asyncio.wait_for(client.execute_task("add", a=1), 5.0) == 3


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://host", "http://"])
def test_a_malformed_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigError):
        HTTPOrchestratorClient(url)
