"""firmware/mqtt_client.py in the MicroPython VM against a scripted fake broker.

In the manner of Mosquitto's test/lib: each case is a script of what the broker
expects (exact CONNECT bytes, a PUBLISH with DUP=1, a PINGREQ, a disconnect)
and what it sends (hand-built CONNACK/SUBACK/PUBACK/PUBLISH, malformed ones
included), played against the real client in the real VM
(vm_scripts/scripted_device.py). The broker side never uses the firmware codec.

Timing is judged by the VM's own clock (its LOG lines carry milliseconds since it started), and only
from below, which no slow machine can fake: a backoff or timeout lasted at least what it should.
That the client stayed quiet is shown by a later packet it sent (a ``pub``/``wait`` command's publish)
that arrived with nothing before it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import mqtt_codec
import pytest
from fake_broker import (
    CONNECT,
    PINGREQ,
    PUBLISH,
    SUBSCRIBE,
    Packet,
    ScriptedBroker,
    Step,
    accept,
    connack,
    connect_bytes,
    drop,
    expect,
    expect_disconnect,
    puback,
    publish,
    send,
    suback,
    varint,
)

DEV = "scripted_device.py"
VMFactory = Callable[..., Awaitable[Any]]


def handshake(cid: str, keepalive: int = 60, **connect_kw: Any) -> list[Step]:
    """Accept a connection, check its exact CONNECT, accept it with CONNACK 0."""
    return [accept(), expect(connect_bytes(cid, keepalive, **connect_kw), label="CONNECT"), send(connack(0))]


def reconnect(cid: str, keepalive: int = 60) -> list[Step]:
    return handshake(cid, keepalive)


def is_publish(topic: str, payload: bytes, qos: int, dup: bool | None = None) -> Callable[[Packet], bool]:
    def check(p: Packet) -> bool:
        assert p.type == PUBLISH, f"type {p.type}"
        assert (p.topic, p.payload, p.qos) == (topic, payload, qos), (p.topic, p.payload, p.qos)
        if dup is not None:
            assert p.dup == dup, f"DUP={p.dup}"
        if qos:
            assert p.pid != 0, "packet id 0"
        return True
    return check


def ack_saved(name: str) -> Step:
    return send(lambda ctx: puback(ctx[name].pid))


def round_trip(command: bytes, reply: bytes, *, ignore: tuple[int, ...] = ()) -> list[Step]:
    """Send ``command`` on "cmd"; the client's next packet must be its publish of ``reply`` (acked).

    Nothing else it sent after the command's arrival came first, so this is the marker that
    proves a quiet spell: see ``quiet_for``.
    """
    save = f"reply {reply!r}"
    return [send(publish("cmd", command)), expect(is_publish("out", reply, 1), save=save, ignore=ignore),
            ack_saved(save)]


def quiet_for(ms: int) -> list[Step]:
    """The client sends nothing for ``ms`` of its own time (a ``wait`` command answered with nothing before it)."""
    return round_trip(b"wait %d" % ms, b"waited")


SYNC = publish("sync", b"end")


async def play(start_vm: VMFactory, steps: list[Step], cid: str, *opts: str,
               timeout: float = 30.0) -> tuple[ScriptedBroker, Any]:
    """Run ``steps`` against a fresh device VM; returns (broker, vm) once the script finished.

    ``vm.script_output`` is what the VM printed up to the end of the script: the broker then sends
    a last message, and the snapshot is taken when the VM has printed it, before the broker closes
    (which makes the client log a legitimate lost connection). A script that ends with the client
    gone instead waits for the VM to exit. The VM is reaped by the fixture.
    """
    async with ScriptedBroker(steps) as b:
        vm = await start_vm(DEV, b.host, b.port, cid, *opts)
        try:
            await b.finished(timeout)
            if b.conn is not None:
                b.conn.writer.write(SYNC)
                await vm.expect(r"^MSG sync 3 0 0 656e64$", timeout=timeout)
            else:
                await vm.exited(timeout)
        except AssertionError as e:
            raise AssertionError(f"{e}\nVM output:\n{vm.output()}") from None
        vm.script_output = vm.output()
    return b, vm


def log_times(vm: Any) -> list[tuple[int, str]]:
    """The client's log lines up to the end of the script: (ms since the VM started, by its clock; line)."""
    return [(int(m[1]), m[2]) for m in re.finditer(r"^LOG (\d+) (.*)$", vm.script_output, re.M)]


