"""MQTT 3.1.1 packet encoding and decoding, shared by the firmware and its tests.

Pure functions over bytes, no I/O: the same file runs on MicroPython (the
boards) and on CPython (the unit tests). Because of that it sticks to the
common subset of both: no typing, no dataclasses, no walrus, only ``struct``.

Encoders take Python values and return ``bytes`` / ``bytearray`` holding one
whole packet (fixed header included), so a caller can write a packet with one
socket write. Encoders raise ``ValueError`` for arguments that cannot be
encoded (a programming error). Decoders take the *body* of a packet (what
follows the fixed header) and raise only :class:`MQTTProtocolError` on bytes
that do not follow the specification (a peer error).
"""

import struct

# Packet types (the high nibble of the first byte).
CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

MAX_REMAINING_LENGTH = 268435455  # 4 varint bytes of 7 bits each
SUBACK_FAILURE = 0x80

# Fixed, payload-less packets: prebuilt once so senders allocate nothing.
PINGREQ_PACKET = b"\xc0\x00"
PINGRESP_PACKET = b"\xd0\x00"
DISCONNECT_PACKET = b"\xe0\x00"

# CONNACK return codes of MQTT 3.1.1 section 3.2.2.3, for log lines.
CONNACK_REASONS = {
    0: "accepted",
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}

# Required fixed-header flag nibble per packet type (section 2.2.2); PUBLISH
# is absent because its flags carry DUP/QoS/RETAIN.
_FIXED_FLAGS = {
    CONNECT: 0, CONNACK: 0, PUBACK: 0, PUBREC: 0, PUBREL: 2, PUBCOMP: 0,
    SUBSCRIBE: 2, SUBACK: 0, UNSUBSCRIBE: 2, UNSUBACK: 0, PINGREQ: 0,
    PINGRESP: 0, DISCONNECT: 0,
}


class MQTTProtocolError(ValueError):
    """Bytes received from a peer do not form a valid MQTT 3.1.1 packet.

    The only exception the decoders raise; a client that gets it should drop
    the connection (the stream can no longer be trusted to be in sync).
    """


