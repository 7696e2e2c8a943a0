"""firmware/mqtt_codec.py on CPython, checked against amqtt's packet classes.

amqtt is an independent MQTT 3.1.1 implementation: packets we encode must
decode there to the same values, and packets it encodes must decode here.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import mqtt_codec as codec
import pytest
from amqtt.adapters import ReaderAdapter
from amqtt.mqtt.connack import ConnackPacket
from amqtt.mqtt.connect import ConnectPacket
from amqtt.mqtt.disconnect import DisconnectPacket
from amqtt.mqtt.packet import MQTTFixedHeader
from amqtt.mqtt.pingreq import PingReqPacket
from amqtt.mqtt.pingresp import PingRespPacket
from amqtt.mqtt.puback import PubackPacket
from amqtt.mqtt.publish import PublishPacket
from amqtt.mqtt.suback import SubackPacket
from amqtt.mqtt.subscribe import SubscribePacket
from hypothesis import given, settings
from hypothesis import strategies as st

T = TypeVar("T")

BOUNDARIES = [0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455]


class BytesReader(ReaderAdapter):
    """amqtt reader over an in-memory packet (amqtt decodes from streams only)."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(bytes(data))
        self.pos = 0

    async def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.pos + n
        chunk = bytes(self.data[self.pos:end])
        self.pos += len(chunk)
        return chunk

    def feed_eof(self) -> None:
        pass


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a decoder coroutine that never really suspends (it reads from memory)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("decoder suspended")


def amqtt_decode(packet_class: Any, data: bytes) -> Any:
    reader = BytesReader(data)
    packet = run(packet_class.from_stream(reader))
    assert reader.pos == len(data), "amqtt did not consume the whole packet"
    return packet


def split(packet: bytes | bytearray) -> tuple[int, int, bytes]:
    ptype, flags, body, end = codec.decode_packet(packet)
    assert end == len(packet)
    return ptype, flags, body


# ------------------------------------------------------------ remaining length


@pytest.mark.parametrize("n", BOUNDARIES)
def test_remaining_length_boundaries(n: int) -> None:
    ours = codec.encode_remaining_length(n)
    assert len(ours) == 1 + (n > 127) + (n > 16383) + (n > 2097151)
    assert codec.decode_remaining_length(ours) == (n, len(ours))
    # Independent: amqtt's fixed header encodes and decodes the same bytes.
    theirs = MQTTFixedHeader(3, 0, n).to_bytes()
    assert theirs[1:] == ours
    assert run(MQTTFixedHeader.from_stream(BytesReader(b"\x30" + ours))).remaining_length == n


@given(st.integers(0, codec.MAX_REMAINING_LENGTH), st.integers(0, 3))
def test_remaining_length_round_trip(n: int, offset: int) -> None:
    buf = b"\xaa" * offset + codec.encode_remaining_length(n) + b"\x55"
    value, end = codec.decode_remaining_length(buf, offset)
    assert value == n and buf[end:] == b"\x55"


@pytest.mark.parametrize("n", [-1, codec.MAX_REMAINING_LENGTH + 1])
def test_remaining_length_out_of_range_cannot_be_encoded(n: int) -> None:
    with pytest.raises(ValueError):
        codec.encode_remaining_length(n)


@pytest.mark.parametrize("raw", [b"", b"\x80", b"\xff\xff", b"\xff\xff\xff", b"\xff\xff\xff\xff",
                                 b"\x80\x80\x80\x80\x01"])
def test_remaining_length_truncated_or_5_bytes(raw: bytes) -> None:
    with pytest.raises(codec.MQTTProtocolError):
        codec.decode_remaining_length(raw)


@pytest.mark.parametrize("n", [5, 127, 128, 16383, 16384, 2097151, 2097152])
def test_publish_with_boundary_remaining_length(n: int) -> None:
    # Whole packets up to 2 MiB (0 is PINGREQ's length; 268435455 is header-only above).
    # topic "t" (2 + 1 bytes) + pid (2) + payload = n
    payload = bytes(i & 0xFF for i in range(n - 5))
    pkt = codec.encode_publish("t", payload, 1, False, False, 42)
    assert codec.decode_remaining_length(pkt, 1)[0] == n
    ours = codec.decode_publish(*split(pkt)[1:])
    assert ours == ("t", 42, payload, 1, False, False)
    theirs = amqtt_decode(PublishPacket, bytes(pkt))
    assert (theirs.topic_name, theirs.packet_id, theirs.data) == ("t", 42, payload)


# ----------------------------------------------------------------------- PUBLISH

topics = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="+#\x00"), min_size=1, max_size=40
)


