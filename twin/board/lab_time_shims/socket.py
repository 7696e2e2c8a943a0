# labtwin shim of `socket` on lab time (docs/time.md): TCP sockets send without Nagle. With Nagle, a
# firmware's second small write waits for the host's delayed ACK, up to 40 ms of real time that the lab
# clock does not see: N times that in lab time at --speed N, and a jump past it at --speed max.
# Everything else is the built-in module.

import sys

_p = sys.path
sys.path = ()  # an empty path imports the built-in, not this file
try:
    import socket as _s
finally:
    sys.path = _p


def __getattr__(name):
    return getattr(_s, name)


def socket(af=_s.AF_INET, type=_s.SOCK_STREAM, proto=0):
    s = _s.socket(af, type, proto)
    if type == _s.SOCK_STREAM and af != getattr(_s, "AF_UNIX", -1):
        try:
            s.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY
        except OSError:
            pass
    return s
