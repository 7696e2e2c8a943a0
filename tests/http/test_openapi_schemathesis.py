"""The OpenAPI schema tells the truth: schemathesis fuzzes a running server from it.

Every operation gets schema-valid generated requests; the server must answer without a 5xx,
with a documented status code and content type, and with a body matching the schema.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from http_testkit import ThreadedServer, well_behaved_registry
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from labtwin.orchestrator.device_server import DeviceServer

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 15
OPERATIONS = [("GET", "/"), ("GET", "/tasks"), ("POST", "/execute/{task_name}")] + [
    ("POST", f"/tasks/{spec.name}") for spec in well_behaved_registry()]


@pytest.fixture(scope="module")
def served_schema() -> Iterator[tuple[Any, dict[str, str]]]:
    token = secrets.token_urlsafe(16)
    with ThreadedServer(DeviceServer(well_behaved_registry(), auth_token=token)) as served:
        yield schemathesis.openapi.from_url(f"{served.url}/openapi.json"), {"Authorization": f"Bearer {token}"}


def test_the_schema_is_valid_openapi_3_1(served_schema: tuple[Any, dict[str, str]]) -> None:
    schema, _ = served_schema
    assert schema.raw_schema["openapi"].startswith("3.1")
    assert {f"{method} {path}" for method, path in OPERATIONS} <= {
        f"{method.upper()} {path}" for path, item in schema.raw_schema["paths"].items() for method in item}


@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_generated_requests_get_schema_conformant_answers(served_schema: tuple[Any, dict[str, str]],
                                                          method: str, path: str) -> None:
    schema, auth = served_schema
    operation = schema[path][method]

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def answers_conform(case: Any) -> None:
        case.call_and_validate(headers=auth, checks=CHECKS)

    answers_conform()
