"""The AsyncAPI document generated from task catalogues: valid AsyncAPI 3.0.0, and true to the wire protocol."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import command_codec  # the firmware's encoder (tests/conftest.py puts firmware/ on the path)
import pytest
from jsonschema import Draft7Validator

from labtwin.errors import ConfigError
from labtwin.orchestrator.protocol import Command
from labtwin.tools.asyncapi import asyncapi_document, parameters_schema

CATALOGUE = {
    "control_led": {"doc": "Switch an LED", "params": {"pin": ["int", "str"], "state": "bool"}},
    "move_servo": {"doc": "Move a servo", "params": {"pin": "int", "angle": ["int", "float"]}},
    "configure": {"doc": "", "params": {"values": "list", "options": "dict", "label": "str", "gain": "float"},
                  "optional": ["options", "label"]},
    "get_device_status": {"doc": "Device status", "params": {}},
}
BROKER = "mqtt://127.0.0.1:1883"


def _document(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {"catalogues": {"pico-w-lab-001": CATALOGUE, "esp-b": {}}, "topic_prefix": "ot2",
                                 "broker_url": BROKER}
    arguments.update(overrides)
    return asyncapi_document(**arguments)


def _payload_validator(document: dict[str, Any], message: str) -> Draft7Validator:
    """Validates payloads against ``message``'s payload schema, its $refs resolved inside the document."""
    payload = document["components"]["messages"][message]["payload"]
    return Draft7Validator({**payload, "components": document["components"]})


def _accepts(document: dict[str, Any], message: str) -> Callable[[Any], bool]:
    validator = _payload_validator(document, message)
    return lambda payload: validator.is_valid(json.loads(payload) if isinstance(payload, (str, bytes)) else payload)


def test_the_document_is_valid_asyncapi_3(validator: Draft7Validator) -> None:
    document = _document(catalogues={"pico-w-lab-001": CATALOGUE, "pico b (shelf 2)": CATALOGUE, "esp-b": {}})
    errors = [f"{list(error.absolute_path)}: {error.message[:200]}" for error in validator.iter_errors(document)]
    assert errors == []
    assert document["asyncapi"] == "3.0.0"


def _bad_version(document: dict[str, Any]) -> None:
    document["asyncapi"] = "2.6.0"


def _address_not_a_string(document: dict[str, Any]) -> None:
    document["channels"]["pico-w-lab-001.command"]["address"] = 42


def _qos_out_of_range(document: dict[str, Any]) -> None:
    document["operations"]["pico-w-lab-001.sendCommand"]["bindings"]["mqtt"]["qos"] = 3


def _no_info(document: dict[str, Any]) -> None:
    del document["info"]


def _unknown_action(document: dict[str, Any]) -> None:
    document["operations"]["pico-w-lab-001.receiveStatus"]["action"] = "subscribe"  # AsyncAPI 2's word


@pytest.mark.parametrize("breakage", [_bad_version, _address_not_a_string, _qos_out_of_range, _no_info,
                                      _unknown_action])
def test_the_official_schema_rejects_a_broken_document(validator: Draft7Validator,
                                                       breakage: Callable[[dict[str, Any]], None]) -> None:
    document = copy.deepcopy(_document())
    assert validator.is_valid(document)
    breakage(document)
    assert not validator.is_valid(document)


def test_parameter_kinds_become_json_schema_types() -> None:
    schema = parameters_schema(CATALOGUE["configure"])
    assert schema["properties"] == {"values": {"type": "array"}, "options": {"type": "object"},
                                    "label": {"type": "string"}, "gain": {"type": "number"}}
    union = parameters_schema(CATALOGUE["control_led"])["properties"]
    assert union == {"pin": {"type": ["integer", "string"]}, "state": {"type": "boolean"}}


def test_required_are_the_declared_parameters_less_the_optional_ones_and_no_others_are_allowed() -> None:
    schema = parameters_schema(CATALOGUE["configure"])
    assert schema["required"] == ["values", "gain"]
    assert schema["additionalProperties"] is False
    assert "required" not in parameters_schema(CATALOGUE["get_device_status"])


