"""The edge of the lab clock (docs/time.md): a broker process on the wall clock at --speed N.

Mosquitto keeps its own keepalive timers in real seconds. At --speed N a board pings every K/2 lab
seconds, K/(2N) real seconds, so the broker hears from a live board more often than it needs to and
never drops it: a long idle stretch of lab time passes with each board connected once.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from testkit import MOSQUITTO_MARKS

from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.twin.lab_time import Speed, run_on_lab_time

IDLE_LAB_S = 300.0  # 20 board keepalives (15 s): 3 s of real time at speed 100


@pytest.mark.parametrize("broker", [pytest.param("mosquitto", marks=MOSQUITTO_MARKS),
                                    pytest.param("amqtt")])
def test_boards_stay_connected_across_idle_lab_time_at_speed_100(broker: str) -> None:
    speed = Speed.parse("100")

    async def main() -> tuple[float, list[str], dict[str, object]]:
        async with TwinLab(devices=["pico-a"], broker=broker, speed=speed) as lab:
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.sleep(IDLE_LAB_S)
            status = await lab.client("pico-a").call("get_device_status", timeout=10)
            return loop.time() - started, list(lab.board("pico-a").log_lines), status

    idle_s, log, status = run_on_lab_time(main(), speed)

    assert idle_s >= IDLE_LAB_S
    assert status["device_id"] == "pico-a"
    connects = [line for line in log if re.search(r"mqtt: connected to ", line)]
    assert len(connects) == 1, log  # no drop, no reconnect: the broker heard its pings in time
    assert not [line for line in log if "connection lost" in line], log
