"""Which process holds the other end of a loopback TCP connection (Linux).

At ``--speed max`` the lab loop syncs only the boards it wrote to; a connection is attributed to a
board's VM once, when the host first writes to it: the peer socket's inode is asked of the kernel
(``sock_diag`` over netlink, what ``ss`` uses; ``/proc/net/tcp`` where that is refused), then looked
for among the VM process's open files.
"""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

__all__ = ["peer_socket_inode", "socket_inodes"]

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NO_COOKIE = 0xFFFFFFFF
_ALL_STATES = 0xFFFFFFFF
_INODE_OFFSET = 16 + 68  # nlmsghdr, then inet_diag_msg's idiag_inode


def peer_socket_inode(local: tuple[str, int], peer: tuple[str, int]) -> int | None:
    """The inode of the socket at ``peer`` connected to ``local`` (IPv4), or None if there is none."""
    try:
        return _asked_of_kernel(local, peer)
    except OSError:
        return _read_from_proc(local, peer)


def _asked_of_kernel(local: tuple[str, int], peer: tuple[str, int]) -> int | None:
    sock_id = (struct.pack("!HH", peer[1], local[1]) + socket.inet_aton(peer[0]) + bytes(12)
               + socket.inet_aton(local[0]) + bytes(12) + struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE))
    request = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, _ALL_STATES) + sock_id
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as diag:
        diag.send(struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0) + request)
        answer = diag.recv(8192)
    if len(answer) < _INODE_OFFSET + 4 or struct.unpack_from("=H", answer, 4)[0] != _SOCK_DIAG_BY_FAMILY:
        return None  # an error message: no such socket
    inode: int = struct.unpack_from("=I", answer, _INODE_OFFSET)[0]
    return inode


def _hex_address(address: tuple[str, int]) -> str:
    host, port = address
    packed = socket.inet_aton(host)
    return f"{int.from_bytes(packed, 'little'):08X}:{port:04X}"


def _read_from_proc(local: tuple[str, int], peer: tuple[str, int]) -> int | None:
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
