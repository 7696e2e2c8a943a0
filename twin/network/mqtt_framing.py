"""MQTT framing for a byte stream: split TCP data into whole packets, and copy PUBLISHes.

The network twin (:mod:`labtwin.twin.network.network_twin`) must act on whole MQTT packets (delay
them, discard them, duplicate a PUBLISH) while TCP hands it arbitrary chunks.
:class:`MqttFramer` reassembles the chunks of one direction of one connection
into :class:`MqttPacket` values using only the fixed header: the packet type
and flags in the first byte, then the 1-4 byte *remaining length* (MQTT 3.1.1
section 2.2.3; MQTT 5 frames the same way). Bodies are carried, not decoded,
except for the few PUBLISH fields the twin needs (QoS, DUP, packet id).

The twin keeps its own small implementation on purpose: ``twin`` never imports
the firmware, and the firmware's codec is a reader for a device, not a framer
for a relay.
"""

from __future__ import annotations

from dataclasses import dataclass

from labtwin.errors import ProtocolError

__all__ = [
    "MAX_REMAINING_LENGTH",
    "PUBLISH",
    "MqttFramer",
    "MqttPacket",
    "encode_remaining_length",
    "with_dup_flag",
]

PUBLISH = 3
MAX_REMAINING_LENGTH = 268_435_455  # four 7-bit groups, all ones
_MAX_LENGTH_BYTES = 4
_DUP = 0x08


def encode_remaining_length(n: int) -> bytes:
    """The 1-4 byte variable-length encoding of ``n`` (0..268,435,455).

    Raises:
        ValueError: ``n`` is out of range.
    """
    if not 0 <= n <= MAX_REMAINING_LENGTH:
        raise ValueError(f"remaining length {n} is outside 0..{MAX_REMAINING_LENGTH}")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


@dataclass(frozen=True, slots=True)
class MqttPacket:
    """One whole MQTT control packet exactly as it crossed the wire.

    Attributes:
        raw: every byte of the packet, fixed header included.
        header_size: bytes of the fixed header (1 + the remaining-length bytes).
    """

    raw: bytes
    header_size: int

    @property
    def packet_type(self) -> int:
        """The control packet type, 1 (CONNECT) .. 14 (DISCONNECT) (15 is MQTT 5's AUTH)."""
        return self.raw[0] >> 4

    @property
    def flags(self) -> int:
        """The low nibble of the first byte (DUP/QoS/RETAIN on a PUBLISH)."""
        return self.raw[0] & 0x0F

    @property
    def body(self) -> bytes:
        """Variable header and payload: everything after the fixed header."""
        return self.raw[self.header_size:]

    @property
    def is_publish(self) -> bool:
        """Whether this is a PUBLISH."""
        return self.packet_type == PUBLISH

    @property
    def qos(self) -> int:
        """QoS of a PUBLISH (0-2; 3 is malformed); 0 for every other packet type."""
        return (self.flags >> 1) & 0x03 if self.is_publish else 0

    @property
    def dup(self) -> bool:
        """The DUP flag of a PUBLISH (a redelivery); False for every other packet type."""
        return self.is_publish and bool(self.flags & _DUP)

    @property
    def packet_id(self) -> int | None:
        """Packet identifier of a QoS 1/2 PUBLISH, or None (QoS 0, other types, too short)."""
        if not self.is_publish or self.qos == 0:
            return None
        body = self.raw[self.header_size:]
        if len(body) < 2:
            return None
        id_at = 2 + ((body[0] << 8) | body[1])  # after the length-prefixed topic name
        if len(body) < id_at + 2:
            return None
        return (body[id_at] << 8) | body[id_at + 1]


def with_dup_flag(packet: MqttPacket) -> MqttPacket:
    """A copy of a QoS 1 PUBLISH with DUP=1: what a sender's redelivery looks like on the wire.

    Same packet id, topic and payload; only the DUP bit of the first byte differs.

    Raises:
        ValueError: ``packet`` is not a QoS 1 PUBLISH (DUP must stay 0 on QoS 0, and a
            QoS 2 redelivery would need the PUBREC/PUBREL exchange the twin does not play).
    """
    if not packet.is_publish or packet.qos != 1:
        raise ValueError(f"only a QoS 1 PUBLISH can be redelivered, not packet type "
                         f"{packet.packet_type} with QoS {packet.qos}")
    return MqttPacket(bytes([packet.raw[0] | _DUP]) + packet.raw[1:], packet.header_size)


class MqttFramer:
    """Incremental framer for one direction of one MQTT connection.

    Feed it TCP data as it arrives; it returns every packet completed so far and
    keeps the unfinished tail for the next call.

    Args:
        max_packet_size: largest whole packet accepted, in bytes; a bigger one is
            a framing error (the protocol's own ceiling by default).
    """

    def __init__(self, *, max_packet_size: int = 1 + _MAX_LENGTH_BYTES + MAX_REMAINING_LENGTH) -> None:
        if max_packet_size < 2:
            raise ValueError("max_packet_size must allow at least a 2-byte packet")
        self.max_packet_size = max_packet_size
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held back because they do not yet form a whole packet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[MqttPacket]:
        """Add ``data`` and return the packets it completed, in stream order.

        Raises:
            ProtocolError: the stream is not MQTT framing (a remaining length
                longer than 4 bytes, or a packet over ``max_packet_size``). The
                stream cannot be resynchronised after that: close the connection.
        """
        buffer = self._buffer
        buffer += data
        packets: list[MqttPacket] = []
        start = 0
        while True:
            frame = self._frame_at(start)
            if frame is None:
                break
            header_size, total = frame
            packets.append(MqttPacket(bytes(buffer[start:start + total]), header_size))
            start += total
        if start:
            del buffer[:start]
        return packets

    def _frame_at(self, start: int) -> tuple[int, int] | None:
        # (fixed header size, whole packet size) of the packet at `start`, or None if incomplete.
        buffer = self._buffer
        available = len(buffer) - start
        if available < 2:
            return None
        length = 0
        for i in range(_MAX_LENGTH_BYTES):
            if 1 + i >= available:
                return None
            byte = buffer[start + 1 + i]
            length |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                break
        else:
            raise ProtocolError("malformed MQTT framing: remaining length runs past 4 bytes")
        header_size = 2 + i
        total = header_size + length
        if total > self.max_packet_size:
            raise ProtocolError(f"MQTT packet of {total} bytes exceeds the limit of {self.max_packet_size}")
        if total > available:
            return None
        return header_size, total