def test_a_command_is_one_of_the_boards_tasks_with_its_parameters() -> None:
    accepts = _accepts(_document(), "pico-w-lab-001.command")
    assert accepts(Command("control_led", {"pin": "LED", "state": True}).encode())
    assert accepts(Command("control_led", {"pin": 15, "state": False}).encode())
    assert accepts(Command("move_servo", {"pin": 15, "angle": 42.5}).encode())
    assert accepts(Command("configure", {"values": [1], "gain": 2}).encode())  # an int is a float, as on the board
    assert accepts(Command("get_device_status").encode())
    assert not accepts(Command("control_led", {"pin": True, "state": True}).encode())  # a bool is no pin number
    assert not accepts(Command("control_led", {"pin": "LED"}).encode())  # state is missing
    assert not accepts(Command("move_servo", {"pin": 15, "angle": 90, "speed": 2}).encode())  # no such parameter
    assert not accepts(Command("blink", {}).encode())  # not in the catalogue
    assert not accepts({"task": "get_device_status", "parameters": {}})  # no request_id


def test_the_result_and_error_envelopes_accept_what_the_firmware_publishes() -> None:
    accepts = _accepts(_document(), "result")
    assert accepts(command_codec.success_payload("pico-w-lab-001", "r1", "read_sensor", {"voltage": 1.2}))
    assert accepts(command_codec.success_payload("pico-w-lab-001", "r2", "get_device_status", None))
    assert accepts(command_codec.error_payload("pico-w-lab-001", "r3", "", "bad_request", "not JSON"))
    assert not accepts(command_codec.error_payload("pico-w-lab-001", "r4", "x", "exploded", "no such code"))
    assert not accepts({"request_id": "r5", "task": "x", "device_id": "d", "status": "error"})  # no error object


def test_the_status_messages_accept_the_retained_status_and_the_last_will() -> None:
    document = _document()
    online, offline = _accepts(document, "status.online"), _accepts(document, "status.offline")
    status = command_codec.status_payload("pico-w-lab-001", "online", "0.1.0", "pico_w", "9f2c41d7", CATALOGUE)
    will = command_codec.status_payload("pico-w-lab-001", "offline", "0.1.0", "pico_w", "9f2c41d7")
    assert online(status) and not offline(status)
    assert offline(will) and not online(will)


def test_qos_and_retain_are_mqtt_bindings_of_each_operation() -> None:
    operations = _document()["operations"]
    bindings = {name: operation["bindings"]["mqtt"] for name, operation in operations.items()
                if name.startswith("pico-w-lab-001.")}
    assert bindings == {
        "pico-w-lab-001.sendCommand": {"qos": 1, "retain": False, "bindingVersion": "0.2.0"},
        "pico-w-lab-001.receiveResult": {"qos": 1, "retain": False, "bindingVersion": "0.2.0"},
        "pico-w-lab-001.receiveStatus": {"qos": 1, "retain": True, "bindingVersion": "0.2.0"},
    }
    assert operations["pico-w-lab-001.sendCommand"]["reply"]["channel"] == {"$ref": "#/channels/pico-w-lab-001.result"}


def test_the_last_will_is_described_on_the_status_channel() -> None:
    document = _document()
    status = document["channels"]["pico-w-lab-001.status"]
    assert status["x-last-will"] == {"topic": "ot2/pico-w-lab-001/status", "qos": 1, "retain": True,
                                     "message": {"$ref": "#/components/messages/status.offline"}}
    assert set(status["messages"]) == {"online", "offline"}
    assert "last will" in document["components"]["messages"]["status.offline"]["summary"]


def test_every_address_carries_the_topic_prefix() -> None:
    document = _document(topic_prefix="lab7/bench")
    addresses = sorted(channel["address"] for channel in document["channels"].values())
    assert addresses == [f"lab7/bench/{device}/{kind}" for device in ("esp-b", "pico-w-lab-001")
                         for kind in ("command", "result", "status")]


def test_no_credentials_reach_the_document(validator: Draft7Validator) -> None:
    document = _document(broker_url="mqtt://orchestrator:s3cret-pass@broker.lab:8883")
    assert document["servers"]["broker"]["host"] == "broker.lab:8883"
    text = json.dumps(document)
    assert "s3cret-pass" not in text and "orchestrator:" not in text
    assert validator.is_valid(document)


@pytest.mark.parametrize("arguments, fragment", [
    ({"catalogues": {"pico/1": {}}}, "must not contain '/'"),
    ({"topic_prefix": "ot2/#"}, "topic prefix"),
    ({"broker_url": "http://127.0.0.1:1883"}, "is not mqtt://HOST:PORT"),
])
def test_what_cannot_be_a_topic_or_a_broker_is_a_config_error(arguments: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _document(**arguments)
    assert fragment in str(raised.value)