def logged_at(vm: Any, fragment: str) -> list[int]:
    """When (VM ms) the client logged lines containing ``fragment``, in order."""
    return [t for t, line in log_times(vm) if fragment in line]


def started_at(vm: Any) -> int:
    """When (VM ms) run() began to connect."""
    m = re.search(r"^START (\d+)$", vm.script_output, re.M)
    assert m, vm.script_output
    return int(m[1])


def clean(vm: Any) -> None:
    out = vm.script_output
    assert "Traceback" not in out and "session failed" not in out, out


# ------------------------------------------------------------------ CONNECT bytes


@pytest.mark.parametrize("keepalive", [0, 1, 60, 65535])
async def test_connect_bytes_keepalive(start_vm: VMFactory, keepalive: int) -> None:
    b, vm = await play(start_vm, handshake("ka", keepalive), "ka", f"keepalive={keepalive}")
    await vm.expect(r"^READY 1")
    # Protocol name "MQTT", level 4, CleanSession only, keepalive big-endian.
    raw = b.received(CONNECT)[0].raw
    assert raw[2:10] == b"\x00\x04MQTT\x04\x02" and raw[10:12] == keepalive.to_bytes(2, "big")


@pytest.mark.parametrize(("will", "opt"), [
    (("st", b"offline", True, 1), "will=st,offline,1,1"),
    (("dev/x/status", b"gone", False, 0), "will=dev/x/status,gone,0,0"),
    (("w", b"bye", True, 2), "will=w,bye,1,2"),
], ids=["retain-qos1", "qos0", "retain-qos2"])
async def test_connect_bytes_will(start_vm: VMFactory, will: tuple[str, bytes, bool, int], opt: str) -> None:
    b, vm = await play(start_vm, handshake("w1", will=will), "w1", opt)
    await vm.expect(r"^READY 1")
    flags = b.received(CONNECT)[0].raw[9]
    assert flags & 0x04 and (flags >> 3) & 3 == will[3] and bool(flags & 0x20) == will[2]


async def test_connect_bytes_user_and_password(start_vm: VMFactory) -> None:
    b, vm = await play(start_vm, handshake("u1", user="dev", password="s3cret"), "u1", "user=dev", "password=s3cret")
    await vm.expect(r"^READY 1")
    assert b.received(CONNECT)[0].raw[9] == 0xC2


async def test_connect_bytes_user_only(start_vm: VMFactory) -> None:
    _, vm = await play(start_vm, handshake("u2", user="dev"), "u2", "user=dev")
    await vm.expect(r"^READY 1")


async def test_connect_long_client_id_needs_two_byte_remaining_length(start_vm: VMFactory) -> None:
    cid = "c" * 150  # remaining length 12 + 150 = 162 -> 0xa2 0x01
    b, vm = await play(start_vm, handshake(cid), cid)
    await vm.expect(r"^READY 1")
    assert b.received(CONNECT)[0].raw[1:3] == b"\xa2\x01"


# ------------------------------------------------------------ CONNACK refusals


@pytest.mark.parametrize(("rc", "reason", "refusals"), [
    (1, "unacceptable protocol version", 1),
    (4, "bad user name or password", 2),
    (5, "not authorised", 1),
])
async def test_connack_refusal_backs_off(start_vm: VMFactory, rc: int, reason: str, refusals: int) -> None:
    cid = f"r{rc}"
    steps = []
    for _ in range(refusals):
        steps += [accept(), expect(connect_bytes(cid, 60)), send(connack(rc)), expect_disconnect()]
    steps += handshake(cid)
    _, vm = await play(start_vm, steps, cid)
    await vm.expect(r"^READY 1")
    assert f"CONNACK rc={rc} ({reason}); retry in 1.0 s" in vm.script_output
    if refusals > 1:
        assert f"CONNACK rc={rc} ({reason}); retry in 2.0 s" in vm.script_output
    # By the VM's clock, each refusal is followed by that long a pause: never a tight loop.
    events = logged_at(vm, "CONNACK rc=") + logged_at(vm, "mqtt: connected to")
    gaps = [later - earlier for earlier, later in zip(events, events[1:], strict=False)]
    assert len(gaps) == refusals and all(gap >= 1000 * 2**i for i, gap in enumerate(gaps)), gaps
    clean(vm)


