"""An asyncio event loop on lab time, and how to run code on one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import weakref
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple, Unpack

from labtwin.twin import vendor_patches
from labtwin.twin.lab_time.clock import LabClock
from labtwin.twin.lab_time.host_ends import HostEnds
from labtwin.twin.lab_time.max_tuning import MaxTuning
from labtwin.twin.lab_time.selector import LabSelector
from labtwin.twin.lab_time.speed import Speed
from labtwin.twin.lab_time.vm_clocks import VmClocks

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

__all__ = ["LabEventLoop", "lab_clock_of", "lab_loop_factory", "released", "run_on_lab_time", "speed_factor"]

T = TypeVar("T")
TransportT = TypeVar("TransportT", bound=asyncio.WriteTransport)
Ts = TypeVarTuple("Ts")


class LabEventLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is a :class:`LabClock`.

    Every ``call_later``, ``asyncio.sleep``, ``wait_for`` and ``asyncio.timeout`` on it counts lab
    seconds, so code written for asyncio (a broker, an MQTT client, the network twin) runs on lab
    time unchanged. ``vm_clocks`` is set at ``--speed max``: the boards' clock sockets.
    """

    def __init__(self, speed: Speed, *, driven: bool = False) -> None:
        vendor_patches.paho_reads_loop_time()  # the orchestrator's MQTT keepalive on this loop's clock
        if speed.jumps:
            vendor_patches.aiomqtt_housekeeping_on_whole_seconds()  # its clients share one jump a second
        self.clock = LabClock(speed)
        selector = LabSelector(self.clock)
        self.vm_clocks: VmClocks | None = selector.vms
        self._host_ends = HostEnds()
        self._replies: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()
        super().__init__(selector)
        if driven and self.vm_clocks is not None:
            self.vm_clocks.busy += 1  # released only while a driver's coroutine runs (released())

    # At --speed max a sync round goes to the boards only after the host wrote something (to a board,
    # perhaps): every byte the host sends leaves through a transport of this loop or sock_sendall.
    def _make_socket_transport(self, *args: Any, **kwargs: Any) -> asyncio.Transport:
        transport: asyncio.Transport = super()._make_socket_transport(*args, **kwargs)  # type: ignore[misc]
        return self._noting_writes(transport)

    def _make_write_pipe_transport(self, *args: Any, **kwargs: Any) -> asyncio.WriteTransport:
        transport: asyncio.WriteTransport = super()._make_write_pipe_transport(*args, **kwargs)  # type: ignore[misc]
        return self._noting_writes(transport)

    def _start_serving(self, protocol_factory: Any, sock: Any, *args: Any, **kwargs: Any) -> None:
        self._host_ends.listening(sock)
        super()._start_serving(protocol_factory, sock, *args, **kwargs)  # type: ignore[misc]

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        if self.vm_clocks is not None:
            self.vm_clocks.host_wrote = True
        _without_nagle(sock)
        await super().sock_sendall(sock, data)

    # asyncio's own TCP transports send without Nagle already; sockets a library drives itself (paho's,
    # under aiomqtt) need it too, or a small write waits for the peer's delayed ACK: up to 40 ms of real
    # time that no lab clock sees (at max the clock jumped past an aiomqtt client's publish timeout).
    def add_reader(self, fd: FileDescriptorLike, callback: Callable[[Unpack[Ts]], Any], *args: *Ts) -> None:
        _without_nagle(fd)
        super().add_reader(fd, callback, *args)

    def add_writer(self, fd: FileDescriptorLike, callback: Callable[[Unpack[Ts]], Any], *args: *Ts) -> None:
        _without_nagle(fd)
        super().add_writer(fd, callback, *args)

    def _noting_writes(self, transport: TransportT) -> TransportT:
        clocks = self.vm_clocks
        if clocks is None:
            return transport
        host_ends, replies = self._host_ends, self._replies
        host_ends.connected(transport)
        write, writelines = transport.write, transport.writelines
        sock = transport.get_extra_info("socket")
        readers: list[object] = []  # found at the first write: the peer has connected by then

        def note() -> None:
            if not readers:
                try:
                    ends = (sock.getsockname(), sock.getpeername()) if sock is not None else (None, None)
                except OSError:
                    ends = (None, None)
                to_host = ends[1] is not None and host_ends.owns(tuple(ends[1]))
                readers.append(None if to_host else clocks.reader_of(*ends))
            clocks.wrote_to(readers[0])

        def noted_write(data: Any) -> None:
            if transport not in replies:
                note()
            write(data)

        def noted_writelines(lines: Any) -> None:
            if transport not in replies:
                note()
            writelines(lines)

        def noting(end: Callable[[], None]) -> Callable[[], None]:
            # A FIN or a reset wakes the peer like data does: a board must see it before the clock jumps.
            def noted_end() -> None:
                note()
                end()
            return noted_end

        transport.write = noted_write  # type: ignore[method-assign]
        transport.writelines = noted_writelines  # type: ignore[method-assign,assignment]
        transport.write_eof = noting(transport.write_eof)  # type: ignore[method-assign]
        transport.close = noting(transport.close)  # type: ignore[method-assign]
        transport.abort = noting(transport.abort)  # type: ignore[method-assign]
        return transport

    async def released(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` with the clock free to jump: a loop ``driven`` from another thread (a scenario's
        steps) holds its clock between the coroutines it is given, so lab time does not run on while
        that thread works out its next step."""
        if self.vm_clocks is None:
            return await coro
        self.vm_clocks.busy -= 1
        try:
            return await coro
        finally:
            self.vm_clocks.busy += 1

    def time(self) -> float:
        return self.clock.now()

    def run_in_executor(self, executor: Executor | None, func: Callable[[Unpack[Ts]], T],
                        *args: *Ts) -> asyncio.Future[T]:
        """As asyncio's; at ``--speed max`` the clock holds while the thread works (DNS, a blocking connect)."""
        future = super().run_in_executor(executor, func, *args)
        if self.vm_clocks is not None:
            self.vm_clocks.busy += 1
            future.add_done_callback(self._executor_done)
        return future

    def _executor_done(self, _future: asyncio.Future[Any]) -> None:
        assert self.vm_clocks is not None
        self.vm_clocks.busy -= 1

    def vm_starting(self, name: str) -> dict[str, str]:
        """The environment of board ``name``'s VM, about to start: its shims read this clock.

        At ``--speed max`` the board holds the clock from now until its VM waits (and reports).
        """
        env = self.clock.vm_environment()
        if self.vm_clocks is not None:
            self.vm_clocks.started(name)
            env.update(self.vm_clocks.vm_environment(name))
        return env

    def replies_only(self, transport: asyncio.BaseTransport) -> None:
        """``transport`` carries only replies to requests its peer blocks on (a board's hardware-bus calls).

        At ``--speed max`` its writes need no sync: the board cannot report a wait before it has read
        the reply it is blocked on, so its next report already says it has. One host-VM round trip
        fewer per bus call. A FIN or a reset on it is still noted.
        """
        self._replies.add(transport)

    def vm_spawned(self, name: str, pid: int) -> None:
        """Board ``name``'s VM runs as process ``pid``."""
        if self.vm_clocks is not None:
            self.vm_clocks.spawned(name, pid)

    def vm_exited(self, name: str) -> None:
        """Board ``name``'s VM has exited: it no longer holds the clock."""
        if self.vm_clocks is not None:
            self.vm_clocks.stopped(name)

    def close(self) -> None:
        super().close()
        self.clock.close()


def lab_loop_factory(speed: Speed, *, driven: bool = False) -> Callable[[], asyncio.AbstractEventLoop]:
    """A loop factory (for ``asyncio.Runner``, a LoopThread): a lab loop, or a plain one at real time.

    ``driven``: the loop runs in its own thread for another thread's coroutines (see LabEventLoop.released).
    """
    if speed.real:
        return asyncio.new_event_loop
    if speed.jumps:
        MaxTuning.from_environment()  # a bad setting is a ConfigError here, before any loop exists
    return lambda: LabEventLoop(speed, driven=driven)


async def released(coro: Coroutine[Any, Any, T]) -> T:
    """``coro``, with the running loop's clock free to jump if it is a driven lab loop."""
    loop = asyncio.get_running_loop()
    if isinstance(loop, LabEventLoop):
        return await loop.released(coro)
    return await coro


def speed_factor(clock: object) -> float:
    """Lab seconds per real second while a lab runs on ``clock`` (1 for real time and ``--speed max``)."""
    return clock.speed.factor if isinstance(clock, LabClock) else 1.0


def run_on_lab_time(coro: Coroutine[Any, Any, T], speed: Speed) -> T:
    """``asyncio.run(coro)`` on a loop of this speed."""
    try:
        factory = lab_loop_factory(speed)
    except BaseException:
        coro.close()  # never to run: no "never awaited" warning after the error
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def _without_nagle(sock: object) -> None:
    """TCP_NODELAY on ``sock`` (a socket or a file descriptor) if it is a TCP socket; anything else is left alone."""
    if isinstance(sock, int):
        try:
            fd = os.dup(sock)
        except OSError:  # closed meanwhile
            return
        try:
            dup = socket.socket(fileno=fd)  # the same socket: its options are shared
        except OSError:  # not a socket (a pipe)
            os.close(fd)
            return
        with dup:
            _without_nagle(dup)
        return
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6) \
            and sock.type == socket.SOCK_STREAM:
        with contextlib.suppress(OSError):  # closed meanwhile: its owner finds out
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def lab_clock_of(loop: asyncio.AbstractEventLoop) -> LabClock | None:
    """The lab clock ``loop`` runs on, or None for a plain (real-time) loop."""
    return loop.clock if isinstance(loop, LabEventLoop) else None
