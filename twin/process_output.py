"""Reading a simulated device's console: one subprocess's merged stdout/stderr, line by line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

__all__ = ["STREAM_LIMIT", "console_lines"]

# Longest line asyncio buffers (also the subprocess' stream limit); longer lines come in pieces.
STREAM_LIMIT = 1 << 20


async def console_lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    """Yield decoded lines until EOF; undecodable bytes are replaced, never fatal."""
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # one line longer than the stream limit
            raw = await stream.read(STREAM_LIMIT)
        if not raw:
            return
        yield raw.decode("utf-8", errors="replace").rstrip("\r\n")