async def test_first_packet_not_connack_is_a_network_error(start_vm: VMFactory) -> None:
    steps = [accept(), expect(connect_bytes("nc", 60)), send(suback(1, 0)), expect_disconnect()] + handshake("nc")
    _, vm = await play(start_vm, steps, "nc")
    await vm.expect(r"^READY 1")
    # A network error, not a refusal: the fast retry.
    assert re.search(r"expected CONNACK, got packet type 9\); retry in 0\.1 s", vm.script_output), vm.script_output
    clean(vm)


async def test_connack_with_reserved_flag_is_rejected(start_vm: VMFactory) -> None:
    steps = [accept(), expect(connect_bytes("cf", 60)), send(b"\x20\x02\x02\x00"), expect_disconnect(),
             *handshake("cf")]
    _, vm = await play(start_vm, steps, "cf")
    await vm.expect(r"^READY 1")
    assert "CONNACK reserved flags set" in vm.script_output
    clean(vm)


async def test_flapping_broker_backoff_doubles(start_vm: VMFactory) -> None:
    # Accept, then drop at once, five times: the pauses must grow, not stay at 0.1 s.
    steps: list[Step] = []
    for _ in range(5):
        steps += handshake("fl") + [drop()]
    steps += handshake("fl")
    _, vm = await play(start_vm, steps, "fl")
    lost, connected = logged_at(vm, "connection lost"), logged_at(vm, "mqtt: connected to")
    assert len(lost) == 5 and len(connected) == 6, vm.script_output
    # By the VM's clock: 0.1, 0.2, 0.4, 0.8 s, then the 1 s cap, from each loss to the next connection.
    pauses = [again - dropped for dropped, again in zip(lost, connected[1:], strict=True)]
    assert all(pause >= least for pause, least in zip(pauses, [100, 200, 400, 800, 1000], strict=True)), pauses
    clean(vm)


# --------------------------------------------------------- QoS 1 resend with DUP


async def test_qos1_dropped_before_puback_is_resent_with_dup(start_vm: VMFactory) -> None:
    steps = handshake("q1") + [
        expect(is_publish("out", b"m0", 1, dup=False), save="first"),
        drop(),
        *reconnect("q1"),
        expect(is_publish("out", b"m0", 1, dup=True), save="resent"),
        ack_saved("resent"),
        *round_trip(b"pub sync", b"sync"),  # delivered once: the next packet is a later publish, no third copy
    ]
    b, vm = await play(start_vm, steps, "q1", "pubs=1")
    assert b.ctx["resent"].pid == b.ctx["first"].pid
    assert b.ctx["resent"].raw[0] == b.ctx["first"].raw[0] | 0x08
    assert b.ctx["resent"].raw[1:] == b.ctx["first"].raw[1:]
    await vm.expect(r"^PUBOK sync ")  # the pubs=1 publish returned before the command loop took "pub sync"
    assert vm.output().count("PUBOK m0") == 1
    clean(vm)


async def test_two_inflight_resent_in_order_then_acked_out_of_order(start_vm: VMFactory) -> None:
    steps = handshake("q2") + [
        expect(is_publish("out", b"p0", 1, dup=False), save="a"),
        expect(is_publish("out", b"p1", 1, dup=False), save="b"),
        drop(),
        *reconnect("q2"),
        expect(is_publish("out", b"p0", 1, dup=True), save="a2"),
        expect(is_publish("out", b"p1", 1, dup=True), save="b2"),
        ack_saved("b2"),
        ack_saved("a2"),
    ]
    b, vm = await play(start_vm, steps, "q2", "par=2")
    assert (b.ctx["a2"].pid, b.ctx["b2"].pid) == (b.ctx["a"].pid, b.ctx["b"].pid)
    assert b.ctx["a"].pid != b.ctx["b"].pid
    await vm.expect(r"^PUBOK p0 ")
    await vm.expect(r"^PUBOK p1 ")
    clean(vm)


