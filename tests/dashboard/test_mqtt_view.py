"""The dashboard's MQTT view: boards from statuses and last wills, commands paired with results, result series."""

from __future__ import annotations

import json

from labtwin.dashboard.mqtt_view import MqttView
from labtwin.twin.models.trace import Trace


def _status(device: str, status: str, **extra: object) -> bytes:
    return json.dumps({"device_id": device, "status": status, **extra}).encode()


def _command(task: str, request_id: str, **parameters: object) -> bytes:
    return json.dumps({"task": task, "request_id": request_id, "parameters": parameters}).encode()


def _result(device: str, task: str, request_id: str, result: object = None,
            error: tuple[str, str] | None = None) -> bytes:
    message: dict[str, object] = {"request_id": request_id, "task": task, "device_id": device,
                                  "status": "error" if error else "success"}
    if error:
        message["error"] = {"code": error[0], "message": error[1]}
    else:
        message["result"] = result
    return json.dumps(message).encode()


def test_a_board_is_online_from_its_status_and_offline_from_its_last_will() -> None:
    view = MqttView(["pico-a"])
    assert view.boards["pico-a"].online is None  # nothing seen yet: neither online nor offline

    view.receive("ot2/pico-a/status", _status("pico-a", "online", firmware="1.2.0", board="pico_w",
                                              tasks={"blink": {"params": {}}}), now=5.0)
    board = view.boards["pico-a"].as_json()
    assert (board["online"], board["firmware"], board["tasks"], board["last_seen"]) == (True, "1.2.0", ["blink"], 5.0)

    view.receive("ot2/pico-a/status", _status("pico-a", "offline"), now=9.0)
    board = view.boards["pico-a"].as_json()
    assert (board["online"], board["firmware"], board["last_seen"]) == (False, "1.2.0", 9.0)


def test_a_result_is_paired_with_its_command_and_timed() -> None:
    view = MqttView(["pico-a"])
    view.receive("ot2/pico-a/command", _command("read_sensor", "r1", sensor_pin=26), now=10.0)
    waiting = view.take_changed_traffic()
    assert [(e.task, e.parameters, e.ok) for e in waiting] == [("read_sensor", {"sensor_pin": 26}, None)]

    view.receive("ot2/pico-a/result", _result("pico-a", "read_sensor", "r1", {"voltage": 1.25, "raw": 25000}),
                 now=10.0421)

    (entry,) = view.take_changed_traffic()
    assert (entry.ok, entry.latency_ms, entry.seq) == (True, 42.1, waiting[0].seq)
    assert json.loads(entry.outcome) == {"voltage": 1.25, "raw": 25000}
    assert view.take_changed_traffic() == []
    assert list(view.series["pico-a"]["read_sensor.voltage"]) == [(10.0421, 1.25)]


def test_an_error_result_is_counted_and_named() -> None:
    view = MqttView(["pico-a"])
    view.receive("ot2/pico-a/command", _command("control_led", "r2", pin="GP99"), now=1.0)
    view.receive("ot2/pico-a/result", _result("pico-a", "control_led", "r2", error=("invalid_pin", "no GP99")),
                 now=1.01)
    (entry,) = view.take_changed_traffic()
    assert (entry.ok, entry.outcome) == (False, "[invalid_pin] no GP99")
    assert view.boards["pico-a"].errors == 1


def test_free_heap_comes_from_the_last_device_status_result() -> None:
    view = MqttView(["pico-a"])
    view.receive("ot2/pico-a/result", _result("pico-a", "get_device_status", "r3", {"free_memory": 81234}), now=2.0)
    assert view.boards["pico-a"].free_memory == 81234


def test_a_result_whose_command_was_not_seen_is_shown_without_a_latency() -> None:
    view = MqttView(["pico-a"])
    view.receive("ot2/pico-a/result", _result("pico-a", "blink", "old", {}), now=3.0)
    (entry,) = view.take_changed_traffic()
    assert (entry.task, entry.sent, entry.latency_ms, entry.ok) == ("blink", None, None, True)


def test_a_message_that_breaks_the_protocol_shows_as_an_error_not_an_exception() -> None:
    view = MqttView(["pico-a"])
    view.receive("ot2/pico-a/status", b"{not json", now=4.0)
    (entry,) = view.take_changed_traffic()
    assert entry.ok is False and "not a valid status message" in entry.outcome


def test_a_retained_status_sets_the_state_but_not_last_seen() -> None:
    view = MqttView(["pico-a"])
    view.receive("ot2/pico-a/status", _status("pico-a", "online"), now=50.0, retained=True)
    assert view.boards["pico-a"].online is True and view.boards["pico-a"].last_seen is None


def test_waiting_since_is_the_oldest_command_still_unanswered() -> None:
    view = MqttView(["pico-a"])
    view.receive("ot2/pico-a/command", _command("blink", "c1"), now=1.0)
    view.receive("ot2/pico-a/command", _command("blink", "c2"), now=2.0)
    assert view.boards["pico-a"].waiting_since == 1.0
    view.receive("ot2/pico-a/result", _result("pico-a", "blink", "c2", {}), now=2.5)
    assert view.boards["pico-a"].waiting_since is None  # c1 was lost: the board answered a later one
    view.receive("ot2/pico-a/command", _command("blink", "c3"), now=3.0)
    view.receive("ot2/pico-a/status", _status("pico-a", "offline"), now=4.0)
    assert view.boards["pico-a"].waiting_since is None  # its last will: nothing waits on this boot


def test_a_board_the_lab_file_does_not_list_is_added() -> None:
    view = MqttView(["pico-a"])
    view.receive("ot2/pico-z/status", _status("pico-z", "online"), now=1.0)
    assert view.boards["pico-z"].online is True


def test_trace_after_gives_only_newer_samples_in_order() -> None:
    trace = Trace()
    for t in (1.0, 2.0, 3.0, 4.0):
        trace.record("adc.0", t, t * 10)
    assert trace.after("adc.0", 2.0) == [(3.0, 30.0), (4.0, 40.0)]
    assert trace.after("adc.0", 4.0) == []
    assert trace.after("adc.0", float("-inf")) == trace.samples("adc.0")
    assert trace.after("nothing", 0.0) == []