@settings(max_examples=150)
@given(topics, st.binary(max_size=300), st.sampled_from([0, 1, 2]), st.booleans(), st.booleans(),
       st.integers(1, 65535))
def test_publish_round_trips_through_amqtt(topic: str, payload: bytes, qos: int, retain: bool, dup: bool,
                                           pid: int) -> None:
    pid = pid if qos else 0
    ours = bytes(codec.encode_publish(topic, payload, qos, retain, dup, pid))
    theirs_decoded = amqtt_decode(PublishPacket, ours)
    assert theirs_decoded.topic_name == topic and theirs_decoded.data == payload
    assert (theirs_decoded.qos, theirs_decoded.retain_flag, theirs_decoded.dup_flag) == (qos, retain, dup)
    assert theirs_decoded.packet_id == (pid if qos else None)
    # ...and amqtt's encoding decodes to the same values with ours.
    theirs = PublishPacket.build(topic, payload, pid if qos else None, dup, qos, retain).to_bytes()
    assert theirs == ours
    assert codec.decode_publish(*split(theirs)[1:]) == (topic, pid, payload, qos, retain, dup)


def test_publish_dup_can_be_set_in_place() -> None:
    pkt = codec.encode_publish("a", b"x", 1, False, False, 7)
    pkt[0] |= 0x08
    assert codec.decode_publish(*split(pkt)[1:])[5] is True


@pytest.mark.parametrize(
    "args",
    [("", b"x", 0), ("a", b"x", 3), ("a", b"x", 1, False, False, 0), ("a", b"x", 1, False, False, 65536),
     ("a" * 65536, b"", 0)],
)
def test_publish_bad_arguments(args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        codec.encode_publish(*args)


@pytest.mark.parametrize(
    "flags, body",
    [
        (0x06, b"\x00\x01a\x00\x01"),  # QoS 3
        (0x00, b"\x00\x10a"),  # topic length beyond the packet
        (0x02, b"\x00\x01a\x00"),  # QoS 1 without room for the packet id
        (0x02, b"\x00\x01a\x00\x00"),  # packet id 0
        (0x00, b"\x00"),  # no room for the topic length
        (0x00, b"\x00\x00x"),  # empty topic
        (0x00, b"\x00\x02\xff\xfe"),  # not UTF-8
        (0x00, b"\x00\x03a/#"),  # wildcard in a PUBLISH topic
        (0x00, b"\x00\x01\x00"),  # NUL in a topic
    ],
)
def test_publish_malformed(flags: int, body: bytes) -> None:
    with pytest.raises(codec.MQTTProtocolError):
        codec.decode_publish(flags, body)


def test_publish_payload_length_rejects_before_reading() -> None:
    assert codec.publish_payload_length(0x02, 10, 3) == (1, 3)
    with pytest.raises(codec.MQTTProtocolError):
        codec.publish_payload_length(0x00, 4, 3)
    with pytest.raises(codec.MQTTProtocolError):
        codec.publish_payload_length(0x06, 10, 3)


# ----------------------------------------------------------------------- CONNECT

wills = st.none() | st.tuples(topics, st.binary(max_size=50), st.booleans(), st.sampled_from([0, 1, 2]))
names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=23), st.integers(0, 65535),
       st.booleans(), wills, st.none() | names, st.none() | names)
def test_connect_decodes_in_amqtt(client_id: str, keepalive: int, clean: bool,
                                  will: tuple[str, bytes, bool, int] | None, user: str | None,
                                  password: str | None) -> None:
    if password is not None and user is None:
        user = "u"
    pkt = bytes(codec.encode_connect(client_id, keepalive, clean, will, user, password))
    c = amqtt_decode(ConnectPacket, pkt)
    assert (c.proto_name, c.proto_level, c.keep_alive) == ("MQTT", 4, keepalive)
    assert c.client_id == client_id and c.clean_session_flag == clean
    assert not c.reserved_flag
    assert c.will_flag == (will is not None)
    if will is not None:
        assert (c.will_topic, c.will_message, c.will_retain_flag, c.will_qos) == will
    else:
        assert not c.will_retain_flag and c.will_qos == 0
    assert c.username_flag == (user is not None) and c.username == user
    assert c.password_flag == (password is not None) and c.password == password


def test_connect_needs_a_user_for_a_password() -> None:
    with pytest.raises(ValueError):
        codec.encode_connect("id", password="p")


def test_connect_accepts_str_will_payload() -> None:
    pkt = bytes(codec.encode_connect("id", 15, True, ("s", "offline", True, 1)))
    assert amqtt_decode(ConnectPacket, pkt).will_message == b"offline"