async def test_resend_after_subscription_replay(start_vm: VMFactory) -> None:
    def sub_of(*filters: tuple[str, int]) -> Callable[[Packet], bool]:
        def check(p: Packet) -> bool:
            assert p.type == SUBSCRIBE and p.flags == 2 and p.subscriptions() == list(filters), p.raw.hex()
            return True
        return check

    steps = handshake("q3") + [
        expect(sub_of(("cmd", 1)), save="s1"),
        send(lambda c: suback(c["s1"].pid, 1)),
        expect(is_publish("out", b"m0", 1, dup=False), save="p"),
        drop(),
        *reconnect("q3"),
        expect(sub_of(("cmd", 1)), save="s2"),  # subscriptions are replayed first
        send(lambda c: suback(c["s2"].pid, 1)),
        expect(is_publish("out", b"m0", 1, dup=True), save="p2"),
        ack_saved("p2"),
    ]
    b, vm = await play(start_vm, steps, "q3", "sub=cmd:1", "pubs=1")
    assert b.ctx["p2"].pid == b.ctx["p"].pid
    assert b.ctx["s2"].pid not in (0, b.ctx["p"].pid)  # never the id of a message still in flight
    await vm.expect(r"^PUBOK m0 ")
    clean(vm)


async def test_subscriptions_replayed_in_one_subscribe_after_reconnect(start_vm: VMFactory) -> None:
    def both(p: Packet) -> bool:
        assert p.type == SUBSCRIBE and sorted(p.subscriptions()) == [("a/#", 1), ("b", 0)], p.raw.hex()
        return True

    steps = handshake("rs") + [
        expect(both, save="s1"), send(lambda c: suback(c["s1"].pid, 1, 0)),
        drop(),
        *reconnect("rs"),
        expect(both, save="s2"), send(lambda c: suback(c["s2"].pid, 0x80, 0)),  # now a/# is refused
    ]
    b, vm = await play(start_vm, steps, "rs", "sub=a/#:1,b:0")
    await vm.expect(r"broker refused subscription to a/#")
    await vm.expect(r"^READY 2")
    assert b.ctx["s2"].pid != b.ctx["s1"].pid
    clean(vm)


async def test_connack_session_present_is_tolerated(start_vm: VMFactory) -> None:
    # A broker must answer CleanSession=1 with SP=0; the client does not rely on it.
    steps = [accept(), expect(connect_bytes("sp", 60)), send(connack(0, session_present=True)),
             send(publish("cmd", b"pub ok")), expect(is_publish("out", b"ok", 1), save="p"), ack_saved("p")]
    _, vm = await play(start_vm, steps, "sp")
    await vm.expect(r"^PUBOK ok ")
    clean(vm)


async def test_duplicate_puback_is_ignored(start_vm: VMFactory) -> None:
    steps = handshake("q4") + [
        expect(is_publish("out", b"m0", 1), save="a"), ack_saved("a"), ack_saved("a"),
        expect(is_publish("out", b"m1", 1), save="b"), ack_saved("b"),
        *round_trip(b"pub sync", b"sync"),  # still connected and in step after the extra PUBACK
    ]
    _, vm = await play(start_vm, steps, "q4", "pubs=2")
    await vm.expect(r"^PUBOK m1 ")
    assert "connection lost" not in vm.script_output
    clean(vm)


# -------------------------------------------------------------------- keepalive


