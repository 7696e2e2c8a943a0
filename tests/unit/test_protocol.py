"""labtwin.orchestrator.protocol: topics, command encoding, result/status decoding."""

from __future__ import annotations

import json

import pytest

from labtwin.errors import ConfigError, ProtocolError
from labtwin.orchestrator.protocol import MAX_COMMAND_BYTES, Command, DeviceStatus, Result, Topics


def test_topics_follow_prefix_and_device_id():
    topics = Topics("pico-1", "lab")
    assert (topics.command, topics.result, topics.status) == (
        "lab/pico-1/command", "lab/pico-1/result", "lab/pico-1/status")
    assert Topics("pico-1").command == "ot2/pico-1/command"


@pytest.mark.parametrize("device_id", ["", "a/b", "a+b", "a#"])
def test_device_ids_that_break_topics_are_refused(device_id):
    with pytest.raises(ConfigError):
        Topics(device_id)


def test_command_encodes_all_fields_compactly():
    command = Command("move_servo", {"pin": 15, "angle": 90}, request_id="r1", timestamp=1.5)
    assert json.loads(command.encode()) == {
        "request_id": "r1", "task": "move_servo", "parameters": {"pin": 15, "angle": 90}, "timestamp": 1.5}


def test_fresh_commands_get_distinct_request_ids():
    assert Command("t").request_id != Command("t").request_id


@pytest.mark.parametrize("parameters", [{"x": float("nan")}, {"x": object()}, {"x": "y" * MAX_COMMAND_BYTES}])
def test_unsendable_parameters_raise_protocol_error(parameters):
    with pytest.raises(ProtocolError):
        Command("t", parameters).encode()


@pytest.mark.parametrize(
    "payload",
    [b"{", b"[]", b'{"status": "success"}', b'{"request_id": "r", "status": "maybe"}',
     b'{"request_id": "r", "status": "error", "error": "boom"}'],
)
def test_malformed_results_raise_protocol_error(payload):
    with pytest.raises(ProtocolError):
        Result.decode(payload)


def test_status_rejects_unknown_state_and_tolerates_missing_fields():
    with pytest.raises(ProtocolError):
        DeviceStatus.decode(b'{"status": "sleeping"}')
    status = DeviceStatus.decode(b'{"device_id": "d", "status": "offline"}')
    assert not status.online and status.tasks == {} and status.firmware is None
