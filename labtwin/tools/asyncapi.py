"""The AsyncAPI 3.0 document of a lab's MQTT interface, generated from its boards' task catalogues (issue #17).

Pure: it takes each board's catalogue (the ``tasks`` object of its retained status) and returns the
document as a dict, ready for ``json.dumps``; reading the catalogues is labtwin/tools/lab_catalogues.py's
job. Per board there are three channels (command, result, status) and three operations (send a command,
receive its result, receive the retained status). A board's command message is a ``oneOf`` over its tasks,
each task's parameters a closed JSON Schema built from the catalogue's type names, so a tool reading the
document knows exactly which commands the board accepts. The envelopes every board shares (command,
result, error, online and offline status) are ``components`` reached by ``$ref``; QoS and retain are MQTT
operation bindings; the last will (the retained offline status) is described on the status channel.

The broker URL is reduced to host and port: credentials never reach the document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from labtwin.errors import ConfigError
from labtwin.orchestrator.protocol import ERROR_CODES, MAX_COMMAND_BYTES, PROTOCOL_VERSION, Topics

__all__ = ["ASYNCAPI_VERSION", "MQTT_BINDING_VERSION", "asyncapi_document", "parameters_schema"]

ASYNCAPI_VERSION = "3.0.0"
MQTT_BINDING_VERSION = "0.2.0"
QOS = 1  # every topic of the protocol, both ways (docs/protocol.md, "Transport")

_JSON_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "str": "string", "list": "array",
               "dict": "object"}
_SCHEMAS = "#/components/schemas/"
_MESSAGES = "#/components/messages/"


def _ref(path: str) -> dict[str, str]:
    return {"$ref": path}


def _kind_schema(kinds: Any) -> dict[str, Any]:
    """The JSON Schema of one parameter from its catalogue kinds: ``"int"`` or ``["int", "str"]``."""
    names = kinds if isinstance(kinds, list) else [kinds]
    if not names or any(not isinstance(name, str) or name not in _JSON_TYPES for name in names):
        # A kind this generator does not know (a newer firmware's): the parameter is documented, unconstrained.
        return {"description": f"declared as {kinds!r}"}
    types = list(dict.fromkeys(_JSON_TYPES[name] for name in names))
    return {"type": types[0] if len(types) == 1 else types}


def parameters_schema(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a task's ``parameters`` from its catalogue entry (``params``, ``optional``).

    Closed (``additionalProperties: false``) as the firmware's validation is: an unknown parameter is refused.
    Required are the declared parameters that ``optional`` does not name.
    """
    declared = entry.get("params")
    params: Mapping[str, Any] = declared if isinstance(declared, Mapping) else {}
    optional = entry.get("optional")
    optional_names = {name for name in optional if isinstance(name, str)} if isinstance(optional, list) else set()
    schema: dict[str, Any] = {"type": "object",
                              "properties": {str(name): _kind_schema(kinds) for name, kinds in params.items()},
                              "additionalProperties": False}
    required = [str(name) for name in params if name not in optional_names]
    if required:
        schema["required"] = required
    return schema


def _component_key(name: str) -> str:
    """``name`` as an AsyncAPI component key (letters, digits, ``.``, ``-``, ``_``)."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name) or "_"


def _unique_keys(names: list[str]) -> dict[str, str]:
    """Each name's component key; names that would share a key get a numbered suffix."""
    keys: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        key, number = _component_key(name), 2
        while key in taken:
            key, number = f"{_component_key(name)}-{number}", number + 1
        taken.add(key)
        keys[name] = key
    return keys