async def test_an_idle_client_pings_and_answered_pings_keep_it_connected(start_vm: VMFactory) -> None:
    # The ping interval (keepalive/2) is a timing figure for a benchmark; here: it pings when idle, and with
    # every ping answered it stays connected past its 1.5 x keepalive limit.
    steps = handshake("k1", 1) + [
        expect(b"\xc0\x00", label="PINGREQ"), send(b"\xd0\x00"),
        # Nothing but pings and their answers for 2.5 s of its time: unanswered, it would drop after 1.5 s.
        send(publish("cmd", b"wait 2500")),
        expect(is_publish("out", b"waited", 1), save="waited", ignore=(PINGREQ,), pong=True),
        ack_saved("waited"),
    ]
    _, vm = await play(start_vm, steps, "k1", "keepalive=1")
    assert "connection lost" not in vm.script_output


async def test_no_pingresp_disconnects_and_reconnects(start_vm: VMFactory) -> None:
    steps = handshake("k2", 1) + [
        expect(b"\xc0\x00", label="PINGREQ"),  # never answered
        expect_disconnect(),
        *reconnect("k2", 1),
    ]
    _, vm = await play(start_vm, steps, "k2", "keepalive=1")
    await vm.expect(r"^READY 2")
    # 1.5 x keepalive with nothing heard, by its own clock, before it gave up.
    m = re.search(r"connection lost: no packet from broker for (\d+) ms", vm.script_output)
    assert m and int(m[1]) >= 1500, vm.script_output
    clean(vm)


async def test_keepalive_zero_never_pings(start_vm: VMFactory) -> None:
    # Idle for 1.5 s of its own time (a 1 s keepalive would ping at 0.5 s): its next packet is the publish after it.
    _, vm = await play(start_vm, handshake("k0", 0) + quiet_for(1500), "k0", "keepalive=0")
    assert "connection lost" not in vm.script_output


async def test_qos0_flood_survives_connection_drop(start_vm: VMFactory) -> None:
    # A device streaming QoS 0 telemetry back to back when the broker drops the connection. This found
    # a firmware bug: publish(qos=0) spun without yielding once the connection was marked lost.
    steps = handshake("fq") + [expect(is_publish("flood", b"f", 0)), drop(), *reconnect("fq"),
                               expect(is_publish("flood", b"f", 0))]
    _, vm = await play(start_vm, steps, "fq", "flood0=1000000")
    clean(vm)


async def test_qos0_only_device_still_pings(start_vm: VMFactory) -> None:
    # It sends (QoS 0) but hears nothing: it must still ping, or it would not notice a dead broker.
    steps = handshake("k3", 1) + [
        expect(is_publish("out0", b"q0", 0)),
        expect(b"\xc0\x00", label="PINGREQ"), send(b"\xd0\x00"),
    ]
    await play(start_vm, steps, "k3", "keepalive=1", "qos0=1")


# ------------------------------------------------- unexpected but legal packets


async def _tolerated(start_vm: VMFactory, cid: str, extra: bytes, *opts: str) -> Any:
    """Send ``extra``, then prove the connection is up and in sync with a command round trip."""
    steps = handshake(cid) + [
        send(extra),
        send(publish("cmd", b"pub alive")),
        expect(is_publish("out", b"alive", 1), save="p"),
        ack_saved("p"),
    ]
    _, vm = await play(start_vm, steps, cid, *opts)
    await vm.expect(r"^PUBOK alive ")
    assert "connection lost" not in vm.script_output, vm.output()
    clean(vm)
    return vm


async def test_unexpected_puback_unknown_id_is_ignored(start_vm: VMFactory) -> None:
    await _tolerated(start_vm, "x1", puback(4242))


async def test_unexpected_suback_is_ignored(start_vm: VMFactory) -> None:
    await _tolerated(start_vm, "x2", suback(777, 0))


async def test_unsuback_is_ignored(start_vm: VMFactory) -> None:
    await _tolerated(start_vm, "x3", b"\xb0\x02\x00\x09")


async def test_suback_failure_0x80(start_vm: VMFactory) -> None:
    steps = handshake("x4") + [
        expect(lambda p: p.type == SUBSCRIBE and p.subscriptions() == [("nope/#", 1)], save="s"),
        send(lambda c: suback(c["s"].pid, 0x80)),
        send(publish("cmd", b"pub alive")),
        expect(is_publish("out", b"alive", 1), save="p"),
        ack_saved("p"),
    ]
    _, vm = await play(start_vm, steps, "x4", "latesub=nope/#:1")
    await vm.expect(r"broker refused subscription to nope/#")
    await vm.expect(r"^SUBOK 128$")
    assert "connection lost" not in vm.script_output
    clean(vm)


