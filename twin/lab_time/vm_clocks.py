"""The boards' side of ``--speed max``: each VM's clock socket, its "idle until" reports, its wake-ups.

A VM at ``--speed max`` connects a clock socket (its lab-time ``time`` shim does, at import) and,
before each wait, reports ``i ECHO DEADLINE``: it has read ECHO bytes from the host and waits until
DEADLINE (lab microseconds since T0; -1: until I/O). The host writes single bytes: ``w`` (your
deadline has come) and ``s`` (a sync: say how you are, after reading everything sent before it).

A VM is *quiet* when its last report echoes every byte sent to it: it has seen all the host's
bytes sent before the last sync and is waiting. The lab selector
(:mod:`labtwin.twin.lab_time.selector`) sends a sync to every VM each time the host loop is about
to wait, so anything the host wrote to a board before (MQTT bytes, a bus reply) has been read by the
time the board answers. A board counts from the moment it is started until it goes away: one that
has not connected yet, or never waits through its shims (blocked in a socket recv or in its REPL),
holds the clock back; that is slower, never wrong.

Everything here runs on the lab loop's thread, inside its selector: the sockets are non-blocking
and registered in the loop's selector under :data:`CLOCK_KEY`, never seen by asyncio.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import selectors
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from labtwin.twin.lab_time.socket_owners import peer_socket_inode, socket_inodes

__all__ = ["CLOCK_KEY", "VmClocks"]

log = logging.getLogger("labtwin.twin.lab_time")

_EVERYONE = object()

CLOCK_KEY = object()
"""The ``data`` of the selector keys of the clock sockets (the lab selector keeps their events)."""

_LINE_LIMIT = 4096


@dataclass
class _Vm:
    name: str
    sock: socket.socket | None = None
    sent: int = 0  # bytes written to the VM's clock socket
    echo: int = -1  # bytes it said it had read, in its last report (-1: no report yet)
    deadline: float = math.inf  # lab seconds it waits until (its last report)
    since: float = 0.0  # lab seconds when the host read that report
    buffer: bytearray = field(default_factory=bytearray)
    pid: int | None = None  # its process, once started
    wrote: bool = True  # the host wrote to it since the last sync


class VmClocks:
    """The clock sockets of one lab's VMs: who is quiet, who waits until when, and the wake-ups."""

    def __init__(self, selector: selectors.BaseSelector, t0_us: int, now: Callable[[], float]) -> None:
        self._selector = selector
        self._t0_us = t0_us
        self._now = now  # the lab clock (lab seconds), to time the reports
        self.token = secrets.token_hex(16)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        selector.register(self._listener, selectors.EVENT_READ, CLOCK_KEY)
        self._vms: dict[str, _Vm] = {}
        self._hello: dict[socket.socket, bytearray] = {}  # connected, not yet named
        self.busy = 0  # in-flight work the VMs cannot report (requests to processes off the lab clock)
        self.host_wrote = True  # the host sent bytes no board is known to own since the last sync
        self._owners: dict[int, str | None] = {}  # peer socket inode -> the VM holding it (None: the host)

    # ------------------------------------------------------------------ boards come and go
    def vm_environment(self, name: str) -> dict[str, str]:
        """The environment a VM's shims connect with, as board ``name``."""
        return {"LABTWIN_LAB_CLOCK": self.address, "LABTWIN_LAB_CLOCK_TOKEN": self.token,
                "LABTWIN_LAB_CLOCK_NAME": name}

    def started(self, name: str) -> None:
        """Board ``name`` has a VM starting: it holds the clock until it reports."""
        self.stopped(name)
        self._vms[name] = _Vm(name)

    def spawned(self, name: str, pid: int) -> None:
        """Board ``name``'s VM runs as process ``pid`` (its connections are attributed to it)."""
        vm = self._vms.get(name)
        if vm is not None:
            vm.pid = pid

    def reader_of(self, local: tuple[str, int] | None, peer: tuple[str, int] | None) -> object:
        """Who reads what the host writes on the connection ``local`` -> ``peer`` (for :meth:`wrote_to`).

        A board's VM (its name), the host itself (None), or, for a connection nobody can place (a pipe,
        a process not on the lab clock), everyone. Look it up once per connection: it asks the kernel.
        """
        if local is None or peer is None or peer[0] != "127.0.0.1":
            return _EVERYONE
        inode = peer_socket_inode(local, peer)
        if inode is None:
            return _EVERYONE
        if inode in self._owners:
            return self._owners[inode]
        for vm in self._vms.values():
            if vm.pid is not None and inode in socket_inodes(vm.pid):
                self._owners[inode] = vm.name
                return vm.name
        if inode in socket_inodes(os.getpid()):
            self._owners[inode] = None
            return None
        return _EVERYONE

    def wrote_to(self, reader: object) -> None:
        """Note a host write to ``reader`` (from :meth:`reader_of`): the VMs it reaches get synced."""
        if reader is _EVERYONE:
            self.host_wrote = True
        elif isinstance(reader, str):
            vm = self._vms.get(reader)
            if vm is not None:
                vm.wrote = True

    def stopped(self, name: str) -> None:
        """Board ``name``'s VM is gone (or going): it no longer holds the clock."""
        vm = self._vms.pop(name, None)
        if vm is not None and vm.sock is not None:
            self._close(vm.sock)

    # ------------------------------------------------------------------ the selector's questions
    def quiet(self) -> bool:
        """Every VM waits and has read everything sent to it; nothing else is in flight."""
        return self.busy == 0 and all(vm.echo == vm.sent for vm in self._vms.values())

    def taking_turns(self) -> bool:
        """Only boards hold the clock, each one that has reported before: they take short turns.

        Not while a board boots (no report yet) or the host holds the clock itself (``busy``).
        """
        if self.busy:
            return False
        turning = False
        for vm in self._vms.values():
            if vm.echo != vm.sent:
                if vm.echo < 0:
                    return False
                turning = True
        return turning

    def earliest_deadline(self) -> float:
        """The earliest deadline a VM waits for (lab seconds; inf: none)."""
        return min((vm.deadline for vm in self._vms.values()), default=math.inf)

    def wake_time(self, until: float, slack: float, most: float) -> float:
        """The lab time to jump to: the earliest deadline, or a little later to wake more boards at once.

        A board's wait may end up to ``slack`` of its length (a fraction) late, and never more than
        ``most`` seconds late. Boards due within the first one's slack (and each other's) wake with
        it, at the last of their deadlines. When none is, the first one still waits out its
        slack if the next board is due nearer after it than the last one before it (a round of its
        wait earlier): boards that poll on a period, like a Wi-Fi supervisor, drift a few
        milliseconds a round into phase with their nearest neighbour, and from then on wake
        together. Never after ``until`` (the host's own next deadline), never before the earliest
        deadline.
        """
        waiting = sorted((vm.deadline, vm.deadline - vm.since) for vm in self._vms.values() if vm.deadline < math.inf)
        if not waiting:
            return until
        first, period = waiting[0]
        wake, latest = first, first + min(slack * max(0.0, period), most)
        for deadline, wait in waiting[1:]:
            if deadline > latest:
                last = max((d for d, _ in waiting if d <= first + period), default=first)
                if deadline - first < first + period - last:  # the next one nearer than the last before it
                    wake = latest
                break
            wake, latest = deadline, min(latest, deadline + min(slack * max(0.0, wait), most))
        return min(until, wake)

    def sync(self) -> None:
        """Ask every connected VM how it is, if the host has written anything since it last asked.

        A VM that answers has read everything the host wrote before the question.
        """
        everyone, self.host_wrote = self.host_wrote, False
        for vm in self._vms.values():
            if everyone or vm.wrote:
                vm.wrote = False
                self._send(vm, b"s")

    def wake_due(self, now: float) -> None:
        """Wake the VMs whose deadline has come."""
        for vm in self._vms.values():
            if vm.deadline <= now:
                vm.deadline = math.inf
                self._send(vm, b"w")

    def _send(self, vm: _Vm, byte: bytes) -> None:
        if vm.sock is None:
            return
        try:
            vm.sock.send(byte)
        except BlockingIOError:  # a VM that reads nothing for 4 MB of bytes is not waiting on its clock
            return
        except OSError:
            self._gone(vm)
            return
        vm.sent += 1

    # ------------------------------------------------------------------ readable sockets
    def readable(self, sock: socket.socket) -> None:
        """Handle a readable clock socket (the selector calls this for CLOCK_KEY events)."""
        if sock is self._listener:
            self._accept()
            return
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if sock in self._hello:
            self._on_hello(sock, data)
            return
        vm = next((v for v in self._vms.values() if v.sock is sock), None)
        if vm is None:
            self._close(sock)
            return
        if not data:
            self._gone(vm)
            return
        self._take(vm, data)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._hello[sock] = bytearray()
            self._selector.register(sock, selectors.EVENT_READ, CLOCK_KEY)

    def _on_hello(self, sock: socket.socket, data: bytes) -> None:
        buffer = self._hello[sock]
        buffer += data
        if not data or len(buffer) > _LINE_LIMIT:
            self._close(sock)
            return
        if b"\n" not in buffer:
            return
        line, _, rest = bytes(buffer).partition(b"\n")
        del self._hello[sock]
        try:
            kind, token, name = json.loads(line)
        except (ValueError, TypeError):
            kind = token = name = None
        vm = self._vms.get(name) if isinstance(name, str) else None
        if kind != "clock" or token != self.token or vm is None or vm.sock is not None:
            self._close(sock)  # not one of this lab's starting boards
            return
        vm.sock = sock
        self._take(vm, rest)

    def _take(self, vm: _Vm, data: bytes) -> None:
        vm.buffer += data
        while b"\n" in vm.buffer:
            line, _, rest = bytes(vm.buffer).partition(b"\n")
            vm.buffer = bytearray(rest)
            self._on_report(vm, line)
        if len(vm.buffer) > _LINE_LIMIT:
            log.warning("lab clock: %s sent an unreadable report; it holds the clock", vm.name)
            vm.buffer.clear()

    def _on_report(self, vm: _Vm, line: bytes) -> None:
        try:
            kind, echo, deadline = line.split()
            if kind != b"i":
                raise ValueError(kind)
            vm.echo = int(echo)
            due = int(deadline)
        except ValueError:
            log.warning("lab clock: %s sent %r; it holds the clock", vm.name, line[:80])
            return
        vm.deadline = math.inf if due < 0 else due / 1e6
        vm.since = self._now()

    def _gone(self, vm: _Vm) -> None:
        # Its socket closed: the VM is exiting. It holds the clock until the host has reaped it
        # (stopped()): a board rebooting must not see the lab jump between its two VMs.
        if vm.sock is not None:
            self._close(vm.sock)
        vm.sock, vm.echo, vm.deadline = None, -1, math.inf

    def _close(self, sock: socket.socket) -> None:
        self._hello.pop(sock, None)
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()

    def close(self) -> None:
        """Close every clock socket and the listener."""
        for vm in list(self._vms.values()):
            self.stopped(vm.name)
        for sock in list(self._hello):
            self._close(sock)
        self._close(self._listener)
