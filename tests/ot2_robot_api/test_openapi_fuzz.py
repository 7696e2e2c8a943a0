"""Schemathesis fuzzes every operation of the robot API twin's own OpenAPI document: no input gets a 5xx.

The twin's ``/openapi.json`` (fetched with ``Opentrons-Version: *``; the ``/labtwin/*`` control routes are
left out of it on purpose) drives the generation. :data:`OPERATIONS` lists its operations explicitly (one
test each, so a failure names its route) and a test keeps that list equal to the document's. For each
operation hypothesis sends a fixed, derandomized budget of requests, schema-valid (positive) and
schema-violating (negative) ones 2:1, with ``Opentrons-Version: *`` pinned so that they get past the
version check and reach the route. An operation with nothing to vary (``GET /health``) is sent once.

Generated values alone would mostly bounce off the first check, so hypothesis also gets to use real ones
(robot_api_fuzzing.py, shared with test_openapi_every_check.py):

* before each request the test makes sure the twin has an idle current run (with one finished command)
  and an uploaded protocol; a generated ``runId``, ``protocolId``, ``analysisId`` or ``commandId`` may be
  swapped for one that exists, a new run's ``protocolId`` for a real protocol, an action's ``actionType``
  for ``play``/``pause``/``stop``, and a command for a real one (:data:`COMMANDS`);
* schemathesis names each uploaded file after its form field (``files``), which no protocol reader
  accepts, so ``POST /protocols`` may instead get files named and filled by hypothesis
  (:data:`UPLOAD_NAMES`, :data:`UPLOAD_CONTENTS`): real, broken, wrong-robot and junk protocols, odd names.

A run that a request set going is stopped before the next request, so no example finds the twin wedged by
an earlier one. ``waitUntilComplete`` waits are capped at :data:`MAX_WAIT_MS`: a protocol command waits
for its run to be played, and without a ``timeout`` it waits forever (as on the robot).

What every response must satisfy:

* ``not_a_server_error``: never a 5xx, the issue's requirement (junk uploads included: they must be 422);
* ``content_type_conformance`` and ``response_schema_conformance``: JSON as documented. Most routes
  declare a loose ``dict[str, Any]`` body, so for them this checks little more than "a JSON object";
* ``status_code_conformance``: a status the operation documents. The document declares each route's
  error statuses (400, 404, 409, 422) with the error body of its route family.

When the module is done, its twin's fixture checks that nothing failed in the background (a run's engine, an
analysis), which no response would show. The twin is this module's own process, so what the fuzzing leaves
behind stays here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from robot_api_fuzzing import (
    OPERATIONS,
    RealIds,
    twin_checked_at_the_end,
    twin_output_on_failure,
    with_real_values,
)
from robot_api_testkit import LATEST, RobotApiClient, RobotApiProcess, robot_api_client
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 25
REQUEST_TIMEOUT_S = 10.0



@pytest.fixture(scope="module")
def fuzzed_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RobotApiProcess]:
    """This module's own twin (delays 1000x faster); at the end, nothing may have failed in its background."""
    with twin_checked_at_the_end(tmp_path_factory.mktemp("robot-api-fuzz")) as process:
        yield process


@pytest.fixture(scope="module")
def schema(fuzzed_twin: RobotApiProcess) -> Any:
    return schemathesis.openapi.from_url(f"{fuzzed_twin.url}/openapi.json", headers=LATEST, timeout=30)


@pytest.fixture(scope="module")
def twin_client(fuzzed_twin: RobotApiProcess) -> Iterator[RobotApiClient]:
    with robot_api_client(fuzzed_twin.url) as api:
        yield api


def test_the_operation_list_is_the_schemas(schema: Any) -> None:
    assert schema.raw_schema["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, item in schema.raw_schema["paths"].items() for method in item}
    assert documented == set(OPERATIONS)
    assert not any(path.startswith("/labtwin/") for _, path in documented)


@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{method} {path}" for method, path in OPERATIONS])
def test_generated_requests_get_no_server_error(schema: Any, fuzzed_twin: RobotApiProcess,
                                                twin_client: RobotApiClient, method: str, path: str) -> None:
    operation = schema[path][method]
    documented = {int(status) for status in operation.definition.raw["responses"] if status.isdigit()}
    ids = RealIds(twin_client)
    positive = operation.as_strategy(GenerationMode.POSITIVE, headers=LATEST)
    cases = st.one_of(positive, positive, operation.as_strategy(GenerationMode.NEGATIVE, headers=LATEST))  # 2:1

    # No shrinking: each step would replay requests against a twin whose state has moved on, and a
    # failure already shows its request as a curl command.
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=cases, data=st.data())
    def answers_without_server_error(case: Any, data: st.DataObject) -> None:
        with twin_output_on_failure(fuzzed_twin):
            ids.prepare()
            upload = with_real_values(case, ids, data)
            response = case.call(headers=LATEST, timeout=REQUEST_TIMEOUT_S, **upload)
            case.validate_response(response, checks=CHECKS, headers=LATEST)
            assert response.status_code in documented, f"undocumented status {response.status_code}: {response.text}"

    try:
        answers_without_server_error()
    finally:
        twin_client.finish_current_run()