async def test_inbound_qos1_publish_is_acked_with_its_pid(start_vm: VMFactory) -> None:
    steps = handshake("x5") + [
        send(publish("a/b", b"hello", qos=1, pid=0xBEEF, retain=True)),
        expect(b"\x40\x02\xbe\xef", label="PUBACK 0xbeef"),
    ]
    _, vm = await play(start_vm, steps, "x5")
    await vm.expect(r"^MSG a/b 5 1 0 68656c6c6f$")


async def test_inbound_qos1_oversize_publish_is_still_acked(start_vm: VMFactory) -> None:
    steps = handshake("x6") + [
        send(publish("big", b"\x5a" * 3000, qos=1, pid=7)),
        expect(b"\x40\x02\x00\x07", label="PUBACK 7"),
    ]
    _, vm = await play(start_vm, steps, "x6", "max_payload=100")
    await vm.expect(rf"^MSG big 256 0 1 {'5a' * 16}$")
    clean(vm)


async def test_packets_trickled_one_byte_at_a_time(start_vm: VMFactory) -> None:
    # Partial reads everywhere: CONNACK, a QoS 1 PUBLISH with a 2-byte remaining length, a PUBACK.
    payload = bytes(range(200))
    steps = [
        accept(), expect(connect_bytes("tr", 60)), send(connack(0), chunk=1, delay=0.01),
        send(publish("in", payload, qos=1, pid=9), chunk=1, delay=0.001),
        expect(b"\x40\x02\x00\x09"),
        send(publish("cmd", b"pub x")),
        expect(is_publish("out", b"x", 1), save="p"),
        send(lambda c: puback(c["p"].pid), chunk=1, delay=0.01),
    ]
    _, vm = await play(start_vm, steps, "tr")
    await vm.expect(rf"^MSG in 200 0 0 {payload[:16].hex()}$")
    await vm.expect(r"^PUBOK x ")
    assert "connection lost" not in vm.script_output
    clean(vm)


async def test_packets_coalesced_in_one_write(start_vm: VMFactory) -> None:
    # CONNACK, two PUBLISHes and a PINGRESP in a single TCP segment.
    burst = connack(0) + publish("a", b"1") + publish("b", b"22", qos=1, pid=3) + b"\xd0\x00"
    steps = [accept(), expect(connect_bytes("co", 60)), send(burst), expect(b"\x40\x02\x00\x03")]
    _, vm = await play(start_vm, steps, "co")
    await vm.expect(r"^MSG a 1 0 0 31$")
    await vm.expect(r"^MSG b 2 0 0 3232$")
    clean(vm)


async def test_silent_broker_connect_times_out(start_vm: VMFactory) -> None:
    # No CONNACK at all: the connect attempt is abandoned after CONNECT_TIMEOUT (5 s), then retried fast.
    steps = [accept(), expect(connect_bytes("sl", 60)), expect_disconnect(timeout=30), *handshake("sl")]
    _, vm = await play(start_vm, steps, "sl")
    await vm.expect(r"^READY 1")
    (gave_up,) = logged_at(vm, "TimeoutError")
    assert gave_up - started_at(vm) >= 5000, vm.script_output  # by its own clock: not before the 5 s
    assert re.search(r"TimeoutError.*; retry in 0\.1 s", vm.script_output), vm.script_output
    clean(vm)


# ------------------------------------------------------------ malformed packets

