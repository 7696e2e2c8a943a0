"""DeviceServer: serve a TaskRegistry over HTTP (FastAPI + uvicorn), as on the OT-2.

::

    server = DeviceServer(tasks, auth_token=os.environ["LABTWIN_OT2_TOKEN"])
    server.run(host="0.0.0.0", port=8000)          # blocking, on the robot
    async with server.running() as url: ...        # embedded, on a loopback ephemeral port

Routes, bodies, status codes and the queueing rule are specified in docs/http-protocol.md.
In short: the seed's ``GET /``, ``GET /tasks`` and ``POST /execute/{task_name}`` (keyword
arguments as the body), plus one typed ``POST /tasks/{name}`` per task whose request and
response models come from the task's signature. Calls run one at a time in arrival order
(one physical action at a time); sync tasks run in a worker thread, so ``GET /`` answers
while the robot moves.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import inspect
import json
import logging
import math
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any, Literal

import uvicorn
from fastapi import APIRouter, Body, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labtwin.errors import ConfigError, TaskRefused
from labtwin.orchestrator.http_tasks import TaskRegistry, TaskSpec, default_registry
from labtwin.orchestrator.http_wire import (
    DeviceSummary,
    ErrorBody,
    ErrorInfo,
    ExecuteSuccess,
    FieldProblem,
    TaskDescription,
)

__all__ = ["DeviceServer", "EmbeddedUvicorn"]

log = logging.getLogger(__name__)

# Documentation stays readable without the token; Swagger UI's "Authorize" button then sends it.
_PUBLIC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}
_SHUTDOWN_GRACE_S = 5


class _DeviceError(Exception):
    """An error response, raised anywhere in a request and rendered as ErrorBody."""

    def __init__(self, status: int, code: str, message: str, task_name: str | None = None,
                 details: list[FieldProblem] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(task_name=task_name, error=ErrorInfo(code=code, message=message, details=details))
        self.headers = headers


def _error_response(error: _DeviceError) -> JSONResponse:
    return JSONResponse(error.body.model_dump(mode="json"), status_code=error.status, headers=error.headers)


def _documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in statuses}


class _BearerTokenGate:
    """ASGI middleware: every request outside the docs needs ``Authorization: Bearer <token>``.

    A middleware rather than a route dependency, so the check comes before routing and body
    parsing: without the token, a malformed body or an unknown path is 401 too.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in _PUBLIC_PATHS:
            authorization = dict(scope["headers"]).get(b"authorization", b"")
            scheme, _, supplied = authorization.partition(b" ")
            # compare_digest: the time taken must not reveal how much of the token matched.
            if scheme.lower() != b"bearer" or not hmac.compare_digest(supplied.strip(), self._token):
                error = _DeviceError(401, "unauthorized", "missing or wrong bearer token; send "
                                     "'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})
                await _error_response(error)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _StandardJsonGate:
    """ASGI middleware: a JSON body must be standard JSON (RFC 8259), or the answer is 400.

    FastAPI parses bodies with Python's ``json``, which also accepts ``NaN``, ``Infinity``,
    numbers that overflow to infinity (``1e400``) and unpaired surrogate escapes (``"\\ud800"``).
    A parameter typed ``Any`` would take them, and a task echoing one makes a response that
    cannot be encoded: 500. So they are refused before routing, whatever the parameter's type.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _may_be_json(scope):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = _not_standard_json(body) if body else None
        if problem is not None:
            error = _DeviceError(400, "bad_request", f"the body is not valid JSON: {problem}",
                                 _task_name_in_path(scope["path"]))
            await _error_response(error)(scope, receive, send)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _may_be_json(scope: Scope) -> bool:
    """True when FastAPI would parse the body as JSON: a JSON content type, or none at all."""
    # The first Content-Type, as Starlette's request.headers.get reads it.
    content_type = next((value for name, value in scope["headers"] if name == b"content-type"), None)
    if content_type is None:
        return True
    media_type: bytes = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or (media_type.startswith(b"application/")
                                                  and media_type.endswith(b"+json"))


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replaying() -> Message:
        return pending.pop(0) if pending else await receive()

    return replaying


class _NotStandardJson(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise _NotStandardJson(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotStandardJson(f"{text[:40]} is too large for a float")
    return value


def _not_standard_json(body: bytes) -> str | None:
    """Why Python's json accepts ``body`` although it is not standard JSON; None otherwise.

    Bodies Python's json rejects too are left to FastAPI, which answers them with 400 itself.
    """
    try:
        value = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NotStandardJson as e:
        return str(e)
    except (ValueError, RecursionError):
        return None
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "a string holds an unpaired UTF-16 surrogate"
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _task_name_in_path(path: str) -> str | None:
    for prefix in ("/execute/", "/tasks/"):
        if path.startswith(prefix) and "/" not in path[len(prefix):]:
            return path[len(prefix):] or None
    return None


class EmbeddedUvicorn(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the program embedding it."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class DeviceServer:
    """Serves one device's tasks over HTTP; see the module docstring.

    Args:
        registry: the tasks to serve (default: the module-level ``@task`` registry). Tasks
            registered after the server is built are not served.
        title: shown by ``GET /`` and the OpenAPI docs.
        description: OpenAPI description.
        version: OpenAPI version of this device's API.
        auth_token: when set, every request except the docs must carry it as a bearer token.
            There is no default token: without one the server is open, so bind it to loopback.
        max_queued: calls that may wait while the device is busy; more get 503 ``busy``.
    """

    def __init__(self, registry: TaskRegistry | None = None, *, title: str = "labtwin device server",
                 description: str = "", version: str = "1", auth_token: str | None = None,
                 max_queued: int = 8) -> None:
        if auth_token is not None and not auth_token.strip():
            raise ConfigError("auth_token is empty; pass a real token, or None for an open loopback server")
        if max_queued < 0:
            raise ConfigError(f"max_queued must be >= 0, got {max_queued}")
        self.registry = default_registry if registry is None else registry
        self.title = title
        self.max_queued = max_queued
        self.auth_required = auth_token is not None
        self._executor: ThreadPoolExecutor | None = None
        self._device_lock: asyncio.Lock | None = None
        self._started: asyncio.Event | None = None
        self._running_task: str | None = None
        self._queued = 0
        self.app = self._build_app(description, version)
        if auth_token is not None:
            self.app.add_middleware(_BearerTokenGate, token=auth_token)

    # --- serving --------------------------------------------------------------------------

    def run(self, host: str = "127.0.0.1", port: int = 8000, *,
            on_ready: Callable[[str], None] | None = None) -> None:
        """Serve until SIGINT/SIGTERM. ``on_ready(url)`` is called once requests are accepted."""
        asyncio.run(self._serve_until_stopped(host, port, on_ready))

    async def _serve_until_stopped(self, host: str, port: int, on_ready: Callable[[str], None] | None) -> None:
        server, serving, url = await self._start(host, port, server_class=uvicorn.Server)
        if on_ready is not None:
            on_ready(url)
        await serving

    @asynccontextmanager
    async def running(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve in the current event loop while the block runs; yields the base URL."""
        server, serving, url = await self._start(host, port, server_class=EmbeddedUvicorn)
        try:
            yield url
        finally:
            server.should_exit = True
            await serving

    async def _start(self, host: str, port: int,
                     server_class: type[uvicorn.Server]) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
        sock = _listening_socket(host, port)
        bound_host, bound_port = sock.getsockname()[:2]
        url = f"http://[{bound_host}]:{bound_port}" if ":" in bound_host else f"http://{bound_host}:{bound_port}"
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="on",
                                timeout_graceful_shutdown=_SHUTDOWN_GRACE_S)
        server = server_class(config)
        self._started = asyncio.Event()
        serving = asyncio.create_task(server.serve(sockets=[sock]), name=f"device server {url}")
        started = asyncio.create_task(self._started.wait())
        await asyncio.wait({serving, started}, return_when=asyncio.FIRST_COMPLETED)
        if not self._started.is_set():
            started.cancel()
            sock.close()
            await serving
            raise ConfigError(f"device server on {url} failed to start; see the log above")
        return server, serving, url

    @asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        # One worker thread: sync tasks run off the event loop, and never two at once.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labtwin-device-task")
        self._device_lock = asyncio.Lock()
        if self._started is not None:
            self._started.set()
        try:
            yield
        finally:
            executor, self._executor = self._executor, None
            # In a thread: a robot action still running must not freeze the loop while it ends.
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    # --- the app --------------------------------------------------------------------------

    def _build_app(self, description: str, version: str) -> FastAPI:
        app = FastAPI(title=self.title, description=description, version=version, lifespan=self._lifespan)
        app.add_exception_handler(_DeviceError, self._on_device_error)  # type: ignore[arg-type]
        app.add_exception_handler(RequestValidationError, self._on_validation_error)  # type: ignore[arg-type]
        app.add_exception_handler(StarletteHTTPException, self._on_http_exception)  # type: ignore[arg-type]
        app.add_exception_handler(Exception, self._on_unexpected_error)
        auth = (401,) if self.auth_required else ()
        router = APIRouter(responses=_documented(*auth, 500))
        router.add_api_route("/", self._summary, methods=["GET"], response_model=DeviceSummary,
                             summary="The device and its task list (the seed's route)")
        router.add_api_route("/tasks", self._catalogue, methods=["GET"], response_model=dict[str, TaskDescription],
                             summary="Every task with the JSON schemas of its parameters and result")
        router.add_api_route("/execute/{task_name}", self._execute, methods=["POST"], response_model=ExecuteSuccess,
                             responses=_documented(400, 404, 409, 422, 503), operation_id="execute_task",
                             summary="Run a task; the body is its keyword arguments (the seed's route)")
        for spec in self.registry:
            router.add_api_route(f"/tasks/{spec.name}", self._typed_endpoint(spec), methods=["POST"],
                                 response_model=_success_model(spec), responses=_documented(400, 409, 422, 503),
                                 name=spec.name, operation_id=spec.name, summary=spec.summary or spec.name,
                                 description=spec.doc)
        router.add_api_route("/tasks/{task_name}", self._unknown_typed_task, methods=["POST"],
                             include_in_schema=False)
        app.include_router(router)
        app.add_middleware(_StandardJsonGate)  # inside the token gate, which __init__ adds last
        app.openapi = self._openapi  # type: ignore[method-assign]
        return app

    def _openapi(self) -> dict[str, Any]:
        if self.app.openapi_schema is None:
            schema = get_openapi(title=self.app.title, version=self.app.version,
                                 description=self.app.description, routes=self.app.routes)
            if self.auth_required:
                schema.setdefault("components", {})["securitySchemes"] = {
                    "bearer": {"type": "http", "scheme": "bearer",
                               "description": "the device's token: Authorization: Bearer <token>"}}
                schema["security"] = [{"bearer": []}]
            self.app.openapi_schema = schema
        return self.app.openapi_schema

    async def _summary(self) -> DeviceSummary:
        return DeviceSummary(message=self.title, available_tasks=self.registry.names, docs="/docs",
                             running_task=self._running_task, queued=self._queued)

    async def _catalogue(self) -> dict[str, TaskDescription]:
        return {spec.name: TaskDescription(**spec.describe()) for spec in self.registry}

    async def _execute(self, task_name: str, request: Request,
                       parameters: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
        spec = self.registry.get(task_name)
        if spec is None:
            raise _unknown_task(task_name, self.registry.names)
        supplied = parameters or {}
        try:
            kwargs = spec.validate(supplied)
        except ValidationError as e:
            raise _bad_parameters(task_name, _field_problems(e.errors(), body_prefix=False)) from None
        result = await self._run(spec, kwargs, request)
        return {"task_name": task_name, "parameters": supplied, "status": "success", "result": result}

    def _typed_endpoint(self, spec: TaskSpec) -> Callable[..., Any]:
        async def run_task(request: Request, parameters: BaseModel | None) -> dict[str, Any]:
            validated = spec.parameters_model() if parameters is None else parameters
            result = await self._run(spec, spec.keyword_arguments(validated), request)
            return {"task_name": spec.name, "parameters": validated, "status": "success", "result": result}

        # FastAPI reads the request model from the signature, so give the endpoint the task's.
        optional = spec.all_parameters_optional
        body_type = spec.parameters_model | None if optional else spec.parameters_model
        run_task.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
            inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
            inspect.Parameter("parameters", inspect.Parameter.KEYWORD_ONLY, annotation=body_type,
                              default=Body(default=None) if optional else Body()),
        ])
        return run_task

    async def _unknown_typed_task(self, task_name: str) -> None:
        raise _unknown_task(task_name, self.registry.names)

    # --- running tasks --------------------------------------------------------------------

    async def _run(self, spec: TaskSpec, kwargs: dict[str, Any], request: Request) -> Any:
        lock = self._device_lock
        if lock is None:
            raise RuntimeError("the device server's lifespan has not started")
        if lock.locked() and self._queued >= self.max_queued:
            raise _DeviceError(503, "busy", f"the device is running {self._running_task!r} with "
                               f"{self._queued} call(s) waiting; retry later", spec.name)
        self._queued += 1
        try:
            await lock.acquire()  # asyncio.Lock wakes waiters first-in, first-out
        finally:
            self._queued -= 1
        request_id = request.headers.get("x-request-id", "-")
        try:
            self._running_task = spec.name
            result = await self._call(spec, kwargs)
            _check_finite(result)
            return result
        except TaskRefused as e:
            raise _DeviceError(409, e.code, e.message, spec.name) from None
        except Exception as e:
            log.exception("task %s (request %s) raised", spec.name, request_id)
            raise _DeviceError(500, "task_failed", f"{type(e).__name__}: {e}", spec.name) from None
        finally:
            self._running_task = None
            lock.release()

    async def _call(self, spec: TaskSpec, kwargs: dict[str, Any]) -> Any:
        if spec.is_async:
            return await spec.function(**kwargs)
        executor = self._executor
        if executor is None:
            raise RuntimeError("the device server's worker thread is not running")
        return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(spec.function, **kwargs))

    # --- errors ---------------------------------------------------------------------------

    async def _on_device_error(self, request: Request, error: _DeviceError) -> JSONResponse:
        return _error_response(error)

    async def _on_validation_error(self, request: Request, error: RequestValidationError) -> JSONResponse:
        task_name = _task_name_of(request)
        problems = _field_problems(error.errors(), body_prefix=True)
        if any(p.type == "json_invalid" for p in problems):
            return _error_response(_DeviceError(400, "bad_request", "the body is not valid JSON", task_name))
        return _error_response(_bad_parameters(task_name, problems))

    async def _on_http_exception(self, request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(error.status_code, "http_error")
        return _error_response(_DeviceError(error.status_code, code, str(error.detail),
                                            headers=getattr(error, "headers", None)))

    async def _on_unexpected_error(self, request: Request, error: Exception) -> JSONResponse:
        log.error("internal error serving %s %s", request.method, request.url.path, exc_info=error)
        return _error_response(_DeviceError(500, "internal_error", f"{type(error).__name__}: {error}",
                                            _task_name_of(request)))


def _check_finite(result: Any) -> None:
    """Raise ValueError if ``result`` holds a nan or an infinity: JSON has neither.

    Sent as they are, pydantic would turn them into ``null`` (``ser_json_inf_nan``), a wrong
    number the caller cannot tell from a real null; the call fails instead.

    Plain JSON data (dicts with string keys, lists, tuples, str, int, bool, float, None: what tasks
    return) is checked as it is; anything else is first encoded with ``jsonable_encoder``, which
    copies what it walks: for a typical result ~10x the cost of the check, on every call.
    """
    stack = [result]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is float:
            if not math.isfinite(value):
                raise ValueError(f"the result holds {value}, which JSON cannot carry")
        elif kind is str or kind is int or kind is bool or value is None:
            pass
        elif kind is list or kind is tuple:
            stack.extend(value)
        elif kind is dict and all(type(key) is str for key in value):
            stack.extend(value.values())
        else:  # float subclasses, models, dataclasses, enums, dicts with other keys...
            _check_encoded_finite(jsonable_encoder(value))


def _check_encoded_finite(encoded: Any) -> None:
    """:func:`_check_finite` for a value already through ``jsonable_encoder``."""
    stack = [encoded]
    while stack:
        value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"the result holds {value}, which JSON cannot carry")
        if isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())


