"""The CRC-8 that Sensirion and Aosong sensors append to their data words.

Polynomial 0x31 (x^8 + x^5 + x^4 + 1), initial value 0xFF, no reflection, no final XOR: the
checksum of the SHT4x datasheet ("Checksum Calculation") and of the AHT20 datasheet (the CRC byte
after a measurement, section 5.4). ``sensirion_crc8(b"\\xbe\\xef") == 0x92`` is Sensirion's own example.
"""

from __future__ import annotations

__all__ = ["sensirion_crc8"]


def sensirion_crc8(data: bytes, *, polynomial: int = 0x31, init: int = 0xFF) -> int:
    """CRC-8 of ``data`` (MSB first), as the sensor computes it."""
    crc = init
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ polynomial) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc
