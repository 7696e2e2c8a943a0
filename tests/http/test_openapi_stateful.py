"""Issue #8: schemathesis with every check, and the stateful phase, over the HTTP task server.

The per-operation test in test_openapi_schemathesis.py runs four response checks on positive
data. Here every check of ``schemathesis.checks`` that applies to this API runs on positive and
negative data and on the coverage phase's cases (``ignored_auth`` included: the token must really
be enforced), then the stateful state machine chains calls through OpenAPI links. Explicit tests
cover what generated data never reaches: bodies that Python's ``json`` accepts but JSON does not
(``NaN``, ``Infinity``, ``1e400``, unpaired surrogates). Those once reached tasks typed ``Any``,
and an unpaired surrogate sent to a ``str`` parameter made an unencodable response: 500.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from http_testkit import ThreadedServer, well_behaved_registry
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    max_response_time,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

from labtwin.orchestrator.device_server import DeviceServer
from labtwin.orchestrator.http_tasks import TaskRegistry

# Every check schemathesis 4 registers, except object_level_authorization (it needs a second
# identity; this server has one token and no per-user objects).
ALL_CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
    response_schema_conformance, negative_data_rejection, positive_data_acceptance, missing_required_header,
    unsupported_method, allow_header_conformance, use_after_free, ensure_resource_availability, ignored_auth,
    max_response_time,
]
# The generic route's body schema is "any object": which keys a task takes depends on the path's
# task name, which the schema cannot say (that is what the typed /tasks/{name} routes are for).
# A schema-valid body for the wrong task is a documented 422 there, so positive_data_acceptance
# (which wants 2xx) does not apply to that one operation; every other check does.
GENERIC_ROUTE = "/execute/{task_name}"


def checks_for(case: Any) -> list[Any]:
    if case.operation.path == GENERIC_ROUTE:
        return [check for check in ALL_CHECKS if check is not positive_data_acceptance]
    return ALL_CHECKS


def auth_for(case: Any, auth: dict[str, str]) -> dict[str, str] | None:
    """The token to add to a case, unless the case negates its headers: a negative case may drop
    or mangle ``Authorization`` on purpose, and adding the token back would undo its negation."""
    if case.meta is None or not case.meta.is_negative_at(ParameterLocation.HEADER):
        return auth
    # The coverage phase also negates Content-Type; those cases must reach the body parser.
    if "Content-Type" in (getattr(case.meta.phase.data, "description", None) or ""):
        return auth
    return None


EXAMPLES_PER_OPERATION_AND_MODE = 150
STATEFUL_SCENARIOS = 100
STATEFUL_STEPS = 12
SLOW_EXAMPLES_PER_OPERATION_AND_MODE = 1500
SLOW_STATEFUL_SCENARIOS = 600
SLOW_STATEFUL_STEPS = 20
TASKS = [spec.name for spec in well_behaved_registry()]
OPERATIONS = [("GET", "/"), ("GET", "/tasks"), ("POST", "/execute/{task_name}")] + [
    ("POST", f"/tasks/{name}") for name in TASKS]
TASK_ROUTES = [f"/tasks/{name}" for name in TASKS] + [f"/execute/{name}" for name in TASKS]
CASES_RUN: dict[str, int] = {}


def _ref(path: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/post"


def with_links(raw: dict[str, Any]) -> dict[str, Any]:
    """The served schema plus OpenAPI links, so the stateful phase chains real calls.

    Task names flow from ``GET /`` and ``GET /tasks`` into ``/execute/{task_name}``; a success's
    ``parameters`` are sent again (after validation they must still be valid, on either route);
    results feed the next call (``add`` into ``add``, ``echo`` into ``greet``, ``scale`` into ``scale``).
    """
    paths = raw["paths"]

    def link(path: str, method: str, name: str, target: str, **fields: Any) -> None:
        links = paths[path][method]["responses"]["200"].setdefault("links", {})
        links[name] = {"operationRef": _ref(target), **fields}

    for i in range(len(TASKS)):
        link("/", "get", f"RunListedTask{i}", "/execute/{task_name}",
             parameters={"task_name": f"$response.body#/available_tasks/{i}"})
    for name in TASKS:
        link("/tasks", "get", f"RunCatalogued_{name}", "/execute/{task_name}",
             parameters={"task_name": f"$response.body#/{name}/name"})
        link(f"/tasks/{name}", "post", "RunAgainGenerically", "/execute/{task_name}",
             parameters={"task_name": "$response.body#/task_name"}, requestBody="$response.body#/parameters")
        link(f"/tasks/{name}", "post", "RunAgainTyped", f"/tasks/{name}", requestBody="$response.body#/parameters")
    link("/execute/{task_name}", "post", "RunAgain", "/execute/{task_name}",
         parameters={"task_name": "$response.body#/task_name"}, requestBody="$response.body#/parameters")
    link("/tasks/add", "post", "AddToTheSum", "/tasks/add", requestBody={"a": "$response.body#/result"})
    link("/tasks/echo", "post", "GreetTheEcho", "/tasks/greet", requestBody={"name": "$response.body#/result"})
    link("/tasks/scale", "post", "ScaleAgain", "/tasks/scale",
         requestBody={"values": "$response.body#/result/values"})
    return raw


class Served:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.schema: Any = schemathesis.openapi.from_url(f"{url}/openapi.json")
        raw = with_links(httpx.get(f"{url}/openapi.json").json())
        self.linked_schema: Any = schemathesis.openapi.from_dict(raw)
        self.linked_schema.location = f"{url}/openapi.json"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    token = secrets.token_urlsafe(16)
    with ThreadedServer(DeviceServer(well_behaved_registry(), auth_token=token)) as server:
        yield Served(server.url, token)


@pytest.fixture(scope="module")
def client(served: Served) -> Iterator[httpx.Client]:
    """A keep-alive client: a fresh connection per request costs ~20 ms here."""
    with httpx.Client(base_url=served.url) as client:
        yield client


def _count(kind: str) -> None:
    CASES_RUN[kind] = CASES_RUN.get(kind, 0) + 1


# --- generated requests, every check -------------------------------------------------------

def run_generated(served: Served, method: str, path: str, mode: GenerationMode, examples: int) -> None:
    operation = served.schema[path][method]

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def passes_every_check(case: Any) -> None:
        _count(mode.value)
        case.call_and_validate(headers=auth_for(case, served.auth), checks=checks_for(case))

    passes_every_check()


MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
OPERATION_IDS = [f"{m} {p}" for m, p in OPERATIONS]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@pytest.mark.parametrize("method,path", OPERATIONS, ids=OPERATION_IDS)
def test_generated_requests_pass_every_check(served: Served, method: str, path: str, mode: GenerationMode) -> None:
    run_generated(served, method, path, mode, EXAMPLES_PER_OPERATION_AND_MODE)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@pytest.mark.parametrize("method,path", OPERATIONS, ids=OPERATION_IDS)
def test_many_generated_requests_pass_every_check(served: Served, method: str, path: str,
                                                  mode: GenerationMode) -> None:
    run_generated(served, method, path, mode, SLOW_EXAMPLES_PER_OPERATION_AND_MODE)


@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_coverage_phase_requests_pass_every_check(served: Served, method: str, path: str) -> None:
    """The coverage phase: boundary values, missing required headers, unexpected methods."""
    schema = served.schema
    operation = schema[path][method]
    cases = schema.iter_coverage_cases(operation, generation_modes=list(GenerationMode),
                                       generation_config=schema.config.generation_for(operation=operation,
                                                                                      phase="coverage"))
    for case in cases:
        _count("coverage")
        case.call_and_validate(headers=auth_for(case, served.auth), checks=checks_for(case))


def run_stateful(served: Served, scenarios: int, steps: int) -> None:
    base = served.linked_schema.as_state_machine()
    auth = served.auth

    class DeviceStateMachine(base):  # type: ignore[misc, valid-type]
        def step(self, input: Any) -> Any:
            _count("stateful")
            if input.transition is not None and input.is_applied:
                _count("stateful, through a link")
            return super().step(input)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            headers = auth_for(case, auth)
            return {} if headers is None else {"headers": headers}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None,
                              **kwargs: Any) -> None:
            # The recorder is where use_after_free and ensure_resource_availability look up earlier steps.
            case.validate_response(response, checks=checks_for(case), transport_kwargs=kwargs or None,
                                   recorder=self.recorder)

    DeviceStateMachine.run(settings=settings(max_examples=scenarios, stateful_step_count=steps, deadline=None,
                                             database=None, suppress_health_check=list(HealthCheck)))


def test_the_stateful_phase_passes_every_check(served: Served) -> None:
    run_stateful(served, STATEFUL_SCENARIOS, STATEFUL_STEPS)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_long_stateful_phase_passes_every_check(served: Served) -> None:
    run_stateful(served, SLOW_STATEFUL_SCENARIOS, SLOW_STATEFUL_STEPS)


def test_enough_cases_ran() -> None:
    """Reports the case counts (-rA shows them); runs after the generated tests above (and, with
    -m slow, after the slow ones: deselect nothing to count them)."""
    if not CASES_RUN:
        pytest.skip("run with the generated tests to count their cases")
    total = sum(count for kind, count in CASES_RUN.items() if kind != "stateful, through a link")
    print(f"cases: {CASES_RUN}, total {total}")
    if {"positive", "negative", "coverage", "stateful"} <= CASES_RUN.keys():
        assert total >= 3000
        assert CASES_RUN.get("stateful, through a link", 0) > 0


# --- auth: every operation, without and with a wrong token -----------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer"}],
                         ids=["no-token", "wrong-token", "other-scheme", "empty-bearer"])
@pytest.mark.parametrize("method,path", [("GET", "/"), ("GET", "/tasks"), ("POST", "/execute/add"),
                                         ("POST", "/execute/nope"), ("POST", "/no/such/route")]
                         + [("POST", route) for route in TASK_ROUTES[:len(TASKS)]])
def test_requests_without_the_token_are_refused(served: Served, method: str, path: str,
                                                headers: dict[str, str]) -> None:
    response = httpx.request(method, served.url + path, headers=headers, json={"a": 1})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_the_token_is_checked_before_the_body_is_parsed(served: Served, client: httpx.Client) -> None:
    for body in (b'{"a": NaN}', b"{", b'{"a": 1}'):
        response = client.post("/tasks/add", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 401, body


def test_a_token_prefix_or_extension_is_refused(served: Served) -> None:
    for token in (served.token[:-1], served.token + "x", served.token.upper() if served.token.upper() != served.token
                  else served.token.lower()):
        response = httpx.get(served.url + "/", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


# --- NaN, Infinity and friends: Python's json accepts them, JSON does not --------------------

NON_STANDARD_VALUES = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", '"\\ud800"', '"a\\udfffb"']


def _raw_bodies() -> list[str]:
    bodies = []
    for value in NON_STANDARD_VALUES:
        bodies += [value, f"[{value}]", f'{{"a": {value}}}', f'{{"values": [1.0, {value}]}}',
                   f'{{"values": [1.0], "factor": {value}}}', f'{{"name": {value}}}', f'{{"text": {value}}}',
                   f'{{"litres": {value}}}', f'{{"a": 1, "b": {value}}}', f'{{"unknown": {{"deep": [{value}]}}}}']
    bodies += ['{"name": "x", "\\ud800": 1}', '{"a": NaN, "b": Infinity}']
    return bodies


@pytest.mark.parametrize("route", TASK_ROUTES)
def test_non_standard_json_bodies_are_refused_on_every_task_route(served: Served, client: httpx.Client,
                                                                 route: str) -> None:
    for content_type in ("application/json", "application/json; charset=utf-8", None):
        headers = {**served.auth, **({"Content-Type": content_type} if content_type else {})}
        for body in _raw_bodies():
            response = client.post(route, content=body.encode(), headers=headers)
            assert response.status_code == 400, (body, response.status_code, response.text)
            error = response.json()
            assert error["status"] == "error"
            assert error["error"]["code"] == "bad_request"
            assert error["task_name"] == route.rsplit("/", 1)[1]


def test_non_standard_json_is_refused_before_any_task_runs() -> None:
    calls: list[Any] = []
    tasks = TaskRegistry()

    @tasks.task
    def anything(x: Any = None, d: dict[str, Any] | None = None) -> Any:
        """Takes any JSON value and returns it."""
        calls.append(x)
        return x if d is None else d

    token = secrets.token_urlsafe(16)
    with ThreadedServer(DeviceServer(tasks, auth_token=token)) as server, httpx.Client(base_url=server.url) as client:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for route in ("/tasks/anything", "/execute/anything"):
            for value in NON_STANDARD_VALUES:
                for body in (f'{{"x": {value}}}', f'{{"d": {{"k": [{value}]}}}}'):
                    response = client.post(route, content=body.encode(), headers=headers)
                    assert response.status_code == 400, (route, body, response.text)
            # Standard JSON still goes through, including finite extremes and paired surrogates.
            for body, expected in [('{"x": 1.7976931348623157e308}', 1.7976931348623157e308),
                                   ('{"x": "\\ud83d\\ude00"}', "\U0001F600"), ('{"x": -0.0}', -0.0),
                                   ('{"x": 1e-400}', 0.0)]:
                response = client.post(route, content=body.encode(), headers=headers)
                assert response.status_code == 200, (route, body, response.text)
                assert response.json()["result"] == expected
    assert not any(isinstance(value, float) and not math.isfinite(value) for value in calls), calls


@pytest.mark.parametrize("body", ["{", '{"a": 1,}', "\xff", '{"a": 1}{"b": 2}', "[" * 100_000])
def test_malformed_bodies_are_400_not_500(served: Served, body: str) -> None:
    headers = {**served.auth, "Content-Type": "application/json"}
    response = httpx.post(served.url + "/execute/add", content=body.encode("utf-8", "surrogatepass"),
                          headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_request"


def test_non_json_content_types_are_not_parsed_as_json(served: Served) -> None:
    headers = {**served.auth, "Content-Type": "text/plain"}
    response = httpx.post(served.url + "/tasks/add", content=b'{"a": NaN}', headers=headers)
    assert 400 <= response.status_code < 500, response.text