def _listening_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: uvicorn writes a response's head and body separately,
        # and with Nagle the body waits for the client's delayed ACK (~40 ms per keep-alive request).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        # Listening now: connections made before uvicorn's accept loop starts wait in the backlog.
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}; pick another port or use 0") from None
    return sock


def _success_model(spec: TaskSpec) -> type[BaseModel]:
    camel = "".join(part.capitalize() for part in spec.name.split("_"))
    # Literals built at run time: the schema then names the one task and status this route returns.
    task_name_type: Any = Literal[spec.name]
    success_type: Any = Literal["success"]
    model: type[BaseModel] = create_model(
        f"{camel}Success",
        task_name=(task_name_type, spec.name),
        parameters=(spec.parameters_model, ...),
        status=(success_type, "success"),
        result=(spec.result_type, ...),
    )
    return model


def _unknown_task(task_name: str, known: Sequence[str]) -> _DeviceError:
    return _DeviceError(404, "unknown_task", f"no task {task_name!r} on this device; tasks: {', '.join(known)}",
                        task_name)


def _bad_parameters(task_name: str | None, problems: list[FieldProblem]) -> _DeviceError:
    summary = "; ".join(f"{p.field or 'body'}: {p.message}" for p in problems)
    return _DeviceError(422, "bad_parameters", summary or "invalid parameters", task_name, details=problems)


def _field_problems(errors: Sequence[Any], *, body_prefix: bool) -> list[FieldProblem]:
    problems = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if body_prefix and loc and loc[0] == "body":
            loc = loc[1:]
        problems.append(FieldProblem(field=".".join(loc), message=str(error.get("msg", "")),
                                     type=str(error.get("type", ""))))
    return problems


def _task_name_of(request: Request) -> str | None:
    if "task_name" in request.path_params:
        return str(request.path_params["task_name"])
    route = request.scope.get("route")
    if request.url.path.startswith("/tasks/") and route is not None:
        return str(getattr(route, "name", "")) or None
    return None