MALFORMED = {
    "topic-longer-than-remaining": bytes([0x30, 0x05, 0x00, 0x09, 0x61, 0x62, 0x63]),
    "topic-not-utf8": publish(b"\xff\xfe", b"x"),
    "topic-wildcard": publish("a/+", b"x"),
    "publish-qos3": bytes([0x36, 0x07, 0x00, 0x01, 0x61, 0x00, 0x01, 0x78, 0x79]),
    "publish-qos2": publish("a", b"x", qos=2, pid=5),
    "publish-empty-topic": publish(b"", b"x"),
    "publish-remaining-0": b"\x30\x00",
    "remaining-length-5-bytes": bytes([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]),
    "puback-pid-0": b"\x40\x02\x00\x00",
    "publish-qos1-pid-0": publish("a", b"x", qos=1, pid=0),
    "suback-too-many-codes": suback(3, 0, 0, 0),
    "pingresp-with-body": b"\xd1\x00",
    "reserved-type-15": b"\xf0\x00",
    "connack-mid-session": connack(0),
    "pubrel-bad-flags": b"\x60\x02\x00\x01",
}


@pytest.mark.parametrize("garbage", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_packet_drops_and_reconnects(start_vm: VMFactory, garbage: bytes) -> None:
    steps = handshake("m1") + [send(garbage), expect_disconnect(), *reconnect("m1")]
    _, vm = await play(start_vm, steps, "m1")
    await vm.expect(r"^READY 2")
    out = vm.script_output
    assert re.search(r"connection lost: MQTTProtocolError", out), out
    assert out.count("connection lost") == 1
    clean(vm)


async def test_repeated_malformed_packets_keep_memory_bounded(start_vm: VMFactory) -> None:
    bad = list(MALFORMED.values())[:5]  # flapping backoff: 0.1+0.2+0.4+0.8+1.0 s
    steps = handshake("mem")
    for g in bad:
        steps += [send(g), expect_disconnect(), accept(), expect(connect_bytes("mem", 60)), send(connack(0))]
    steps += [send(publish("cmd", b"heap"))]
    _, vm = await play(start_vm, steps, "mem")
    _, first = await vm.expect(r"^HEAP (\d+) (\d+)")
    _, last = await vm.expect(r"^HEAP (\d+) (\d+)")
    await vm.expect(rf"^READY {len(bad) + 1}$")
    # After five malformed-packet reconnects the heap in use is what it was after the first connect.
    assert abs(int(last[2]) - int(first[2])) < 2048, (first[0], last[0])
    clean(vm)


# ----------------------------------------------------------- remaining length

RL_CASES = [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16383, b"\xff\x7f"), (16384, b"\x80\x80\x01"),
    (2097151, b"\xff\xff\x7f"), (2097152, b"\x80\x80\x80\x01"), (268435455, b"\xff\xff\xff\x7f"),
]


@pytest.mark.parametrize(("n", "encoded"), RL_CASES, ids=[str(n) for n, _ in RL_CASES])
def test_codec_remaining_length_boundaries(n: int, encoded: bytes) -> None:
    assert varint(n) == encoded  # the test's own encoder agrees with the spec table
    assert mqtt_codec.encode_remaining_length(n) == encoded
    assert mqtt_codec.decode_remaining_length(b"\x30" + encoded + b"tail", 1) == (n, 1 + len(encoded))


def test_codec_remaining_length_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        mqtt_codec.encode_remaining_length(268435456)
    with pytest.raises(ValueError):
        mqtt_codec.encode_remaining_length(-1)
    with pytest.raises(mqtt_codec.MQTTProtocolError):
        mqtt_codec.decode_remaining_length(b"\xff\xff\xff\xff\x01")
    with pytest.raises(mqtt_codec.MQTTProtocolError):
        mqtt_codec.decode_remaining_length(b"\x80\x80")


@pytest.mark.parametrize("size", [127, 128, 16383, 16384], ids=lambda s: f"rl{s}")
async def test_inbound_publish_at_remaining_length_boundary(start_vm: VMFactory, size: int) -> None:
    # Topic "t" (2 + 1 bytes) + payload = remaining length ``size``; max_payload 4096:
    # the two big ones are oversize (discarded in chunks, first 256 bytes delivered).
    payload = bytes(i & 0xFF for i in range(size - 3))
    pkt = publish("t", payload)
    assert pkt[1:1 + len(varint(size))] == varint(size)
    steps = handshake("rl") + [
        send(pkt),
        send(publish("cmd", b"pub sync")),
        expect(is_publish("out", b"sync", 1), save="p"),
        ack_saved("p"),
    ]
    _, vm = await play(start_vm, steps, "rl")
    over = size - 3 > 4096
    await vm.expect(rf"^MSG t {256 if over else size - 3} 0 {int(over)} {payload[:16].hex()}$")
    await vm.expect(r"^PUBOK sync ")
    assert "connection lost" not in vm.script_output
    clean(vm)


