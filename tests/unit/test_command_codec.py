"""Firmware command parsing and result encoding, checked against the CPython protocol module."""

from __future__ import annotations

import json

import command_codec
import pytest
from command_codec import BadRequest
from hypothesis import given
from hypothesis import strategies as st

from labtwin.orchestrator.protocol import Command, DeviceStatus, Result


def test_parses_what_the_orchestrator_sends():
    command = Command("read_sensor", {"sensor_pin": 26})
    assert command_codec.parse_command(command.encode()) == (command.request_id, "read_sensor", {"sensor_pin": 26})


def test_missing_parameters_default_to_empty():
    assert command_codec.parse_command(b'{"request_id": "r1", "task": "t"}') == ("r1", "t", {})


@pytest.mark.parametrize(
    "payload, request_id, task",
    [
        (b"not json", None, ""),
        (b'{"request_id": "r2", "task": ', "r2", ""),
        (b"[1, 2]", None, ""),
        (b'{"task": "t"}', None, ""),
        (b'{"request_id": 7, "task": "t"}', None, ""),
        (b'{"request_id": "r3"}', "r3", ""),
        (b'{"request_id": "r4", "task": "t", "parameters": [1]}', "r4", "t"),
        (b'{"request_id": "' + b"x" * 65 + b'", "task": "t"}', None, ""),
    ],
)
def test_malformed_commands_raise_bad_request_with_recoverable_id(payload, request_id, task):
    with pytest.raises(BadRequest) as info:
        command_codec.parse_command(payload)
    assert info.value.request_id == request_id
    assert info.value.task == task


def test_oversize_payload_recovers_request_id_from_prefix():
    prefix = b'{"request_id" : "big-1", "task": "t", "parameters": {"blob": "'
    with pytest.raises(BadRequest, match="larger than 4096") as info:
        command_codec.parse_command(prefix, oversize=True)
    assert info.value.request_id == "big-1"


def test_escaped_request_id_is_not_guessed():
    assert command_codec.recover_request_id(b'{"request_id": "a\\"b", ') is None


@given(st.binary(max_size=300))
def test_parse_never_raises_anything_but_bad_request(payload):
    try:
        command_codec.parse_command(payload)
    except BadRequest:
        pass


@given(st.text(min_size=1, max_size=64), st.text(min_size=1, max_size=40),
       st.dictionaries(st.text(max_size=10), st.integers() | st.booleans() | st.text(max_size=10), max_size=4))
def test_round_trip_with_orchestrator_command(request_id, task, parameters):
    payload = Command(task, parameters, request_id=request_id).encode()
    assert command_codec.parse_command(payload) == (request_id, task, parameters)


def test_success_payload_decodes_as_result():
    result = Result.decode(command_codec.success_payload("dev", "r1", "t", {"v": 1.5}))
    assert (result.ok, result.request_id, result.device_id, result.result) == (True, "r1", "dev", {"v": 1.5})


def test_error_payload_decodes_as_result():
    result = Result.decode(command_codec.error_payload("dev", "r1", "t", "bad_parameters", "missing 'pin'"))
    assert (result.ok, result.error_code, result.error_message) == (False, "bad_parameters", "missing 'pin'")


def test_status_payload_decodes_as_device_status():
    status = DeviceStatus.decode(command_codec.status_payload("dev", "online", "0.1.0", "pico_w", "1a2b3c4d",
                                                              {"t": {}}))
    assert (status.online, status.firmware, status.protocol, status.tasks, status.boot) == (
        True, "0.1.0", 1, {"t": {}}, "1a2b3c4d")
    offline = json.loads(command_codec.status_payload("dev", "offline", "0.1.0", "pico_w", "1a2b3c4d"))
    assert "tasks" not in offline and offline["boot"] == "1a2b3c4d"


@pytest.mark.parametrize("result", [float("inf"), [1.0, float("-inf")], {"a": {"b": (float("nan"),)}}])
def test_a_result_holding_inf_or_nan_is_refused_not_encoded(result):
    # MicroPython's json would write bare inf/nan: no parser accepts that, so the result would be lost.
    with pytest.raises(ValueError, match="JSON cannot carry"):
        command_codec.success_payload("dev", "r1", "t", result)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20))
def test_finite_results_encode_as_standard_json(result):
    payload = command_codec.success_payload("dev", "r1", "t", result)
    json.loads(payload, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
