"""Schemathesis fuzzes every operation of the robot API twin's own OpenAPI document: no input gets a 5xx.

The twin's ``/openapi.json`` (fetched with ``Opentrons-Version: *``; the ``/labtwin/*`` control routes are
left out of it on purpose) drives the generation. :data:`OPERATIONS` lists its operations explicitly (one
test each, so a failure names its route) and a test keeps that list equal to the document's. For each
operation hypothesis sends a fixed, derandomized budget of requests, schema-valid (positive) and
schema-violating (negative) ones 2:1, with ``Opentrons-Version: *`` pinned so that they get past the
version check and reach the route. An operation with nothing to vary (``GET /health``) is sent once.

Generated values alone would mostly bounce off the first check, so hypothesis also gets to use real ones:

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

A last test checks that nothing failed in the background (a run's engine, an analysis), which no response
would show. The twin is this module's own process, so what the fuzzing leaves behind stays here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from robot_api_testkit import (
    FAILING_PROTOCOL,
    LATEST,
    OK_PROTOCOL,
    TERMINAL,
    RobotApiClient,
    RobotApiProcess,
    robot_api_process,
)
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from urllib3 import encode_multipart_formdata

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 25
REQUEST_TIMEOUT_S = 10.0
MAX_WAIT_MS = 500
"""Cap on the ``timeout`` of ``POST /runs/{runId}/commands?waitUntilComplete=true``."""

OPERATIONS = [
    ("GET", "/health"),
    ("GET", "/robot/lights"),
    ("POST", "/robot/lights"),
    ("GET", "/instruments"),
    ("GET", "/pipettes"),
    ("GET", "/modules"),
    ("POST", "/robot/home"),
    ("POST", "/protocols"),
    ("GET", "/protocols"),
    ("GET", "/protocols/{protocolId}"),
    ("DELETE", "/protocols/{protocolId}"),
    ("GET", "/protocols/{protocolId}/analyses"),
    ("GET", "/protocols/{protocolId}/analyses/{analysisId}"),
    ("POST", "/runs"),
    ("GET", "/runs"),
    ("GET", "/runs/{runId}"),
    ("PATCH", "/runs/{runId}"),
    ("DELETE", "/runs/{runId}"),
    ("POST", "/runs/{runId}/actions"),
    ("GET", "/runs/{runId}/commands"),
    ("POST", "/runs/{runId}/commands"),
    ("GET", "/runs/{runId}/commands/{commandId}"),
    ("POST", "/runs/{runId}/labware_offsets"),
    ("POST", "/runs/{runId}/labware_definitions"),
]
"""Every operation of the twin's OpenAPI document (a test keeps this list equal to the document's)."""

COMMANDS = [
    {"commandType": "home", "params": {}},
    {"commandType": "comment", "params": {"message": "fuzz"}},
    {"commandType": "waitForDuration", "params": {"seconds": 0.01}},
    {"commandType": "setRailLights", "params": {"on": True}},
    {"commandType": "loadPipette", "params": {"pipetteName": "p300_single_gen2", "mount": "right"}},
    {"commandType": "loadLabware", "params": {"loadName": "opentrons_96_tiprack_300ul", "namespace": "opentrons",
                                              "version": 1, "location": {"slotName": "1"}}},
]
"""Real commands, quick to run, which hypothesis may send instead of generated ones (keeping their intent)."""

UPLOAD_NAMES = st.one_of(
    st.sampled_from(["protocol.py", "protocol.json", "labware.json", "README", ".py", "", "..", "../../escape.py",
                     "dir\\inside.py", "nul\x00byte.py", "x" * 300 + ".py", "ünïcode.py"]),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20).map(lambda stem: stem + ".py"))
"""Upload file names: schemathesis names every file part after its field (``files``), which no reader takes."""
UPLOAD_CONTENTS = st.one_of(
    st.sampled_from([OK_PROTOCOL, FAILING_PROTOCOL, b"def run(ctx):\n    pass\n", b"{}", b'{"schemaVersion": 2}',
                     b'requirements = {"robotType": "Flex", "apiLevel": "2.20"}\ndef run(ctx):\n    pass\n']),
    st.binary(max_size=64))
"""Upload contents: real, broken, wrong-robot and junk protocols and labware."""

MOSTLY = st.integers(0, 3).map(bool)
"""True 3 times out of 4: how often a real value replaces a generated one."""
BACKGROUND_FAILURES = ("the run's engine raised", "stopping a run on close", "analysing protocol")
"""How the twin logs a failure outside any request (its own ``log.exception`` messages)."""
PARENTS_FIRST = ["protocolId", "runId", "analysisId", "commandId"]
"""Path parameters in the order they are made real: an analysis or command only exists under its parent."""


@pytest.fixture(scope="module")
def fuzzed_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RobotApiProcess]:
    """This module's own twin (delays 1000x faster)."""
    with robot_api_process("--delay-speedup", "1000", work_dir=tmp_path_factory.mktemp("robot-api-fuzz")) as process:
        yield process


@pytest.fixture(scope="module")
def schema(fuzzed_twin: RobotApiProcess) -> Any:
    return schemathesis.openapi.from_url(f"{fuzzed_twin.url}/openapi.json", headers=LATEST, timeout=30)


@pytest.fixture(scope="module")
def twin_client(fuzzed_twin: RobotApiProcess) -> Iterator[RobotApiClient]:
    api = RobotApiClient(fuzzed_twin.url)
    try:
        yield api
    finally:
        api.close()


