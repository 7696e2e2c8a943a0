"""SPI as the parts see it: a device selected by its chip-select pin, exchanging bytes full duplex."""

from __future__ import annotations

__all__ = ["SpiDevice"]


class SpiDevice:
    """One device on an SPI bus; the board model routes transfers to it while its CS pin is low."""

    def __init__(self, cs_pin: int) -> None:
        self.cs_pin = cs_pin
        self.responding = True

    def select(self, t: float) -> None:
        """CS went low: a transaction starts."""

    def deselect(self, t: float) -> None:
        """CS went high: the transaction ends."""

    def transfer(self, mosi: bytes, t: float) -> bytes:
        """Clock ``mosi`` out of the board; returns the bytes clocked back in (MISO), same length."""
        return b"\xff" * len(mosi)