async def test_inbound_publish_with_4_byte_remaining_length(start_vm: VMFactory) -> None:
    size = 2097152  # smallest 4-byte remaining length: oversize, streamed through the receive buffer
    payload = b"\xab" * (size - 3)
    steps = handshake("rl4") + [
        send(publish("t", payload)),
        send(publish("cmd", b"pub sync")),
        expect(is_publish("out", b"sync", 1), save="p"),
        ack_saved("p"),
    ]
    _, vm = await play(start_vm, steps, "rl4", "max_payload=1024")
    await vm.expect(rf"^MSG t 256 0 1 {'ab' * 16}$")
    assert "connection lost" not in vm.script_output
    clean(vm)


# ------------------------------------------------------------------ packet ids


async def test_packet_ids_distinct_and_nonzero_while_in_flight(start_vm: VMFactory) -> None:
    n = 6
    steps = handshake("id1") + [expect(is_publish("out", f"p{i}".encode(), 1), save=f"p{i}") for i in range(n)]
    steps += [ack_saved(f"p{i}") for i in reversed(range(n))]
    b, vm = await play(start_vm, steps, "id1", f"par={n}")
    pids = [b.ctx[f"p{i}"].pid for i in range(n)]
    assert 0 not in pids and len(set(pids)) == n, pids
    for i in range(n):
        await vm.expect(rf"^PUBOK p{i} ")


async def test_packet_ids_wrap_after_65535(start_vm: VMFactory) -> None:
    steps = handshake("id2")
    for i in range(4):
        steps += [expect(is_publish("out", f"m{i}".encode(), 1), save=f"m{i}"), ack_saved(f"m{i}")]
    b, vm = await play(start_vm, steps, "id2", "pid=65533", "pubs=4")
    assert [b.ctx[f"m{i}"].pid for i in range(4)] == [65534, 65535, 1, 2]
    await vm.expect(r"^PUBOK m3 ")


async def test_packet_ids_wrap_skips_id_still_in_flight(start_vm: VMFactory) -> None:
    # Id 1 stays unacked while the counter wraps around to it: it must be skipped.
    steps = handshake("id3") + [
        expect(is_publish("out", b"p0", 1), save="p0"),
        expect(is_publish("out", b"p1", 1), save="p1"),
        expect(is_publish("out", b"p2", 1), save="p2"),
        ack_saved("p2"), ack_saved("p1"), ack_saved("p0"),
    ]
    b, _ = await play(start_vm, steps, "id3", "pid=65534", "par=3")
    assert sorted(b.ctx[f"p{i}"].pid for i in range(3)) == [1, 2, 65535]


def test_packet_id_allocator_full_cycle_never_reuses_in_flight() -> None:
    from mqtt_client import MQTTClient

    c = MQTTClient("x", "127.0.0.1", log=lambda line: None)
    held = {1, 2, 300, 65535}
    for pid in held:
        c._inflight[pid] = [None, b"", -1, 0, False]
    seen = [c._new_pid() for _ in range(3 * 65535)]
    assert 0 not in seen and not held & set(seen)
    assert len(set(seen)) == 65535 - len(held)
    for pid in range(1, 65536):
        c._inflight.setdefault(pid, [None, b"", -1, 0, False])
    with pytest.raises(OSError):
        c._new_pid()


# ------------------------------------------------------------- clean shutdown


async def test_quit_sends_disconnect_then_closes(start_vm: VMFactory) -> None:
    steps = handshake("dc") + [
        send(publish("cmd", b"quit")),
        expect(b"\xe0\x00", label="DISCONNECT"),
        expect_disconnect(ignore=(), allow_disconnect_packet=False),
    ]
    _, vm = await play(start_vm, steps, "dc")
    await vm.expect(r"^DONE$")
    assert await vm.proc.wait() == 0

