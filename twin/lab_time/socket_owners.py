"""Which process holds the other end of a loopback TCP connection (Linux ``/proc``).

At ``--speed max`` the lab loop syncs only the boards it wrote to; a connection is attributed to a
board's VM once, when the host first writes to it, by finding the peer socket's inode in
``/proc/net/tcp`` and that inode among the VM process's open files.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["peer_socket_inode", "socket_inodes"]


def _hex_address(address: tuple[str, int]) -> str:
    host, port = address
    packed = socket.inet_aton(host)
    return f"{int.from_bytes(packed, 'little'):08X}:{port:04X}"


def peer_socket_inode(local: tuple[str, int], peer: tuple[str, int]) -> int | None:
    """The inode of the socket at ``peer`` connected to ``local`` (IPv4), or None if there is none."""
    want_local, want_remote = _hex_address(peer), _hex_address(local)
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 9 and fields[1] == want_local and fields[2] == want_remote:
            return int(fields[9])
    return None


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets process ``pid`` has open (empty if it is gone)."""
    inodes: set[int] = set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes
