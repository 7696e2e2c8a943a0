"""Stopping a loopback asyncio server together with the tasks serving its connections."""

from __future__ import annotations

import asyncio

__all__ = ["close_server"]


async def close_server(server: asyncio.AbstractServer | None, handlers: set[asyncio.Task[None]]) -> None:
    """Stop accepting, cancel every connection handler and wait for them, then for the server."""
    if server is not None:
        server.close()
    for task in list(handlers):
        task.cancel()
    if handlers:
        await asyncio.gather(*handlers, return_exceptions=True)
    if server is not None:
        await server.wait_closed()
