"""A DS18B20 with a fault switch for what a long or badly terminated 1-Wire cable does to a read.

On a bench the usual 1-Wire failure is not silence but a flipped bit: a reflection or a weak pull-up
turns one slot of a READ SCRATCHPAD into the wrong value, the CRC-8 no longer matches, and
``ds18x20.read_scratch`` raises ``Exception("CRC error")``. :class:`CorruptibleDs18b20` does that
on demand, leaving every other behaviour to :class:`~labtwin.twin.parts.ds18b20.Ds18b20`.
"""

from __future__ import annotations

from labtwin.twin.parts.ds18b20 import Ds18b20

__all__ = ["CorruptibleDs18b20"]


class CorruptibleDs18b20(Ds18b20):
    """A :class:`Ds18b20` whose scratchpad reads can be corrupted (same arguments)."""

    corrupt_reads = False
    """Fault switch: every READ SCRATCHPAD arrives with bit 0 of the temperature LSB flipped."""

    corrupted = 0
    """Scratchpad reads corrupted so far."""

    def scratchpad(self, t: float) -> bytes:
        """The 9 bytes READ SCRATCHPAD sends at ``t``; one bit off while :attr:`corrupt_reads` is set."""
        data = super().scratchpad(t)
        if not self.corrupt_reads:
            return data
        self.corrupted += 1
        return bytes([data[0] ^ 0x01]) + data[1:]
