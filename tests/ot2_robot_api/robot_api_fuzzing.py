"""Real values for schemathesis runs against the robot API twin (test_openapi_fuzz.py, test_openapi_every_check.py).

Generated values alone mostly bounce off the first check (a random ``runId`` is a 404, a random upload is not
a protocol), so hypothesis also gets to use real ones: ids that exist in the twin right now, real commands and
actions, and uploads whose files have names a protocol reader accepts. Each module fuzzes a twin of its own,
checked when the module is done with it (:func:`twin_checked_at_the_end`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from robot_api_testkit import (
    FAILING_PROTOCOL,
    OK_PROTOCOL,
    TERMINAL,
    RobotApiClient,
    RobotApiProcess,
    robot_api_client,
    robot_api_process,
)
from schemathesis.core.parameters import ParameterLocation
from urllib3 import encode_multipart_formdata

__all__ = ["BACKGROUND_FAILURES", "COMMANDS", "MAX_WAIT_MS", "MOSTLY", "OPERATIONS", "PARENTS_FIRST",
           "UPLOAD_CONTENTS", "UPLOAD_NAMES", "RealIds", "cap_the_wait", "twin_checked_at_the_end",
           "twin_output_on_failure", "upload_kwargs", "with_real_values"]

MAX_WAIT_MS = 500
"""Cap on the ``timeout`` of ``POST /runs/{runId}/commands?waitUntilComplete=true``: a protocol command waits
for its run to be played, and without a ``timeout`` it waits forever (as on the robot)."""

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

BACKGROUND_FAILURES = ("the run's engine raised", "stopping a run on close", "analysing protocol")
"""How the twin logs a failure outside any request (its own ``log.exception`` messages)."""
PARENTS_FIRST = ["protocolId", "runId", "analysisId", "commandId"]
"""Path parameters in the order they are made real: an analysis or command only exists under its parent."""


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


def cap_the_wait(case: Any, limit_ms: int = MAX_WAIT_MS) -> None:
    """Give a ``waitUntilComplete`` command request a ``timeout`` of at most ``limit_ms``.

    A timeout that is not a positive integer is left alone: the request is refused (422) before any wait.
    """
    if isinstance(case.query, dict) and case.query.get("waitUntilComplete") in (True, "true"):
        timeout = case.query.get("timeout")
        if isinstance(timeout, str) and timeout.isascii() and timeout.isdigit():
            timeout = int(timeout)  # the coverage phase sends query values as text
        if timeout is None or (isinstance(timeout, int) and timeout > limit_ms):
            case.query["timeout"] = limit_ms


def upload_kwargs(case: Any, files: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Transport arguments that send ``files`` (named) and the case's ``key`` as a ``POST /protocols`` upload.

    The multipart body replaces the case's generated one on the wire: schemathesis tells a caller's body from
    its own, and its checks then judge the request by the parts of the case that were sent.
    """
    key = case.body.get("key") if isinstance(case.body, dict) else None
    fields = [("files", file) for file in files] + ([("key", key)] if isinstance(key, str) else [])
    body, content_type = encode_multipart_formdata(fields)
    case.headers = {**(case.headers or {}), "Content-Type": content_type}
    return {"data": body}


def _pick(data: st.DataObject, values: list[str], label: str) -> str | None:
    """One of ``values`` (None if there is none) 3 times out of 4, else None.

    The draws do not depend on ``values``: which ids exist changes between replays of an example, and
    hypothesis refuses an example whose draws change shape (FlakyStrategyDefinition).
    """
    use = data.draw(MOSTLY, label=f"real {label}")
    index = data.draw(st.integers(0, 255), label=label)
    return values[index % len(values)] if use and values else None


def with_real_values(case: Any, ids: RealIds, data: st.DataObject) -> dict[str, Any]:
    """Let hypothesis swap generated ids and enum-like body fields of ``case`` for real ones.

    Returns the transport arguments to send the case with: an upload with real file names, or nothing. A part
    of the case that was generated invalid (a negative case's) is left as it is: a real value could make it
    valid, and the checks would still judge the request as an invalid one.
    """
    negated = {location for location in (ParameterLocation.PATH, ParameterLocation.BODY)
               if case.meta is not None and case.meta.is_negative_at(location)}
    order = {name: index for index, name in enumerate(PARENTS_FIRST)}
    for name in sorted(case.path_parameters or {}, key=lambda name: order.get(name, len(order))):
        real = _pick(data, ids.of(name, case.path_parameters), name)
        if real is not None and ParameterLocation.PATH not in negated:
            case.path_parameters[name] = real
    cap_the_wait(case)
    if ParameterLocation.BODY in negated:
        return {}
    operation = (case.method.upper(), case.path)
    if operation == ("POST", "/protocols") and isinstance(case.body, dict) and data.draw(MOSTLY, label="named files"):
        files = data.draw(st.lists(st.tuples(UPLOAD_NAMES, UPLOAD_CONTENTS), max_size=3), label="files")
        return upload_kwargs(case, files)
    body = case.body.get("data") if isinstance(case.body, dict) else None
    if not isinstance(body, dict):
        return {}
    if operation == ("POST", "/runs"):
        protocol_id = _pick(data, ids.protocol_ids, "protocolId")
        if protocol_id is not None:
            body["protocolId"] = protocol_id
    elif operation == ("POST", "/runs/{runId}/actions") and data.draw(MOSTLY, label="real actionType"):
        body["actionType"] = data.draw(st.sampled_from(["play", "pause", "stop"]), label="actionType")
    elif operation == ("POST", "/runs/{runId}/commands") and data.draw(MOSTLY, label="real command"):
        body.update(data.draw(st.sampled_from(COMMANDS), label="command"))
    return {}


@contextlib.contextmanager
def twin_checked_at_the_end(work_dir: Path) -> Iterator[RobotApiProcess]:
    """A fuzzing module's own twin (delays 1000x faster), checked when the module is done with it.

    A fixture's finalizer, so it holds in any test order: the twin still answers, and once it has
    stopped, its whole output (read to the end) shows no failure outside a request (a run's engine,
    an analysis, closing a run), which no response would show.
    """
    with robot_api_process("--delay-speedup", "1000", work_dir=work_dir) as twin:
        yield twin
        with robot_api_client(twin.url) as api:
            assert api.http.get("/health").status_code == 200, "the twin stopped answering"
    assert twin.output_ended.is_set(), "the twin's output was not read to its end"
    failures = [line for line in twin.output if line.startswith(BACKGROUND_FAILURES)]
    assert not failures, "\n".join(twin.output)


@contextlib.contextmanager
def twin_output_on_failure(twin: RobotApiProcess) -> Iterator[None]:
    """Add what the twin printed meanwhile (its traceback, if any) to a failure."""
    seen = len(twin.output)
    try:
        yield
    except (Exception, BaseExceptionGroup) as failure:  # schemathesis' FailureGroup is a BaseExceptionGroup
        time.sleep(0.2)  # let the twin's traceback reach its output
        failure.add_note("twin output meanwhile:\n" + "\n".join(twin.output[seen:]))
        raise
