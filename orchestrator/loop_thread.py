"""An asyncio event loop running in a background thread, for synchronous callers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread", "Unfinished"]

T = TypeVar("T")


class Unfinished(TimeoutError):
    """A coroutine given to :meth:`LoopThread.run` did not finish in time (it goes on running on the loop)."""


class LoopThread:
    """Runs one event loop in a daemon thread; `run()` submits a coroutine and waits for it."""

    def __init__(self, name: str,
                 loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop) -> None:
        self.name = name
        self._loop_factory = loop_factory
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._loop is not None

    @property
    def event_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop, while the thread runs it."""
        return self._loop

    def start(self) -> None:
        """Start the loop thread. Raises RuntimeError if it is already running."""
        if self._loop is not None:
            raise RuntimeError(f"{self.name}: loop thread already running")
        self._loop = self._loop_factory()
        self._thread = threading.Thread(target=self._loop.run_forever, name=self.name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None, *, what: str | None = None) -> T:
        """Run a coroutine on the loop and return its result (re-raising its exception).

        Raises:
            Unfinished: it did not finish within ``timeout`` seconds (``what`` names it in the message).
        """
        if self._loop is None:
            coro.close()
            raise RuntimeError(f"{self.name}: loop thread is not running")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            if future.done():  # the coroutine's own TimeoutError
                raise
            name = what or getattr(coro, "__qualname__", "a coroutine")
            raise Unfinished(f"{name} did not finish within {timeout:g} s") from None

    def stop(self) -> None:
        """Stop the loop and join the thread. Safe to call twice."""
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(_cancel_remaining_tasks(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _cancel_remaining_tasks() -> None:
    # What asyncio.run does on exit: tasks still running get cancelled and may clean up.
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
