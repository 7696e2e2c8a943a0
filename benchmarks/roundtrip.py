"""Round-trip benchmark: execute_task("get_device_status") through the twin vs a raw MQTT echo.

For each broker (embedded amqtt; Mosquitto when installed) it starts a twin lab with one
simulated Pico W, then measures:
  * twin:  the orchestrator's execute_task("get_device_status") -> firmware in the MicroPython VM -> result
  * echo:  two aiomqtt clients, QoS 1 request/response, no device in between (the floor)
and prints median and p99 of each, plus their ratio.

Twin labs run the per-device ACL (docs/security.md), which gives nobody a free topic to echo on. So
the echo runs on a second broker of the same kind and configuration (same ACL rules, started beside
the lab's, in the same process for amqtt), where the echo's responder is a broker user of its own,
``bench-echo``, with a board's rights: the requester (the orchestrator's user) publishes on
``{prefix}/bench-echo/command`` and reads ``{prefix}/bench-echo/result``, the responder the reverse:
the topics and ACL checks of a board's call, without a board. The lab's own ACL is not touched.

    python benchmarks/roundtrip.py [--calls 300] [--broker amqtt|mosquitto|both]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import statistics
import sys
import time
from contextlib import AsyncExitStack

import aiomqtt

from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.twin.brokers import AmqttBroker, DeviceAcl, MosquittoBroker, mosquitto_available

NODELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
ECHO_USER = "bench-echo"
"""The echo's responder: a broker user with a board's rights on its own topics."""
WARM_UP = 10


def percentile(samples: list[float], q: float) -> float:
    """The q-quantile of samples (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def twin_round_trips(lab: TwinLab, calls: int) -> list[float]:
    """Milliseconds per execute_task("get_device_status") on the lab's board."""
    device = lab.client(lab.device_ids[0])
    for _ in range(WARM_UP):
        await device.execute_task("get_device_status")
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await device.execute_task("get_device_status")
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def echo_broker(lab: TwinLab, broker: str, stack: AsyncExitStack) -> tuple[str, int, dict[str, str]]:
    """Start a broker like the lab's (same kind, same ACL rules) whose users are the orchestrator and the echo.

    Returns its host, port and user -> password.
    """
    address = lab.broker_address
    assert address is not None and address.username is not None and lab.work_dir is not None
    users = {address.username: secrets.token_urlsafe(16), ECHO_USER: secrets.token_urlsafe(16)}
    acl = DeviceAcl(prefix=lab.topic_prefix, orchestrators=(address.username,))
    runner: AmqttBroker | MosquittoBroker
    if broker == "mosquitto":
        runner = MosquittoBroker(work_dir=lab.work_dir / "echo-mosquitto", users=users, acl=acl)
    else:
        runner = AmqttBroker(users=users, acl=acl)
    await stack.enter_async_context(runner)
    return runner.host, runner.port, users


async def echo_round_trips(lab: TwinLab, broker: str, calls: int) -> list[float]:
    """Milliseconds per QoS 1 request/response between two aiomqtt clients, no device in between."""
    async with AsyncExitStack() as stack:
        host, port, users = await echo_broker(lab, broker, stack)
        orchestrator = next(user for user in users if user != ECHO_USER)
        request_topic = f"{lab.topic_prefix}/{ECHO_USER}/command"
        response_topic = f"{lab.topic_prefix}/{ECHO_USER}/result"
        requester = await stack.enter_async_context(aiomqtt.Client(
            host, port, identifier="bench-requester", username=orchestrator, password=users[orchestrator],
            socket_options=NODELAY))
        echoer = await stack.enter_async_context(aiomqtt.Client(
            host, port, identifier="bench-echoer", username=ECHO_USER, password=users[ECHO_USER],
            socket_options=NODELAY))
        await echoer.subscribe(request_topic, qos=1)
        await requester.subscribe(response_topic, qos=1)

        # amqtt 0.12.1 pushes other clients' retained messages to new clients (docs/brokers.md, "Known broker
        # limitations"), so both sides match on topic and payload instead of trusting arrival order.
        async def echo() -> None:
            async for message in echoer.messages:
                if message.topic.matches(request_topic):
                    await echoer.publish(response_topic, message.payload, qos=1)

        async def response_to(expected: bytes) -> None:
            async for message in requester.messages:
                if message.topic.matches(response_topic) and message.payload == expected:
                    return

        echo_task = asyncio.create_task(echo(), name="bench-echo")
        samples = []
        try:
            for i in range(calls + WARM_UP):
                request = str(i).encode()
                started = time.perf_counter()
                await requester.publish(request_topic, request, qos=1)
                try:
                    await asyncio.wait_for(response_to(request), timeout=5)
                except TimeoutError:
                    raise TimeoutError(f"echo {i}: no response on {response_topic} within 5 s "
                                       f"({broker}, user {ECHO_USER!r}: does the ACL grant its topics?)") from None
                if i >= WARM_UP:
                    samples.append((time.perf_counter() - started) * 1000)
        finally:
            echo_task.cancel()
            await asyncio.gather(echo_task, return_exceptions=True)
        return samples


async def measure(broker: str, calls: int) -> tuple[list[float], list[float]]:
    """Twin and echo samples on one broker."""
    async with TwinLab(broker=broker) as lab:
        twin = await twin_round_trips(lab, calls)
        echo = await echo_round_trips(lab, broker, calls)
    return twin, echo


async def main(calls: int, brokers: list[str]) -> None:
    """Measure on each broker, then print one table."""
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="measured calls per broker and path (default 300)")
    parser.add_argument("--broker", choices=["amqtt", "mosquitto", "both"], default="both",
                        help="broker(s) to measure (default both: Mosquitto only when installed)")
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    if args.broker == "mosquitto" and not mosquitto_available():
        parser.error("mosquitto is not installed (Debian: apt install mosquitto)")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    chosen = ["amqtt", "mosquitto"] if arguments.broker == "both" else [arguments.broker]
    if "mosquitto" in chosen and not mosquitto_available():
        print("mosquitto is not installed: amqtt only", file=sys.stderr)
        chosen.remove("mosquitto")
    asyncio.run(main(arguments.calls, chosen))