# ------------------------------------------------------------ acks and the rest


@pytest.mark.parametrize("session_present", [0, 1])
@pytest.mark.parametrize("rc", [0, 1, 2, 3, 4, 5])
def test_connack_from_amqtt(session_present: int, rc: int) -> None:
    ptype, _, body = split(ConnackPacket.build(session_present, rc).to_bytes())
    assert ptype == codec.CONNACK
    assert codec.decode_connack(body) == (bool(session_present), rc)


@pytest.mark.parametrize("body", [b"", b"\x00", b"\x00\x00\x00", b"\x02\x00"])
def test_connack_malformed(body: bytes) -> None:
    with pytest.raises(codec.MQTTProtocolError):
        codec.decode_connack(body)


@given(st.integers(1, 65535))
def test_puback_both_ways(pid: int) -> None:
    ours = codec.encode_puback(pid)
    assert amqtt_decode(PubackPacket, ours).packet_id == pid
    ptype, _, body = split(PubackPacket.build(pid).to_bytes())
    assert ptype == codec.PUBACK and codec.decode_pid(body) == pid


@given(st.integers(1, 65535), st.lists(st.tuples(topics, st.sampled_from([0, 1, 2])), min_size=1, max_size=5))
def test_subscribe_decodes_in_amqtt(pid: int, subs: list[tuple[str, int]]) -> None:
    pkt = bytes(codec.encode_subscribe(pid, subs))
    s = amqtt_decode(SubscribePacket, pkt)
    assert s.variable_header.packet_id == pid and list(s.payload.topics) == subs
    assert pkt == SubscribePacket.build(subs, pid).to_bytes()


@pytest.mark.parametrize("args", [(1, []), (0, [("a", 0)]), (1, [("", 0)]), (1, [("a", 3)])])
def test_subscribe_bad_arguments(args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        codec.encode_subscribe(*args)


@given(st.integers(1, 65535), st.lists(st.sampled_from([0, 1, 2, 0x80]), min_size=1, max_size=8))
def test_suback_from_amqtt(pid: int, codes: list[int]) -> None:
    ptype, _, body = split(SubackPacket.build(pid, codes).to_bytes())
    assert ptype == codec.SUBACK and codec.decode_suback(body) == (pid, codes)


@pytest.mark.parametrize("body", [b"\x00\x01", b"\x00\x00\x00", b"\x00\x01\x03", b"\x00\x01\x00\x81"])
def test_suback_malformed(body: bytes) -> None:
    with pytest.raises(codec.MQTTProtocolError):
        codec.decode_suback(body)


def test_fixed_packets_match_amqtt() -> None:
    assert codec.PINGREQ_PACKET == PingReqPacket().to_bytes()
    assert codec.PINGRESP_PACKET == PingRespPacket.build().to_bytes()
    assert codec.DISCONNECT_PACKET == DisconnectPacket().to_bytes()
    for pkt, ptype in ((codec.PINGREQ_PACKET, codec.PINGREQ), (codec.PINGRESP_PACKET, codec.PINGRESP),
                       (codec.DISCONNECT_PACKET, codec.DISCONNECT)):
        assert split(pkt) == (ptype, 0, b"")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\x00", b"\xf0\x00", b"\x36\x00", b"\x41\x02\x00\x01", b"\x80\x00", b"\x30\x05ab",
     b"\x30\xff\xff\xff\xff\x01", b"\xd0"],
)
def test_decode_packet_malformed(raw: bytes) -> None:
    with pytest.raises(codec.MQTTProtocolError):
        codec.decode_packet(raw)


def test_decode_packet_walks_a_stream() -> None:
    stream = bytes(codec.encode_publish("a", b"1")) + codec.PINGRESP_PACKET + codec.encode_puback(9)
    pos, seen = 0, []
    while pos < len(stream):
        ptype, _, _, pos = codec.decode_packet(stream, pos)
        seen.append(ptype)
    assert seen == [codec.PUBLISH, codec.PINGRESP, codec.PUBACK]


def test_protocol_error_is_a_value_error() -> None:
    assert issubclass(codec.MQTTProtocolError, ValueError)


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_decoders_raise_only_protocol_error_on_garbage(raw: bytes) -> None:
    decoders = [
        codec.decode_packet,
        codec.decode_remaining_length,
        codec.decode_connack,
        codec.decode_pid,
        codec.decode_suback,
        codec.decode_topic,
        lambda b: codec.decode_publish(b[0] & 0x0F if b else 0, b[1:]),
    ]
    for decode in decoders:
        try:
            decode(raw)
        except codec.MQTTProtocolError:
            pass