def encode_remaining_length(n):
    """Return the 1..4 byte variable-length encoding of ``n`` (0..268435455)."""
    if n < 0 or n > MAX_REMAINING_LENGTH:
        raise ValueError("remaining length out of range: %d" % n)
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_remaining_length(buf, offset=0):
    """Decode a remaining length starting at ``buf[offset]``.

    Returns ``(value, offset_after)``. Raises MQTTProtocolError when the
    buffer ends inside the field or the field would need a 5th byte.
    """
    value = 0
    shift = 0
    for i in range(4):
        if offset + i >= len(buf):
            raise MQTTProtocolError("truncated remaining length")
        byte = buf[offset + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset + i + 1
        shift += 7
    raise MQTTProtocolError("remaining length longer than 4 bytes")


def check_flags(ptype, flags):
    """Raise MQTTProtocolError if a fixed header's flags are invalid for its type."""
    if ptype == PUBLISH:
        if flags & 0x06 == 0x06:
            raise MQTTProtocolError("PUBLISH with QoS 3")
        return
    expected = _FIXED_FLAGS.get(ptype)
    if expected is None:
        raise MQTTProtocolError("reserved packet type %d" % ptype)
    if flags != expected:
        raise MQTTProtocolError("bad flags 0x%x for packet type %d" % (flags, ptype))


def decode_packet(buf, offset=0):
    """Split one whole packet off ``buf`` starting at ``offset``.

    Returns ``(ptype, flags, body, offset_after)`` where ``body`` is a bytes
    copy of the variable header and payload. Checks the fixed-header flags.
    """
    if offset >= len(buf):
        raise MQTTProtocolError("truncated fixed header")
    first = buf[offset]
    ptype = first >> 4
    flags = first & 0x0F
    check_flags(ptype, flags)
    length, start = decode_remaining_length(buf, offset + 1)
    end = start + length
    if end > len(buf):
        raise MQTTProtocolError("truncated packet: need %d bytes, have %d" % (length, len(buf) - start))
    return ptype, flags, bytes(buf[start:end]), end


def _utf8(s):
    # Topics/ids may be given as str or already-encoded bytes.
    if isinstance(s, str):
        s = s.encode()
    if len(s) > 0xFFFF:
        raise ValueError("string longer than 65535 bytes")
    return s


def _packet(first, parts, length):
    # Build header + parts in one preallocated bytearray: one allocation, one write.
    header = bytes((first,)) + encode_remaining_length(length)
    out = bytearray(len(header) + length)
    out[0:len(header)] = header
    pos = len(header)
    for p in parts:
        out[pos:pos + len(p)] = p
        pos += len(p)
    return out


def encode_connect(client_id, keepalive=0, clean_session=True, will=None, user=None, password=None):
    """Encode a CONNECT packet (protocol level 4).

    ``will`` is ``None`` or ``(topic, payload, retain, qos)``; ``payload`` and
    ``password`` may be str or bytes.
    """
    if keepalive < 0 or keepalive > 0xFFFF:
        raise ValueError("keepalive out of range")
    cid = _utf8(client_id)
    flags = 0x02 if clean_session else 0
    parts = [b"\x00\x04MQTT\x04", None, struct.pack(">H", keepalive), struct.pack(">H", len(cid)), cid]
    if will is not None:
        wtopic, wpayload, wretain, wqos = will
        if wqos not in (0, 1, 2):
            raise ValueError("will QoS must be 0, 1 or 2")
        wtopic = _utf8(wtopic)
        wpayload = _utf8(wpayload)
        flags |= 0x04 | (wqos << 3) | (0x20 if wretain else 0)
        parts += [struct.pack(">H", len(wtopic)), wtopic, struct.pack(">H", len(wpayload)), wpayload]
    if user is not None:
        u = _utf8(user)
        flags |= 0x80
        parts += [struct.pack(">H", len(u)), u]
    if password is not None:
        if user is None:
            raise ValueError("MQTT 3.1.1 needs a user name when a password is given")
        p = _utf8(password)
        flags |= 0x40
        parts += [struct.pack(">H", len(p)), p]
    parts[1] = bytes((flags,))
    length = 0
    for p in parts:
        length += len(p)
    return _packet(0x10, parts, length)


def decode_connack(body):
    """Decode a CONNACK body; returns ``(session_present, return_code)``."""
    if len(body) != 2:
        raise MQTTProtocolError("CONNACK body must be 2 bytes, got %d" % len(body))
    if body[0] & 0xFE:
        raise MQTTProtocolError("CONNACK reserved flags set")
    return bool(body[0] & 1), body[1]


def encode_publish(topic, payload, qos=0, retain=False, dup=False, pid=0):
    """Encode a PUBLISH packet; ``payload`` is bytes-like or str.

    Returns a ``bytearray`` so the DUP bit can be set in place (``pkt[0] |= 8``)
    for a resend without building the packet again.
    """
    if qos not in (0, 1, 2):
        raise ValueError("QoS must be 0, 1 or 2")
    if qos and not 0 < pid <= 0xFFFF:
        raise ValueError("QoS > 0 needs a packet id in 1..65535")
    t = _utf8(topic)
    if not t:
        raise ValueError("empty topic")
    if isinstance(payload, str):
        payload = payload.encode()
    first = 0x30 | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    parts = [struct.pack(">H", len(t)), t]
    if qos:
        parts.append(struct.pack(">H", pid))
    parts.append(payload)
    length = 2 + len(t) + (2 if qos else 0) + len(payload)
    if length > MAX_REMAINING_LENGTH:
        raise ValueError("PUBLISH too large")
    return _packet(first, parts, length)


def publish_payload_length(flags, remaining, topic_len):
    """Check a PUBLISH's header sizes before its body is read from a stream.

    Returns ``(qos, payload_length)``. Lets a streaming reader reject a bad
    topic length before allocating anything for it.
    """
    check_flags(PUBLISH, flags)
    qos = (flags >> 1) & 3
    header = 2 + topic_len + (2 if qos else 0)
    if topic_len == 0:
        raise MQTTProtocolError("PUBLISH with empty topic")
    if header > remaining:
        raise MQTTProtocolError("PUBLISH topic length %d exceeds remaining length %d" % (topic_len, remaining))
    return qos, remaining - header


def decode_topic(raw):
    """Decode a topic name from bytes; raise MQTTProtocolError if not valid UTF-8."""
    try:
        topic = bytes(raw).decode()
    except UnicodeError:
        raise MQTTProtocolError("topic is not valid UTF-8")
    if "+" in topic or "#" in topic or "\x00" in topic:
        raise MQTTProtocolError("PUBLISH topic contains a wildcard or NUL")
    return topic


def decode_pid(body):
    """Decode a 2-byte packet-id body (PUBACK/PUBREC/PUBREL/PUBCOMP/UNSUBACK)."""
    if len(body) != 2:
        raise MQTTProtocolError("packet id body must be 2 bytes, got %d" % len(body))
    pid = (body[0] << 8) | body[1]
    if pid == 0:
        raise MQTTProtocolError("packet id 0")
    return pid


def decode_publish(flags, body):
    """Decode a whole PUBLISH body.

    Returns ``(topic, pid, payload, qos, retain, dup)``; ``pid`` is 0 for QoS 0.
    """
    if len(body) < 2:
        raise MQTTProtocolError("PUBLISH body shorter than its topic length field")
    tlen = (body[0] << 8) | body[1]
    qos, plen = publish_payload_length(flags, len(body), tlen)
    topic = decode_topic(body[2:2 + tlen])
    pos = 2 + tlen
    pid = 0
    if qos:
        pid = decode_pid(body[pos:pos + 2])
        pos += 2
    return topic, pid, bytes(body[pos:]), qos, bool(flags & 1), bool(flags & 8)


def encode_puback(pid):
    """Encode a PUBACK for packet id ``pid``."""
    return b"\x40\x02" + struct.pack(">H", pid)


def encode_subscribe(pid, topics):
    """Encode a SUBSCRIBE for a list of ``(topic_filter, qos)`` pairs."""
    if not topics:
        raise ValueError("SUBSCRIBE needs at least one topic filter")
    if not 0 < pid <= 0xFFFF:
        raise ValueError("packet id must be in 1..65535")
    parts = [struct.pack(">H", pid)]
    length = 2
    for topic, qos in topics:
        if qos not in (0, 1, 2):
            raise ValueError("QoS must be 0, 1 or 2")
        t = _utf8(topic)
        if not t:
            raise ValueError("empty topic filter")
        parts += [struct.pack(">H", len(t)), t, bytes((qos,))]
        length += 3 + len(t)
    return _packet(0x82, parts, length)


def decode_suback(body):
    """Decode a SUBACK body; returns ``(pid, [return codes])`` (0x80 = failure)."""
    if len(body) < 3:
        raise MQTTProtocolError("SUBACK body too short")
    pid = decode_pid(body[0:2])
    codes = list(body[2:])
    for c in codes:
        if c not in (0, 1, 2, SUBACK_FAILURE):
            raise MQTTProtocolError("bad SUBACK return code 0x%x" % c)
    return pid, codes
