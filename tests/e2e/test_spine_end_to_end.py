"""The spine end to end: the real firmware in the MicroPython VM, a real broker, the orchestrator."""

from __future__ import annotations

import asyncio
import json

import pytest
from testkit import lab_mqtt_client, wait_until

from labtwin.errors import BrokerUnavailable, DeviceOffline, TaskError, TaskTimeout
from labtwin.orchestrator.mqtt_client import AsyncMQTTOrchestratorClient
from labtwin.orchestrator.sync_client import MQTTOrchestratorClient
from labtwin.scenarios.experiments.sensor import run_sensor_experiment
from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.scenarios.labs.twin_lab_options import BENCH_SENSOR_VOLTS, BENCH_SERVO_PIN

DEVICE = "pico-w-lab-001"


async def next_result(messages, request_id: str, timeout: float = 3.0) -> dict:
    async with asyncio.timeout(timeout):
        async for message in messages:
            payload = json.loads(message.payload)
            if payload.get("request_id") == request_id:
                return payload
    raise AssertionError("message stream ended")


async def test_sensor_experiment_runs_every_stock_task(lab: TwinLab):
    model = lab.board(DEVICE).model
    report = await run_sensor_experiment(lab.client(DEVICE), report=lambda line: None)

    assert [s.task for s in report.steps] == [
        "control_led", "read_sensor", "read_sensor", "read_sensor", "control_led", "move_servo", "get_device_status"]
    for reading, channel in zip(report.readings, (0, 1, 2), strict=True):
        assert abs(reading["voltage"] - BENCH_SENSOR_VOLTS[channel]) <= model.adc.noise_bound(channel) + 1e-4
    assert model.led is False
    assert model.servo_angle(BENCH_SERVO_PIN) == pytest.approx(90, abs=1.0)
    status = report.device_status
    assert status["device_id"] == DEVICE and status["firmware"] == "0.1.0"
    assert 0 < status["free_memory"] < lab.profile.heap_bytes
    assert 0 <= status["uptime_ms"] <= lab.clock.now() * 1000  # milliseconds: the board booted after the lab
    assert sorted(status["tasks_available"]) == ["control_led", "get_device_status", "move_servo", "read_sensor"]


async def test_led_follows_commands_and_retained_status_lists_tasks(lab: TwinLab):
    device = lab.client(DEVICE)
    assert await device.execute_task("control_led", pin="LED", state=True) == "LED on pin LED ON"
    assert lab.board(DEVICE).model.led is True
    await device.execute_task("control_led", pin="LED", state=False)
    assert lab.board(DEVICE).model.led is False
    assert device.status is not None and device.status.online
    assert device.status.tasks["control_led"]["params"] == {"pin": ["int", "str"], "state": "bool"}


async def test_unknown_task_is_an_unknown_task_error(lab: TwinLab):
    with pytest.raises(TaskError) as info:
        await lab.client(DEVICE).execute_task("make_coffee")
    assert info.value.code == "unknown_task"


@pytest.mark.parametrize(
    "task, params, fragment",
    [
        ("control_led", {"pin": "LED", "state": "yes"}, "parameter 'state' must be bool, got str"),
        ("control_led", {"pin": "LED"}, "missing parameter 'state'"),
        ("read_sensor", {"sensor_pin": 26, "gain": 2}, "unexpected parameter 'gain'"),
        ("move_servo", {"pin": 15, "angle": 200}, "angle must be between 0 and 180"),
    ],
)
async def test_bad_parameters_are_refused_before_touching_hardware(lab: TwinLab, task, params, fragment):
    with pytest.raises(TaskError) as info:
        await lab.client(DEVICE).call(task, params)
    assert info.value.code == "bad_parameters"
    assert fragment in info.value.message


async def test_adc_on_a_non_adc_pin_fails_like_a_pico_w(lab: TwinLab):
    with pytest.raises(TaskError) as info:
        await lab.client(DEVICE).execute_task("read_sensor", sensor_pin=15)
    assert info.value.code == "task_failed"
    assert info.value.message == "ValueError: Pin doesn't have ADC capabilities"


async def test_malformed_commands_get_bad_request_and_device_keeps_serving(lab: TwinLab):
    topics = lab.client(DEVICE).topics
    async with lab_mqtt_client(lab, "raw-malformed") as raw:
        await raw.subscribe(topics.result, qos=1)
        await raw.publish(topics.command, b"complete garbage", qos=1)  # no request_id: logged, unanswered
        await raw.publish(topics.command, b'{"request_id": "broken-1", "task": ', qos=1)
        answer = await next_result(raw.messages, "broken-1")
        await raw.publish(topics.command, b'{"request_id": "big-1", "pad": "' + b"x" * 6000 + b'"}', qos=1)
        too_large = await next_result(raw.messages, "big-1")
    assert answer["status"] == "error" and answer["error"]["code"] == "bad_request"
    assert too_large["error"]["code"] == "bad_request" and "larger than" in too_large["error"]["message"]
    assert await lab.client(DEVICE).execute_task("control_led", pin="LED", state=True) == "LED on pin LED ON"


