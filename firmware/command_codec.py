# Command parsing and result/status encoding for the wire protocol in docs/protocol.md.
# Pure functions: runs on MicroPython and CPython (unit-tested from CPython).
import json
import time

PROTOCOL_VERSION = 1
MAX_REQUEST_ID_LEN = 64
# How much of an oversized payload the MQTT client hands over; enough to find the request_id.
RECOVERY_WINDOW = 256


class BadRequest(Exception):
    """A command that cannot be run. request_id is None when none could be recovered."""

    def __init__(self, message, request_id=None, task=""):
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.task = task


def _valid_id(value):
    return isinstance(value, str) and 0 < len(value) <= MAX_REQUEST_ID_LEN


def recover_request_id(raw):
    """Best-effort request_id from raw (possibly truncated or broken) JSON bytes; None if absent."""
    # Scan bytes, decode only the candidate: junk (invalid UTF-8) elsewhere in the window, or a
    # multi-byte character cut at its end, must not hide a well-formed request_id.
    try:
        data = bytes(raw[:RECOVERY_WINDOW])
    except Exception:
        return None
    key = data.find(b'"request_id"')
    if key < 0:
        return None
    i = key + len(b'"request_id"')
    n = len(data)
    while i < n and data[i] in (32, 9, 13, 10):
        i += 1
    if i >= n or data[i] != 58:  # ':'
        return None
    i += 1
    while i < n and data[i] in (32, 9, 13, 10):
        i += 1
    if i >= n or data[i] != 34:  # '"'
        return None
    end = data.find(b'"', i + 1)
    if end < 0:
        return None
    try:
        candidate = data[i + 1:end].decode()
    except Exception:
        return None
    if "\\" in candidate or not _valid_id(candidate):
        return None
    return candidate


def parse_command(payload, oversize=False, max_payload=4096):
    """(request_id, task, parameters) from a command payload, or raise BadRequest."""
    if oversize:
        raise BadRequest("payload larger than %d bytes" % max_payload, recover_request_id(payload))
    try:
        message = json.loads(payload)
    except MemoryError:
        # Pathological nesting, or no heap block big enough for the parse (fragmentation).
        raise BadRequest("out of memory parsing the payload", recover_request_id(payload))
    except Exception:
        # ValueError for bad JSON; RuntimeError for pathological nesting.
        raise BadRequest("payload is not valid JSON", recover_request_id(payload))
    if not isinstance(message, dict):
        raise BadRequest("payload must be a JSON object")
    request_id = message.get("request_id")
    if not _valid_id(request_id):
        raise BadRequest("request_id must be a string of 1-%d characters" % MAX_REQUEST_ID_LEN)
    task = message.get("task")
    if not isinstance(task, str) or not task:
        raise BadRequest("task must be a non-empty string", request_id)
    parameters = message.get("parameters", {})
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise BadRequest("parameters must be a JSON object", request_id, task)
    return request_id, task, parameters


def check_finite(value):
    """Raise ValueError if value holds a nan or an infinity anywhere (JSON has neither).

    MicroPython's json writes them as bare inf/nan, which no JSON parser accepts: the result
    would be dropped on the way and the call would time out instead of failing.
    """
    stack = [value]
    while stack:  # a loop, not recursion: a deep result must not exhaust the small C stack
        v = stack.pop()
        if isinstance(v, float):
            if v != v or v - v != 0.0:  # nan, or +-inf (inf - inf is nan)
                raise ValueError("the result holds %s, which JSON cannot carry" % v)
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())


def success_payload(device_id, request_id, task, result):
    check_finite(result)
    return json.dumps({
        "request_id": request_id, "task": task, "device_id": device_id,
        "status": "success", "result": result, "timestamp": time.time(),
    })


def error_payload(device_id, request_id, task, code, message):
    return json.dumps({
        "request_id": request_id, "task": task, "device_id": device_id,
        "status": "error", "error": {"code": code, "message": message}, "timestamp": time.time(),
    })


def status_payload(device_id, status, firmware, board, boot, tasks=None):
    message = {
        "device_id": device_id, "status": status, "timestamp": time.time(),
        "firmware": firmware, "protocol": PROTOCOL_VERSION, "board": board, "boot": boot,
    }
    if tasks is not None:
        message["tasks"] = tasks
    return json.dumps(message)
