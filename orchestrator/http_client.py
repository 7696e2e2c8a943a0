"""HTTP orchestrator clients (httpx) for devices served by a DeviceServer, such as the OT-2.

Same shape and exceptions as the MQTT clients, so one orchestrator drives either transport::

    with HTTPOrchestratorClient("http://ot2.lab:8000", auth_token=token, timeout=60.0) as ot2:
        ot2.execute_task("mix_color", red_ul=100, yellow_ul=50, blue_ul=0, well="A1")

    async with AsyncHTTPOrchestratorClient(url, auth_token=token) as ot2:
        await ot2.execute_task("home")

Errors (docs/http-protocol.md): an error body becomes ``TaskError`` with the device's code
(``unknown_task``, ``bad_parameters`` with per-field details in the message, ``busy``,
``task_failed``, or the task's own code such as ``out_of_tips``); 401 becomes
``AuthenticationFailed``; an unreachable device ``DeviceOffline``; no answer in time
``TaskTimeout``. A call that timed out may still run on the device (it may be queued).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

import httpx

from labtwin.errors import AuthenticationFailed, ConfigError, DeviceOffline, ProtocolError, TaskError, TaskTimeout

__all__ = ["AsyncHTTPOrchestratorClient", "HTTPOrchestratorClient"]

# httpx sets TCP_NODELAY itself (httpcore's sync backend, asyncio's transports).

_URL_CACHE_SIZE = 64
"""Task URLs kept per client (a device has a handful of tasks)."""


class _HTTPDevice:
    """What both clients share: addressing, headers, and turning responses into results or errors."""

    def __init__(self, base_url: str, auth_token: str | None, timeout: float, device_id: str | None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"device URL {base_url!r} must look like http://HOST:PORT")
        if auth_token is not None and not auth_token.strip():
            raise ConfigError("auth_token is empty; pass the device's token or None")
        self.base_url = base_url.rstrip("/")
        self.device_id = device_id or parts.netloc
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {auth_token}"} if auth_token is not None else {}
        self.device_info: dict[str, Any] | None = None
        self._execute_urls: dict[str, httpx.URL] = {}

    def _execute_url(self, task: str) -> httpx.URL:
        """``{base_url}/execute/{task}``, absolute and parsed once per task.

        httpx would otherwise parse a relative path and merge it with the base URL on every call:
        about half of what building a request costs.
        """
        url = self._execute_urls.get(task)
        if url is None:
            if len(self._execute_urls) >= _URL_CACHE_SIZE:  # callers may make up task names
                self._execute_urls.clear()
            url = self._execute_urls[task] = httpx.URL(f"{self.base_url}/execute/{quote(task, safe='')}")
        return url

    def _offline(self, error: Exception) -> DeviceOffline:
        return DeviceOffline(self.device_id, f"cannot reach {self.base_url}: {type(error).__name__}: {error}")

    def _result(self, response: httpx.Response, task: str, request_id: str) -> Any:
        if response.is_success:
            body = _json_object(response)
            if body.get("status") != "success" or "result" not in body:
                raise ProtocolError(f"device {self.device_id!r} answered {task!r} without a success envelope")
            return body["result"]
        self._raise_error(response, task, request_id)

    def _raise_error(self, response: httpx.Response, task: str, request_id: str) -> NoReturn:
        code, message = _error_code_and_message(response)
        if response.status_code == 401:
            raise AuthenticationFailed(self.device_id, message)
        raise TaskError(self.device_id, task, code, message, request_id)

    def _json_or_raise(self, response: httpx.Response) -> dict[str, Any]:
        if not response.is_success:
            self._raise_error(response, f"{response.request.method} {response.request.url.path}", "")
        return _json_object(response)


class AsyncHTTPOrchestratorClient(_HTTPDevice):
    """Runs tasks on one HTTP device; a reusable, non-re-entrant async context manager.

    Args:
        base_url: the device server, e.g. ``http://127.0.0.1:8000``.
        auth_token: the device's bearer token, if it requires one.
        timeout: default seconds to wait for a task's result (time queued included).
        device_id: name used in errors (default: the URL's host:port).
    """

    def __init__(self, base_url: str, auth_token: str | None = None, *, timeout: float = 10.0,
                 device_id: str | None = None) -> None:
        super().__init__(base_url, auth_token, timeout, device_id)
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> AsyncHTTPOrchestratorClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    async def connect(self) -> None:
        """Open the connection pool and fetch ``GET /``: DeviceOffline or AuthenticationFailed at once."""
        if self._client is not None:
            raise RuntimeError("client is already connected")
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=self._headers, timeout=self.timeout)
        try:
            self.device_info = await self.summary()
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        """Close the connection pool. Safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _connected(self) -> httpx.AsyncClient:
        if self._client is None:
            raise DeviceOffline(self.device_id, "client is not connected: call connect() or use `async with`")
        return self._client

    async def summary(self) -> dict[str, Any]:
        """``GET /``: the task list and what the device is doing now."""
        try:
            return self._json_or_raise(await self._connected().get("/"))
        except (httpx.TransportError, httpx.TimeoutException) as e:
            raise self._offline(e) from None

    async def list_tasks(self) -> dict[str, Any]:
        """``GET /tasks``: every task with the JSON schemas of its parameters and result."""
        try:
            response = await self._connected().get("/tasks")
        except (httpx.TransportError, httpx.TimeoutException) as e:
            raise self._offline(e) from None
        return self._json_or_raise(response)

    async def call(self, task: str, parameters: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Run ``task`` with ``parameters`` and return its result.

        Raises TaskError, TaskTimeout, DeviceOffline or AuthenticationFailed.
        """
        client = self._connected()
        limit = self.timeout if timeout is None else timeout
        request_id = uuid.uuid4().hex
        try:
            async with asyncio.timeout(limit):
                response = await client.post(self._execute_url(task), json=dict(parameters or {}),
                                              headers={"X-Request-ID": request_id}, timeout=limit)
        except (TimeoutError, httpx.TimeoutException):
            raise TaskTimeout(self.device_id, task, request_id, limit) from None
        except httpx.TransportError as e:
            raise self._offline(e) from None
        return self._result(response, task, request_id)

    async def execute_task(self, task_name: str, /, **params: Any) -> Any:
        """Run a task with keyword parameters (the seed's shape); see call()."""
        return await self.call(task_name, params)


class HTTPOrchestratorClient(_HTTPDevice):
    """Blocking client for one HTTP device; see AsyncHTTPOrchestratorClient for semantics."""

    def __init__(self, base_url: str, auth_token: str | None = None, timeout: float = 10.0, *,
                 device_id: str | None = None) -> None:
        super().__init__(base_url, auth_token, timeout, device_id)
        self._client: httpx.Client | None = None

    def __enter__(self) -> HTTPOrchestratorClient:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()

    def connect(self) -> None:
        """Open the connection pool and fetch ``GET /``: DeviceOffline or AuthenticationFailed at once."""
        if self._client is not None:
            raise RuntimeError("client is already connected")
        self._client = httpx.Client(base_url=self.base_url, headers=self._headers, timeout=self.timeout)
        try:
            self.device_info = self.summary()
        except BaseException:
            self.disconnect()
            raise

    def disconnect(self) -> None:
        """Close the connection pool. Safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _connected(self) -> httpx.Client:
        if self._client is None:
            raise DeviceOffline(self.device_id, "client is not connected: call connect() or use `with`")
        return self._client

    def summary(self) -> dict[str, Any]:
        """``GET /``: the task list and what the device is doing now."""
        try:
            return self._json_or_raise(self._connected().get("/"))
        except (httpx.TransportError, httpx.TimeoutException) as e:
            raise self._offline(e) from None

    def list_tasks(self) -> dict[str, Any]:
        """``GET /tasks``: every task with the JSON schemas of its parameters and result."""
        try:
            response = self._connected().get("/tasks")
        except (httpx.TransportError, httpx.TimeoutException) as e:
            raise self._offline(e) from None
        return self._json_or_raise(response)

    def call(self, task: str, parameters: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Run a task and return its result; raises TaskError, TaskTimeout, DeviceOffline, AuthenticationFailed."""
        client = self._connected()
        limit = self.timeout if timeout is None else timeout
        request_id = uuid.uuid4().hex
        try:
            response = client.post(self._execute_url(task), json=dict(parameters or {}),
                                   headers={"X-Request-ID": request_id}, timeout=limit)
        except httpx.TimeoutException:
            raise TaskTimeout(self.device_id, task, request_id, limit) from None
        except httpx.TransportError as e:
            raise self._offline(e) from None
        return self._result(response, task, request_id)

    def execute_task(self, task_name: str, /, **params: Any) -> Any:
        """Run a task with keyword parameters (the seed's shape)."""
        return self.call(task_name, params)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ProtocolError(f"{response.request.url} answered HTTP {response.status_code} with a body that is "
                            "not JSON") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"{response.request.url} answered with JSON that is not an object")
    return body


def _error_code_and_message(response: httpx.Response) -> tuple[str, str]:
    """The error's code and message: a DeviceServer's error body, or a best effort for other servers."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return error["code"], str(error.get("message", ""))
    # Not a DeviceServer (e.g. the seed's server, which answers {"detail": ...}).
    fallback = {401: "unauthorized", 404: "unknown_task", 422: "bad_parameters", 503: "busy"}
    code = fallback.get(response.status_code, "task_failed")
    detail = body.get("detail") if isinstance(body, dict) else None
    return code, str(detail if detail is not None else response.text[:200] or f"HTTP {response.status_code}")