class RealIds:
    """What exists in the twin right now, so that generated requests can also get past the 404s."""

    KEEP_RUNS = 3
    """Runs kept between requests (``GET /runs`` summarises every run, which gets slow with many)."""

    def __init__(self, api: RobotApiClient) -> None:
        self.api = api
        self.run_ids: list[str] = []
        self.protocol_ids: list[str] = []

    def prepare(self) -> None:
        """Stop whatever the last request set going; make sure there are an idle current run and a protocol."""
        runs = self.api.http.get("/runs").json()["data"]
        current = next((run for run in runs if run["current"]), None)
        if current is not None and current["status"] not in TERMINAL | {"idle"}:
            self.api.finish_current_run()
            current = None
        if current is None or current["status"] in TERMINAL:
            current = self.api.create_run()
            # One finished command, so that commandId has a real value too.
            response = self.api.http.post(f"/runs/{current['id']}/commands", params={"waitUntilComplete": True},
                                          json={"data": {**COMMANDS[1], "intent": "setup"}})
            assert response.status_code == 201, response.text
        others = [run["id"] for run in runs if run["id"] != current["id"]]
        kept = others[len(others) - (self.KEEP_RUNS - 1):] if len(others) >= self.KEEP_RUNS else others
        for run_id in others:
            if run_id not in kept:
                response = self.api.http.delete(f"/runs/{run_id}")
                assert response.status_code == 200, response.text
        # The current run twice: only it takes actions and commands, so it is the one worth hitting most.
        self.run_ids = [current["id"], current["id"], *kept]
        self.protocol_ids = [protocol["id"] for protocol in self.api.http.get("/protocols").json()["data"]]
        if not self.protocol_ids:
            self.protocol_ids = [self.api.upload(OK_PROTOCOL)["id"]]

    def of(self, name: str, path_parameters: dict[str, Any]) -> list[str]:
        """The real values of path parameter ``name``, given the request's (already chosen) parent ids."""
        if name == "runId":
            return self.run_ids
        if name == "protocolId":
            return self.protocol_ids
        if name == "analysisId":
            response = self.api.http.get(f"/protocols/{path_parameters['protocolId']}/analyses")
        elif name == "commandId":
            response = self.api.http.get(f"/runs/{path_parameters['runId']}/commands", params={"pageLength": 100})
        else:
            raise AssertionError(f"no real values known for path parameter {name!r}")
        return [item["id"] for item in response.json()["data"]] if response.status_code == 200 else []


def with_real_values(case: Any, ids: RealIds, data: st.DataObject) -> None:
    """Let hypothesis swap generated ids and enum-like body fields of ``case`` for real ones."""
    order = {name: index for index, name in enumerate(PARENTS_FIRST)}
    for name in sorted(case.path_parameters or {}, key=lambda name: order.get(name, len(order))):
        real = ids.of(name, case.path_parameters)
        if not real:
            continue
        if data.draw(MOSTLY, label=f"real {name}"):
            case.path_parameters[name] = data.draw(st.sampled_from(real), label=name)
    if isinstance(case.query, dict) and case.query.get("waitUntilComplete") in (True, "true"):
        timeout = case.query.get("timeout")
        if timeout is None or (isinstance(timeout, int) and timeout > MAX_WAIT_MS):
            case.query["timeout"] = MAX_WAIT_MS
    operation = (case.method.upper(), case.path)
    if operation == ("POST", "/protocols") and isinstance(case.body, dict) and data.draw(MOSTLY, label="named files"):
        files = data.draw(st.lists(st.tuples(UPLOAD_NAMES, UPLOAD_CONTENTS), max_size=3), label="files")
        key = case.body.get("key")
        fields = [("files", file) for file in files] + ([("key", key)] if isinstance(key, str) else [])
        case.body, content_type = encode_multipart_formdata(fields)
        case.headers["Content-Type"] = content_type
        return
    body = case.body.get("data") if isinstance(case.body, dict) else None
    if not isinstance(body, dict):
        return
    if operation == ("POST", "/runs") and data.draw(MOSTLY, label="real protocolId"):
        body["protocolId"] = data.draw(st.sampled_from(ids.protocol_ids), label="protocolId")
    elif operation == ("POST", "/runs/{runId}/actions") and data.draw(MOSTLY, label="real actionType"):
        body["actionType"] = data.draw(st.sampled_from(["play", "pause", "stop"]), label="actionType")
    elif operation == ("POST", "/runs/{runId}/commands") and data.draw(MOSTLY, label="real command"):
        body.update(data.draw(st.sampled_from(COMMANDS), label="command"))


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
        seen = len(fuzzed_twin.output)
        try:
            ids.prepare()
            with_real_values(case, ids, data)
            response = case.call(headers=LATEST, timeout=REQUEST_TIMEOUT_S)
            case.validate_response(response, checks=CHECKS, headers=LATEST)
            assert response.status_code in documented, f"undocumented status {response.status_code}: {response.text}"
        except (Exception, BaseExceptionGroup) as failure:  # schemathesis' FailureGroup is a BaseExceptionGroup
            time.sleep(0.2)  # let the twin's traceback, if any, reach its output
            failure.add_note("twin output meanwhile:\n" + "\n".join(fuzzed_twin.output[seen:]))
            raise

    try:
        answers_without_server_error()
    finally:
        twin_client.finish_current_run()


def test_the_twin_survived_with_nothing_failing_in_the_background(fuzzed_twin: RobotApiProcess,
                                                                  twin_client: RobotApiClient) -> None:
    """Runs last. A failure in a run's engine or an analysis never reaches a response, only the twin's log."""
    assert twin_client.http.get("/health").status_code == 200
    time.sleep(0.2)
    failures = [line for line in fuzzed_twin.output if line.startswith(BACKGROUND_FAILURES)]
    assert not failures, "\n".join(fuzzed_twin.output)