async def test_duplicate_request_id_runs_the_task_once(lab: TwinLab):
    topics = lab.client(DEVICE).topics
    trace = lab.board(DEVICE).model.trace
    reads_before = len(trace.samples("adc.0"))
    command = json.dumps({"request_id": "dup-1", "task": "read_sensor", "parameters": {"sensor_pin": 26}}).encode()
    async with lab_mqtt_client(lab, "raw-duplicate") as raw:
        await raw.subscribe(topics.result, qos=1)
        await raw.publish(topics.command, command, qos=1)
        first = await next_result(raw.messages, "dup-1")
        await raw.publish(topics.command, command, qos=1)
        second = await next_result(raw.messages, "dup-1")
    assert first == second  # the stored result is re-sent verbatim
    assert len(trace.samples("adc.0")) - reads_before == 1


async def test_killed_device_goes_offline_and_calls_fail_fast(lab: TwinLab):
    device = lab.client(DEVICE)
    await lab.board(DEVICE).power_cut()
    await device.wait_for_status("offline", timeout=30)
    call = asyncio.ensure_future(device.execute_task("get_device_status"))
    await asyncio.sleep(0)  # one turn of the loop: the call's first step runs
    assert call.done()  # it never waited for anything: the retained status said offline
    with pytest.raises(DeviceOffline, match="its retained status is offline"):
        await call


async def test_request_in_flight_fails_fast_when_the_device_dies(lab: TwinLab):
    device = lab.client(DEVICE)
    servo = lab.board(DEVICE).model.servos[BENCH_SERVO_PIN]
    call = asyncio.create_task(device.call("move_servo", {"pin": BENCH_SERVO_PIN, "angle": 10}, timeout=60))
    await wait_until(lambda: servo.target == pytest.approx(10, abs=1), "the servo was commanded")
    await lab.board(DEVICE).power_cut()  # the firmware is inside its 500 ms settle
    # Failed by the offline grace after the will, not by the call's own timeout running out.
    with pytest.raises(DeviceOffline, match="offline for 1 s while the request waited"):
        await call


async def test_restarted_device_comes_back_online_and_serves(lab: TwinLab):
    board, device = lab.board(DEVICE), lab.client(DEVICE)
    await board.power_cut()
    await device.wait_for_status("offline", timeout=30)
    await board.start()
    await lab.wait_online(DEVICE, timeout=10)
    assert await device.execute_task("control_led", pin="LED", state=True) == "LED on pin LED ON"


async def test_driving_a_wireless_chip_pin_succeeds_but_raises_a_hazard(lab: TwinLab):
    await lab.client(DEVICE).execute_task("control_led", pin=25, state=True)
    hazards = lab.board(DEVICE).model.hazards
    assert hazards, "driving GP25 on a Pico W must be flagged"
    assert {h.pin for h in hazards} == {25}
    assert all(h.pin_name == "GPIO25 (WL_CS)" or "WL_CS" in h.pin_name for h in hazards)


async def test_request_to_a_silent_device_times_out_at_its_deadline(lab: TwinLab):
    address = lab.broker_address
    assert address is not None
    ghost = AsyncMQTTOrchestratorClient(address.host, "ghost-001", address.port, timeout=5.0,
                                        username=address.username, password=address.password)
    async with ghost:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TaskTimeout) as info:
            await ghost.call("get_device_status", timeout=0.3)
        assert loop.time() - started >= 0.3  # not before its deadline (how long after is not the claim)
    assert info.value.device_id == "ghost-001" and info.value.timeout == 0.3


async def test_sync_facade_keeps_the_seed_shape(lab: TwinLab):
    address = lab.broker_address
    assert address is not None

    def seed_style_script() -> dict:
        with MQTTOrchestratorClient(address.host, DEVICE, broker_port=address.port, timeout=5.0,
                                    username=address.username, password=address.password) as client:
            client.execute_task("control_led", pin="LED", state=True)
            return client.get_device_status()

    status = await asyncio.to_thread(seed_style_script)
    assert status["device_id"] == DEVICE
    assert lab.board(DEVICE).model.led is True


async def test_requests_during_a_broker_outage_report_the_broker(tmp_path):
    async with TwinLab(work_dir=tmp_path / "lab", timeout=5.0) as lab:
        assert lab.broker is not None
        await lab.broker.stop()
        try:
            with pytest.raises(BrokerUnavailable, match="no connection to MQTT broker"):
                await lab.client(DEVICE).call("get_device_status", timeout=0.5)
        finally:
            await lab.broker.start()
        await lab.wait_online(DEVICE, timeout=10)
        assert (await lab.client(DEVICE).get_device_status())["device_id"] == DEVICE
