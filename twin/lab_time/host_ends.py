"""The addresses of the lab loop's own sockets, so its writes to itself need no board synced."""

from __future__ import annotations

import asyncio
import socket
import weakref
from typing import Any

__all__ = ["HostEnds"]

Address = tuple[Any, ...]


class HostEnds:
    """Listening sockets and connected transports of one event loop, by local address.

    A write whose peer address is one of these goes from the host to itself (the broker, the
    network twin's relays, the orchestrator): no board reads it. Entries die with what they name.
    """

    def __init__(self) -> None:
        self._listeners: weakref.WeakValueDictionary[Address, socket.socket] = weakref.WeakValueDictionary()
        self._transports: weakref.WeakValueDictionary[Address, asyncio.BaseTransport] = weakref.WeakValueDictionary()

    def listening(self, sock: socket.socket) -> None:
        """The loop serves on ``sock``."""
        address = _local(sock)
        if address is not None:
            self._listeners[address] = sock

    def connected(self, transport: asyncio.BaseTransport) -> None:
        """The loop holds one end of a connection through ``transport``."""
        sock = transport.get_extra_info("socket")
        address = _local(sock) if sock is not None else None
        if address is not None:
            self._transports[address] = transport

    def owns(self, address: Address) -> bool:
        """Whether ``address`` is an open socket of this loop."""
        listener = self._listeners.get(address)
        if listener is not None and listener.fileno() != -1:
            return True
        transport = self._transports.get(address)
        return transport is not None and not transport.is_closing()


def _local(sock: Any) -> Address | None:
    try:
        address = sock.getsockname()
    except (OSError, AttributeError):
        return None
    return tuple(address) if isinstance(address, tuple) else None
