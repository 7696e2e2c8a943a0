"""UART as the parts see it: a device at the other end of a board's TX/RX pair.

The board model delivers what the firmware writes on a UART to :meth:`UartDevice.receive` and asks
:meth:`UartDevice.transmit` for what the device has sent towards the board by a lab time; the
shim's ``read``/``readline``/``any`` see those bytes once they have "arrived" at the configured
baud rate. ``connected`` is the fault switch for an unplugged cable.
"""

from __future__ import annotations

__all__ = ["UartDevice"]


class UartDevice:
    """One serial device wired to a board's UART (a balance, a pump controller, a GPS)."""

    def __init__(self) -> None:
        self.connected = True
        self._outbox = bytearray()

    def receive(self, data: bytes, t: float) -> None:
        """Bytes the board sent, arriving at lab time ``t``."""

    def send(self, data: bytes) -> None:
        """Queue bytes for the board (called by the device's own logic)."""
        self._outbox += data

    def transmit(self, t: float) -> bytes:
        """Everything the device has sent towards the board by ``t`` (removed from its outbox)."""
        data, self._outbox = bytes(self._outbox), bytearray()
        return data if self.connected else b""
