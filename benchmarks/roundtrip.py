"""Round-trip benchmark: execute_task("get_device_status") through the twin vs a raw MQTT echo.

For each broker (embedded amqtt; Mosquitto when installed) it starts a twin lab with one
simulated Pico W, then measures on the same broker:
  * twin:  the orchestrator's execute_task("get_device_status") -> firmware in the MicroPython VM -> result
  * echo:  two aiomqtt clients, QoS 1 request/response, no device in between (the floor)
and prints median and p99 of each, plus their ratio.

    python benchmarks/roundtrip.py [--calls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import time

import aiomqtt

from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.twin.brokers import mosquitto_available

NODELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def twin_round_trips(lab: TwinLab, calls: int) -> list[float]:
    device = lab.client(lab.device_ids[0])
    for _ in range(10):  # warm-up
        await device.execute_task("get_device_status")
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await device.execute_task("get_device_status")
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def echo_round_trips(lab: TwinLab, calls: int) -> list[float]:
    address = lab.broker_address
    assert address is not None
    common = dict(hostname=address.host, port=address.port, username=address.username,
                  password=address.password, socket_options=NODELAY)
    async with aiomqtt.Client(identifier="bench-requester", **common) as requester, \
            aiomqtt.Client(identifier="bench-echoer", **common) as echoer:
        await echoer.subscribe("bench/request", qos=1)
        await requester.subscribe("bench/response", qos=1)

        # amqtt 0.12.1 pushes other clients' retained messages to new clients (README, "Known broker
        # limitations"), so both sides match on topic and payload instead of trusting arrival order.
        async def echo() -> None:
            async for message in echoer.messages:
                if message.topic.matches("bench/request"):
                    await echoer.publish("bench/response", message.payload, qos=1)

        async def response_to(expected: bytes) -> None:
            async for message in requester.messages:
                if message.topic.matches("bench/response") and message.payload == expected:
                    return

        echo_task = asyncio.create_task(echo(), name="bench-echo")
        samples = []
        try:
            for i in range(calls + 10):
                request = str(i).encode()
                started = time.perf_counter()
                await requester.publish("bench/request", request, qos=1)
                await asyncio.wait_for(response_to(request), timeout=5)
                if i >= 10:
                    samples.append((time.perf_counter() - started) * 1000)
        finally:
            echo_task.cancel()
            await asyncio.gather(echo_task, return_exceptions=True)
        return samples


async def measure(broker: str, calls: int) -> tuple[list[float], list[float]]:
    async with TwinLab(broker=broker) as lab:
        twin = await twin_round_trips(lab, calls)
        echo = await echo_round_trips(lab, calls)
    return twin, echo


async def main(calls: int) -> None:
    brokers = ["amqtt"] + (["mosquitto"] if mosquitto_available() else [])
    rows = []
    for broker in brokers:
        twin, echo = await measure(broker, calls)
        rows.append((broker, statistics.median(twin), percentile(twin, 0.99),
                     statistics.median(echo), percentile(echo, 0.99)))
    print(f"\n{calls} calls each, loopback, TCP_NODELAY on every socket we own\n")
    print("| broker | twin get_device_status median | p99 | raw MQTT echo median | p99 | twin / echo (median) |")
    print("|---|---|---|---|---|---|")
    for broker, t50, t99, e50, e99 in rows:
        print(f"| {broker} | {t50:.2f} ms | {t99:.2f} ms | {e50:.2f} ms | {e99:.2f} ms | {t50 / e50:.1f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="measured calls per broker (default 300)")
    asyncio.run(main(parser.parse_args().calls))
