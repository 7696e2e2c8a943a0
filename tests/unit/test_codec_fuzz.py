"""Fuzzing firmware/mqtt_codec.py's decoders (issue #8): hostile bytes from a peer.

The codec's contract (its module docstring): decoders raise only
``MQTTProtocolError`` (a ``ValueError``) on bytes that do not follow MQTT
3.1.1. Any other exception (IndexError, UnicodeError, struct.error...) on
peer bytes would escape the firmware's receive loop as a crash, so it is a
firmware bug. Three kinds of input:

* arbitrary bytes into every decode entry point;
* valid packets from the encoders, then mutated (bit flips, byte
  overwrites, truncation, insertion, a corrupted length), split with
  ``decode_packet`` and handed to the decoder for their type;
* roundtrips: what the encoders write decodes to the same values.

The default run uses a reduced budget; ``-m slow`` runs the same properties
with >= 100,000 inputs in total and prints the count.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import mqtt_codec as codec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mqtt_codec import MQTTProtocolError

# Inputs actually fed to the codec, per property (reported by the slow run).
COUNTS: dict[str, int] = {}

FAST = 1000  # examples per property: ~5,000 inputs, a few seconds
SLOW = 25_000  # per property: 125,000 inputs


def _settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,  # reproducible from the seed Hypothesis prints; no .hypothesis/ state
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def rejected_or_ok(call: Callable[..., Any], *args: Any) -> Any:
    """Run a decoder: returning or raising MQTTProtocolError is fine, anything else fails the test."""
    try:
        return call(*args)
    except MQTTProtocolError:
        return None


def decode_body(ptype: int, flags: int, body: bytes) -> None:
    """What a receiver does with a split-off packet: the decoder for its type."""
    if ptype == codec.PUBLISH:
        rejected_or_ok(codec.decode_publish, flags, body)
    elif ptype == codec.CONNACK:
        rejected_or_ok(codec.decode_connack, body)
    elif ptype == codec.SUBACK:
        rejected_or_ok(codec.decode_suback, body)
    elif ptype in (codec.PUBACK, codec.PUBREC, codec.PUBREL, codec.PUBCOMP, codec.UNSUBACK):
        rejected_or_ok(codec.decode_pid, body)


def every_decoder(data: bytes) -> None:
    """Feed ``data`` to every decode entry point the codec has."""
    for offset in range(min(len(data), 3) + 1):
        rejected_or_ok(codec.decode_remaining_length, data, offset)
        split = rejected_or_ok(codec.decode_packet, data, offset)
        if split is not None:
            ptype, flags, body, end = split
            assert offset < end <= len(data) and isinstance(body, bytes)
            decode_body(ptype, flags, body)
    if data:
        rejected_or_ok(codec.check_flags, data[0] >> 4, data[0] & 0x0F)
    rejected_or_ok(codec.decode_connack, data)
    rejected_or_ok(codec.decode_pid, data)
    rejected_or_ok(codec.decode_suback, data)
    rejected_or_ok(codec.decode_topic, data)
    rejected_or_ok(codec.decode_topic, bytearray(data))
    rejected_or_ok(codec.decode_topic, memoryview(data))
    for flags in range(16):
        rejected_or_ok(codec.decode_publish, flags, data)
        rejected_or_ok(codec.decode_publish, flags, memoryview(data))
    if len(data) >= 2:
        tlen = (data[0] << 8) | data[1]
        rejected_or_ok(codec.publish_payload_length, data[0] & 0x0F, len(data), tlen)


def count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


# -- strategies --------------------------------------------------------------

topics = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="+#\x00"), min_size=1, max_size=40
).filter(lambda t: len(t.encode()) <= 0xFFFF)
pids = st.integers(1, 0xFFFF)
payloads = st.binary(max_size=300)


@st.composite
def valid_packets(draw: st.DrawFn) -> bytes:
    """One whole packet as the encoders write it (or a peer would send it)."""
    kind = draw(st.sampled_from(["publish", "connack", "suback", "puback", "pid", "subscribe", "connect", "fixed"]))
    if kind == "publish":
        qos = draw(st.integers(0, 2))
        return bytes(codec.encode_publish(draw(topics), draw(payloads), qos=qos, retain=draw(st.booleans()),
                                          dup=draw(st.booleans()), pid=draw(pids) if qos else 0))
    if kind == "connack":
        return bytes((0x20, 2, draw(st.integers(0, 1)), draw(st.integers(0, 5))))
    if kind == "suback":
        codes = draw(st.lists(st.sampled_from([0, 1, 2, 0x80]), min_size=1, max_size=5))
        return bytes((0x90, 2 + len(codes))) + struct.pack(">H", draw(pids)) + bytes(codes)
    if kind == "puback":
        return codec.encode_puback(draw(pids))
    if kind == "pid":  # PUBREC / PUBREL / PUBCOMP / UNSUBACK
        first = draw(st.sampled_from([0x50, 0x62, 0x70, 0xB0]))
        return bytes((first, 2)) + struct.pack(">H", draw(pids))
    if kind == "subscribe":
        return bytes(codec.encode_subscribe(draw(pids), draw(st.lists(st.tuples(topics, st.integers(0, 2)),
                                                                            min_size=1, max_size=3))))
    if kind == "connect":
        user = draw(st.none() | topics)
        return bytes(codec.encode_connect(
            draw(topics), draw(st.integers(0, 0xFFFF)), draw(st.booleans()),
            draw(st.none() | st.tuples(topics, payloads, st.booleans(), st.integers(0, 2))),
            user, draw(st.none() | topics) if user is not None else None,
        ))
    return draw(st.sampled_from([codec.PINGREQ_PACKET, codec.PINGRESP_PACKET, codec.DISCONNECT_PACKET]))


@st.composite
def mutated_packets(draw: st.DrawFn) -> bytes:
    """A valid packet (or two back to back) with a few random mutations."""
    data = bytearray(draw(valid_packets()))
    if draw(st.booleans()):
        data += draw(valid_packets())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "length", "type"]))
        if not data and op != "insert":
            break
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF, ord("+"), ord("#"), 0xC0, 0xED]))
        elif op == "truncate":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 4))]
        elif op == "length":  # a remaining length that lies, or runs on past 4 bytes
            data[1:2] = draw(st.sampled_from([b"\x00", b"\xff", b"\xff\xff\xff\xff\x7f", b"\x80\x80\x80\x80",
                                              bytes((draw(st.integers(0, 255)),))]))
        elif op == "type":
            data[0] = (draw(st.integers(0, 15)) << 4) | (data[0] & 0x0F)
    return bytes(data)


# -- the properties, each run with the fast and the slow budget ---------------

def prop_arbitrary_bytes(data: bytes) -> None:
    count("arbitrary bytes")
    every_decoder(data)


def prop_mutated_packets(data: bytes) -> None:
    count("mutated packets")
    every_decoder(data)
    # A stream reader: split packets off until the buffer is used up or rejected.
    offset = 0
    while offset < len(data):
        split = rejected_or_ok(codec.decode_packet, data, offset)
        if split is None:
            break
        ptype, flags, body, offset = split
        decode_body(ptype, flags, body)


def prop_remaining_length_roundtrip(n: int, tail: bytes) -> None:
    count("remaining length roundtrip")
    enc = codec.encode_remaining_length(n)
    assert 1 <= len(enc) <= 4
    assert len(enc) == 1 + (n > 127) + (n > 16383) + (n > 2097151)  # the shortest encoding
    assert codec.decode_remaining_length(enc + tail) == (n, len(enc))
    assert codec.decode_remaining_length(tail + enc, len(tail)) == (n, len(tail) + len(enc))


def prop_publish_roundtrip(topic: str, payload: bytes, qos: int, retain: bool, dup: bool, pid: int,
                           before: bytes) -> None:
    count("publish roundtrip")
    pkt = codec.encode_publish(topic, payload, qos=qos, retain=retain, dup=dup, pid=pid if qos else 0)
    stream = before + bytes(pkt) + codec.PINGREQ_PACKET
    ptype, flags, body, end = codec.decode_packet(stream, len(before))
    assert ptype == codec.PUBLISH and end == len(before) + len(pkt)
    assert codec.decode_publish(flags, body) == (topic, pid if qos else 0, payload, qos, retain, dup)
    assert codec.decode_packet(stream, end)[:3] == (codec.PINGREQ, 0, b"")
    if not dup:
        pkt[0] |= 8  # the resend path sets DUP in place
        assert codec.decode_publish(*codec.decode_packet(pkt)[1:3])[5] is True


def prop_other_roundtrips(pid: int, topic_qos: list[tuple[str, int]], codes: list[int], sp: bool, rc: int) -> None:
    count("other packet roundtrips")
    assert codec.decode_pid(codec.decode_packet(codec.encode_puback(pid))[2]) == pid
    ptype, flags, body, _ = codec.decode_packet(codec.encode_subscribe(pid, topic_qos))
    assert (ptype, flags) == (codec.SUBSCRIBE, 2)
    assert codec.decode_pid(body[:2]) == pid
    pos, got = 2, []
    while pos < len(body):  # no decode_subscribe in the codec (a client never receives one)
        tlen = (body[pos] << 8) | body[pos + 1]
        got.append((body[pos + 2:pos + 2 + tlen].decode(), body[pos + 2 + tlen]))
        pos += 3 + tlen
    assert got == topic_qos
    suback = bytes((0x90, 2 + len(codes))) + struct.pack(">H", pid) + bytes(codes)
    assert codec.decode_suback(codec.decode_packet(suback)[2]) == (pid, codes)
    assert codec.decode_connack(bytes((int(sp), rc))) == (sp, rc)


STRATEGIES: dict[str, tuple[Callable[..., None], dict[str, st.SearchStrategy[Any]]]] = {
    "arbitrary_bytes": (prop_arbitrary_bytes, {"data": st.binary(max_size=64) | st.binary(max_size=1024)}),
    "mutated_packets": (prop_mutated_packets, {"data": mutated_packets()}),
    "remaining_length_roundtrip": (prop_remaining_length_roundtrip, {
        "n": st.integers(0, codec.MAX_REMAINING_LENGTH) | st.sampled_from(
            [0, 127, 128, 16383, 16384, 2097151, 2097152, codec.MAX_REMAINING_LENGTH]),
        "tail": st.binary(max_size=6),
    }),
    "publish_roundtrip": (prop_publish_roundtrip, {
        "topic": topics, "payload": payloads, "qos": st.integers(0, 2), "retain": st.booleans(),
        "dup": st.booleans(), "pid": pids, "before": st.binary(max_size=4),
    }),
    "other_roundtrips": (prop_other_roundtrips, {
        "pid": pids, "topic_qos": st.lists(st.tuples(topics, st.integers(0, 2)), min_size=1, max_size=4),
        "codes": st.lists(st.sampled_from([0, 1, 2, 0x80]), min_size=1, max_size=8),
        "sp": st.booleans(), "rc": st.integers(0, 255),
    }),
}


def run_property(name: str, budget: int) -> None:
    prop, strategies = STRATEGIES[name]
    _settings(budget)(given(**strategies)(prop))()


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_codec_fuzz(name: str) -> None:
    run_property(name, FAST)


@pytest.mark.slow
def test_codec_fuzz_slow(capsys: pytest.CaptureFixture[str]) -> None:
    """>= 100,000 inputs over all properties (minutes: run with -m slow)."""
    COUNTS.clear()
    for name in STRATEGIES:
        run_property(name, SLOW)
    total = sum(COUNTS.values())
    with capsys.disabled():
        print(f"\ncodec fuzz inputs: {total} ({COUNTS})")
    assert total >= 100_000, COUNTS


# -- edge cases the properties might not hit, as plain checks -----------------

@pytest.mark.parametrize("data", [
    b"", b"\x30", b"\x30\xff\xff\xff\xff\x7f", b"\x30\x80\x80\x80\x80", b"\x00\x00", b"\xf0\x00",
    b"\x30\x02\x00\x00", b"\x32\x04\x00\x01a\x00", b"\x30\x05\x00\x03\xff\xfe\xfd", b"\x30\x05\x00\x03\xed\xa0\x80",
    b"\x30\x04\x00\x02a+", b"\x30\x04\x00\x02a\x00", b"\x36\x05\x00\x01a\x00\x01", b"\x90\x03\x00\x01\x03",
    b"\x90\x02\x00\x01", b"\x20\x02\x02\x00", b"\x40\x02\x00\x00",
])
def test_known_malformed_inputs_are_protocol_errors(data: bytes) -> None:
    every_decoder(data)
