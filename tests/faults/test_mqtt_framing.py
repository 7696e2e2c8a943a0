"""MQTT framing of a TCP byte stream: whole packets out, whatever the chunking in."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labtwin.errors import ProtocolError
from labtwin.twin.network.mqtt_framing import (
    MAX_REMAINING_LENGTH,
    MqttFramer,
    MqttPacket,
    encode_remaining_length,
    with_dup_flag,
)

PINGREQ = b"\xc0\x00"


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + encode_remaining_length(len(body)) + body


def publish(topic: str, payload: bytes, *, qos: int, packet_id: int = 0, dup: bool = False,
            retain: bool = False) -> bytes:
    name = topic.encode()
    body = len(name).to_bytes(2, "big") + name + (packet_id.to_bytes(2, "big") if qos else b"") + payload
    return packet(0x30 | (0x08 if dup else 0) | (qos << 1) | int(retain), body)


def frame_all(chunks: list[bytes]) -> list[bytes]:
    framer = MqttFramer()
    out = [p.raw for chunk in chunks for p in framer.feed(chunk)]
    assert framer.buffered == 0
    return out


@pytest.mark.parametrize("n, encoded", [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16383, b"\xff\x7f"), (16384, b"\x80\x80\x01"),
    (2097151, b"\xff\xff\x7f"), (2097152, b"\x80\x80\x80\x01"), (MAX_REMAINING_LENGTH, b"\xff\xff\xff\x7f"),
])
def test_remaining_length_encoding_matches_the_specification(n: int, encoded: bytes) -> None:
    assert encode_remaining_length(n) == encoded


@pytest.mark.parametrize("n", [-1, MAX_REMAINING_LENGTH + 1])
def test_remaining_length_out_of_range_is_refused(n: int) -> None:
    with pytest.raises(ValueError):
        encode_remaining_length(n)


def test_a_stream_split_at_every_byte_boundary_yields_the_same_packets() -> None:
    packets = [PINGREQ, packet(0x20, b"\x00\x00"), publish("a/b", b"x" * 120, qos=1, packet_id=7),
               packet(0x30, b"\x00\x01t" + b"y" * 124), packet(0x90, b"\x00\x01" + b"\x01" * 126),
               publish("lab/dev/command", b"z" * 200, qos=0), PINGREQ]
    assert [len(p) for p in packets][3:5] == [2 + 127, 3 + 128]  # the 1-to-2 length byte edge
    stream = b"".join(packets)
    for cut in range(len(stream) + 1):
        assert frame_all([stream[:cut], stream[cut:]]) == packets, f"split at byte {cut}"
    assert frame_all([stream[i:i + 1] for i in range(len(stream))]) == packets


@pytest.mark.parametrize("length", [0, 127, 128, 16383, 16384, 2097151])
def test_packets_at_each_remaining_length_edge_frame_whole(length: int) -> None:
    big = packet(0x30, b"\x00\x01t" + b"p" * (length - 3)) if length >= 3 else packet(0xD0, b"\x00" * length)
    stream = PINGREQ + big + PINGREQ
    header = 1 + len(encode_remaining_length(length))
    # Every cut through the fixed headers, and a few through the body and the packet's end.
    cuts = set(range(0, 2 + header + 2)) | {len(stream) - k for k in range(5)} | {len(stream) // 2}
    for cut in sorted(c for c in cuts if 0 <= c <= len(stream)):
        framed = frame_all([stream[:cut], stream[cut:]])
        assert [len(p) for p in framed] == [2, len(big), 2], f"split at byte {cut}"
        assert framed[1] == big
    parsed = MqttFramer().feed(big)[0]
    assert parsed.header_size == header and len(parsed.body) == length


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 15), st.integers(0, 15), st.binary(max_size=300)), max_size=8),
       st.lists(st.integers(1, 97), min_size=1, max_size=40))
def test_any_packets_in_any_chunking_come_out_whole_and_in_order(
        specs: list[tuple[int, int, bytes]], sizes: list[int]) -> None:
    packets = [packet(ptype << 4 | flags, body) for ptype, flags, body in specs]
    stream = b"".join(packets)
    chunks, i = [], 0
    while i < len(stream):
        size = sizes[len(chunks) % len(sizes)]
        chunks.append(stream[i:i + size])
        i += size
    assert frame_all(chunks) == packets


def test_a_remaining_length_longer_than_four_bytes_is_a_protocol_error() -> None:
    framer = MqttFramer()
    assert framer.feed(b"\x30\xff\xff\xff") == []  # could still be a valid 4-byte length
    with pytest.raises(ProtocolError, match="4 bytes"):
        framer.feed(b"\xff")


def test_a_packet_over_the_size_limit_is_a_protocol_error_before_it_is_buffered() -> None:
    framer = MqttFramer(max_packet_size=64)
    assert len(framer.feed(packet(0x30, b"\x00\x01t" + b"x" * 59))) == 1  # exactly 64 bytes
    with pytest.raises(ProtocolError, match="exceeds"):
        framer.feed(b"\x30\x80\x01")  # announces 128 bytes: refused on the header alone


def test_publish_fields_are_read_from_the_packet() -> None:
    raw = publish("ot2/dev/command", b'{"request_id": "r1"}', qos=1, packet_id=0x1234, retain=True)
    p = MqttFramer().feed(raw)[0]
    assert (p.is_publish, p.qos, p.dup, p.packet_id, p.flags & 1) == (True, 1, False, 0x1234, 1)
    assert p.body == raw[2:]
    q0 = MqttFramer().feed(publish("t", b"x", qos=0))[0]
    assert (q0.qos, q0.packet_id) == (0, None)
    ping = MqttFramer().feed(PINGREQ)[0]
    assert (ping.packet_type, ping.is_publish, ping.qos, ping.dup, ping.packet_id) == (12, False, 0, False, None)
    assert MqttPacket(b"\x32\x01\x00", 2).packet_id is None  # too short to hold a packet id


def test_dup_copy_of_a_qos1_publish_differs_only_in_the_dup_flag() -> None:
    original = MqttFramer().feed(publish("ot2/dev/command", b"payload", qos=1, packet_id=42))[0]
    copy = with_dup_flag(original)
    assert copy.dup and not original.dup
    assert copy.raw[0] == original.raw[0] | 0x08 and copy.raw[1:] == original.raw[1:]
    assert (copy.packet_id, copy.qos, copy.body) == (42, 1, original.body)
    assert with_dup_flag(copy) == copy  # a redelivery of a redelivery looks the same


@pytest.mark.parametrize("raw", [publish("t", b"x", qos=0), publish("t", b"x", qos=2, packet_id=1), PINGREQ])
def test_only_a_qos1_publish_can_be_redelivered(raw: bytes) -> None:
    with pytest.raises(ValueError, match="QoS 1 PUBLISH"):
        with_dup_flag(MqttFramer().feed(raw)[0])