def _server(broker_url: str) -> dict[str, Any]:
    """The broker as an AsyncAPI server: host and port only, whatever else the URL holds."""
    try:
        parts = urlsplit(broker_url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ConfigError(f"broker URL {broker_url!r} is not mqtt://HOST:PORT") from None
    if parts.scheme != "mqtt" or not host:
        raise ConfigError(f"broker URL {broker_url!r} is not mqtt://HOST:PORT")
    shown = f"[{host}]" if ":" in host else host
    return {
        "host": f"{shown}:{port or 1883}", "protocol": "mqtt", "protocolVersion": "3.1.1",
        "description": "The lab's MQTT broker. Boards connect with a clean session and their device id as client "
                       "id; each registers its last will (the retained offline status) in CONNECT.",
        "security": [_ref("#/components/securitySchemes/userPassword")],
        "bindings": {"mqtt": {"cleanSession": True, "bindingVersion": MQTT_BINDING_VERSION}},
    }


def _shared_schemas() -> dict[str, Any]:
    """The envelopes every board shares (docs/protocol.md)."""
    request_id = {"type": "string", "minLength": 1, "maxLength": 64,
                  "description": "Unique per request: the correlation key and the device's dedup key."}
    timestamp = {"type": "number", "description": "Seconds since 1970 on the sender's clock; informational."}
    device_id = {"type": "string", "minLength": 1, "description": "The board's device id."}
    result_fields = {"request_id": _ref(_SCHEMAS + "RequestId"),
                     "task": {"type": "string", "description": "The command's task ('' when it was unreadable)."},
                     "device_id": _ref(_SCHEMAS + "DeviceId"), "timestamp": _ref(_SCHEMAS + "Timestamp")}
    status_fields = {"device_id": _ref(_SCHEMAS + "DeviceId"), "timestamp": _ref(_SCHEMAS + "Timestamp"),
                     "firmware": {"type": "string", "description": "The firmware version."},
                     "protocol": {"type": "integer", "const": PROTOCOL_VERSION},
                     "board": {"type": "string", "description": "The board kind (pico_w, esp32)."},
                     "boot": {"type": "string", "pattern": "^[0-9a-f]{8}$",
                              "description": "New at every boot: a change means the device restarted."}}
    kind = {"type": "string", "enum": sorted(_JSON_TYPES)}
    return {
        "RequestId": request_id, "Timestamp": timestamp, "DeviceId": device_id,
        "Command": {
            "type": "object", "title": "Command", "required": ["request_id", "task"],
            "description": f"A request to run one task. At most {MAX_COMMAND_BYTES} bytes of JSON.",
            "properties": {"request_id": _ref(_SCHEMAS + "RequestId"),
                           "task": {"type": "string", "description": "A task from the device's catalogue."},
                           "parameters": {"type": "object", "default": {},
                                          "description": "The task's keyword arguments."},
                           "timestamp": _ref(_SCHEMAS + "Timestamp")}},
        "Result": {"title": "Result", "oneOf": [_ref(_SCHEMAS + "ResultSuccess"), _ref(_SCHEMAS + "ResultError")]},
        "ResultSuccess": {
            "type": "object", "title": "Success result", "required": ["request_id", "task", "device_id", "status"],
            "properties": {**result_fields, "status": {"const": "success"},
                           "result": {"description": "Any JSON value the task returned."}}},
        "ResultError": {
            "type": "object", "title": "Error result",
            "required": ["request_id", "task", "device_id", "status", "error"],
            "properties": {**result_fields, "status": {"const": "error"}, "error": _ref(_SCHEMAS + "Error")}},
        "Error": {
            "type": "object", "title": "Error", "required": ["code", "message"],
            "properties": {"code": {"type": "string", "enum": sorted(ERROR_CODES),
                                    "description": "What went wrong; callers branch on it (docs/protocol.md)."},
                           "message": {"type": "string", "description": "For people: 'ExceptionName: text'."}}},
        "OnlineStatus": {
            "type": "object", "title": "Online status", "required": ["device_id", "status"],
            "properties": {**status_fields, "status": {"const": "online"},
                           "tasks": {"type": "object", "additionalProperties": _ref(_SCHEMAS + "TaskCatalogueEntry"),
                                     "description": "The device's task catalogue, by task name."}}},
        "OfflineStatus": {
            "type": "object", "title": "Offline status (the last will)", "required": ["device_id", "status"],
            "properties": {**status_fields, "status": {"const": "offline"}}},
        "TaskCatalogueEntry": {
            "type": "object", "required": ["params"],
            "properties": {"doc": {"type": "string"},
                           "params": {"type": "object",
                                      "additionalProperties": {"oneOf": [kind, {"type": "array", "items": kind}]}},
                           "optional": {"type": "array", "items": {"type": "string"}}}},
    }


def _shared_messages() -> dict[str, Any]:
    return {
        "result": {
            "name": "result", "title": "Result", "contentType": "application/json",
            "summary": "The device's answer to one command: a success value or an error code and message.",
            "payload": _ref(_SCHEMAS + "Result"), "correlationId": _ref("#/components/correlationIds/requestId")},
        "status.online": {
            "name": "online", "title": "Online status", "contentType": "application/json",
            "summary": "Published retained on every (re)connect, before the device takes commands; carries the "
                       "task catalogue.",
            "payload": _ref(_SCHEMAS + "OnlineStatus")},
        "status.offline": {
            "name": "offline", "title": "Offline status (last will)", "contentType": "application/json",
            "summary": "The device's last will, registered in CONNECT and published retained by the broker when "
                       "the device vanishes; the device publishes the same itself on a clean shutdown.",
            "payload": _ref(_SCHEMAS + "OfflineStatus")},
    }


def _device_parts(device_id: str, key: str, catalogue: Mapping[str, Any], topics: Topics
                  ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """One board's channels, operations, messages and schemas."""
    schemas: dict[str, Any] = {}
    task_keys = _unique_keys([str(name) for name in catalogue])
    variants = []
    for name, entry in catalogue.items():
        entry = entry if isinstance(entry, Mapping) else {}
        task_key = f"{key}.{task_keys[str(name)]}"
        params = parameters_schema(entry)
        schemas[f"{task_key}.parameters"] = params
        command: dict[str, Any] = {"type": "object", "title": str(name),
                                   "properties": {"task": {"const": str(name)},
                                                  "parameters": _ref(f"{_SCHEMAS}{task_key}.parameters")}}
        if params.get("required"):
            command["required"] = ["parameters"]
        doc = entry.get("doc")
        if isinstance(doc, str) and doc:
            command["description"] = doc
        schemas[f"{task_key}.command"] = {"allOf": [_ref(_SCHEMAS + "Command"), command]}
        variants.append(_ref(f"{_SCHEMAS}{task_key}.command"))
    payload: dict[str, Any] = {"oneOf": variants} if variants else {"allOf": [_ref(_SCHEMAS + "Command")]}
    messages = {f"{key}.command": {
        "name": "command", "title": f"Command for {device_id}", "contentType": "application/json",
        "summary": f"One of {device_id}'s {len(variants)} tasks, with its parameters.",
        "payload": payload, "correlationId": _ref("#/components/correlationIds/requestId")}}
    channels = {
        f"{key}.command": {
            "address": topics.command, "title": f"{device_id} commands",
            "description": f"Commands to {device_id}, QoS {QOS}, not retained. A repeated request_id runs its task "
                           "once (QoS 1 is at-least-once).",
            "messages": {"command": _ref(f"{_MESSAGES}{key}.command")}},
        f"{key}.result": {
            "address": topics.result, "title": f"{device_id} results",
            "description": f"{device_id}'s results, one per command, QoS {QOS}, not retained.",
            "messages": {"result": _ref(_MESSAGES + "result")}},
        f"{key}.status": {
            "address": topics.status, "title": f"{device_id} status",
            "description": f"{device_id}'s retained status: online with its task catalogue, or offline (its last "
                           "will, published by the broker when the device vanishes).",
            "messages": {"online": _ref(_MESSAGES + "status.online"), "offline": _ref(_MESSAGES + "status.offline")},
            "x-last-will": {"topic": topics.status, "qos": QOS, "retain": True,
                            "message": _ref(_MESSAGES + "status.offline")}},
    }
    operations = {
        f"{key}.sendCommand": {
            "action": "send", "channel": _ref(f"#/channels/{key}.command"), "title": f"Run a task on {device_id}",
            "messages": [_ref(f"#/channels/{key}.command/messages/command")],
            "bindings": {"mqtt": {"qos": QOS, "retain": False, "bindingVersion": MQTT_BINDING_VERSION}},
            "reply": {"channel": _ref(f"#/channels/{key}.result"),
                      "messages": [_ref(f"#/channels/{key}.result/messages/result")]}},
        f"{key}.receiveResult": {
            "action": "receive", "channel": _ref(f"#/channels/{key}.result"), "title": f"{device_id}'s results",
            "messages": [_ref(f"#/channels/{key}.result/messages/result")],
            "bindings": {"mqtt": {"qos": QOS, "retain": False, "bindingVersion": MQTT_BINDING_VERSION}}},
        f"{key}.receiveStatus": {
            "action": "receive", "channel": _ref(f"#/channels/{key}.status"), "title": f"{device_id}'s status",
            "messages": [_ref(f"#/channels/{key}.status/messages/online"),
                         _ref(f"#/channels/{key}.status/messages/offline")],
            "bindings": {"mqtt": {"qos": QOS, "retain": True, "bindingVersion": MQTT_BINDING_VERSION}}},
    }
    return channels, operations, messages, schemas


def asyncapi_document(catalogues: Mapping[str, Mapping[str, Any]], *, topic_prefix: str, broker_url: str,
                      title: str = "labtwin lab") -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of a lab's MQTT interface.

    Args:
        catalogues: device id -> its task catalogue (the ``tasks`` object of its retained status).
        topic_prefix: the lab's topic prefix (topics are ``{prefix}/{device_id}/command|result|status``).
        broker_url: ``mqtt://HOST:PORT`` of the lab's broker (anything else in it is left out).
        title: the document's title.

    Raises:
        ConfigError: a device id or the prefix cannot be part of a topic, or the URL is not mqtt://HOST:PORT.
    """
    keys = _unique_keys(list(catalogues))
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages = _shared_messages()
    schemas = _shared_schemas()
    for device_id, catalogue in catalogues.items():
        parts = _device_parts(device_id, keys[device_id], catalogue, Topics(device_id, topic_prefix))
        for into, part in zip((channels, operations, messages, schemas), parts, strict=True):
            into.update(part)
    boards = ", ".join(catalogues) or "none"
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": title, "version": str(PROTOCOL_VERSION),
            "description": f"The MQTT interface of the lab's boards ({boards}), generated by `labtwin docs` from "
                           f"the task catalogues the boards publish in their retained status. Wire protocol "
                           f"version {PROTOCOL_VERSION}; topics are {topic_prefix}/DEVICE/command|result|status.",
        },
        "defaultContentType": "application/json",
        "servers": {"broker": _server(broker_url)},
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas, "messages": messages,
            "securitySchemes": {"userPassword": {
                "type": "userPassword",
                "description": "Broker credentials: the lab file names the environment variables that hold them."}},
            "correlationIds": {"requestId": {"location": "$message.payload#/request_id",
                                             "description": "A result carries its command's request_id."}},
        },
    }
