# labtwin shim of `time` on lab time: loaded instead of the board shims' time.py when a lab runs
# faster than real time (`--speed N` or `--speed max`, docs/time.md). Firmware, asyncio (its frozen
# core imports time through the path) and the other shims read this clock.
#
# Lab time in microseconds on the VM's monotonic tick base (the host's CLOCK_MONOTONIC too):
#     lab_us = real_us + (N - 1) * (real_us - T0) + offset
# T0 is the lab's start, N its speed, offset what the host's jumps added (`--speed max`: read from the
# offset file after every wait, since the host jumps only while every VM waits). Lab time never
# falls behind real time, which the C asyncio task queue needs: it stamps woken tasks with the real
# ticks. Waits are lab waits: a scaled real wait, or at `--speed max` a report to the host ("idle
# until D") and a wait for the host's wake-up byte on the clock socket (the host jumps to the
# earliest deadline when the whole lab idles). `select` (this folder) waits through wait() too.

import os
import sys

_p = sys.path
sys.path = ()  # an empty path imports the built-ins, not these files
try:
    import select as _sel
    import time as _t
finally:
    sys.path = _p
sys.modules["utime"] = sys.modules[__name__]
_sched = None  # set by _labtwin_sched, as in the board shims' time.py

_N = os.getenv("LABTWIN_LAB_SPEED") or "1"
_N = int(_N) if _N.isdigit() else float(_N)
_K = _N - 1
_T0 = int(os.getenv("LABTWIN_LAB_T0_US"))
_offf = None  # the offset file (max mode)
_off = 0
_clk = None  # the clock socket (max mode)
_cp = None  # a poller on the clock alone, for plain sleeps
_echo = 0  # clock bytes read: the host counts what it sent
_last = None  # the last (echo, deadline) reported

ticks_add = _t.ticks_add
ticks_diff = _t.ticks_diff
mktime = _t.mktime


def _lab_us():
    r = _t.ticks_us()
    return int(r + _K * (r - _T0)) + _off


def ticks_us():
    return _lab_us() & 0x3FFFFFFFFFFFFFFF


def ticks_ms():
    return (_lab_us() // 1000) & 0x3FFFFFFFFFFFFFFF


ticks_cpu = ticks_us

# The lab's epoch: the real date at T0, lab time after it.
_E0 = _t.time_ns() - (_t.ticks_us() - _T0) * 1000


def time_ns():
    return _E0 + (_lab_us() - _T0) * 1000


def time():
    return time_ns() / 1000000000


def gmtime(secs=None):
    return _t.gmtime(int(time()) if secs is None else secs)


def localtime(secs=None):
    return _t.localtime(int(time()) if secs is None else secs)


def __getattr__(name):
    return getattr(_t, name)


# ----------------------------------------------------------------- the host's clock (max mode)
_path = os.getenv("LABTWIN_LAB_OFFSET_FILE")
if _path:
    import json
    import socket

    _offf = open(_path, "rb")
    _offb = _offf.read()  # the host keeps it one fixed width: later reads take one readinto
    _off = int(_offb)
    _offb = bytearray(len(_offb))
    _host, _port = os.getenv("LABTWIN_LAB_CLOCK").rsplit(":", 1)
    _clk = socket.socket()
    _clk.connect(socket.getaddrinfo(_host, int(_port))[0][-1])
    _clk.setsockopt(6, 1, 1)  # TCP_NODELAY: reports are a few bytes
    _clk.write(json.dumps(["clock", os.getenv("LABTWIN_LAB_CLOCK_TOKEN"), os.getenv("LABTWIN_LAB_CLOCK_NAME")]) + "\n")
    _clk.setblocking(False)
    _cp = _sel.poll()
    _cp.register(_clk, _sel.POLLIN)
    del _host, _port


def _refresh():
    global _off
    _offf.seek(0)
    _offf.readinto(_offb)
    _off = int(_offb)


def _drain():
    # The host's bytes on the clock socket: b"w" (your deadline is now) or b"s" (say how you are).
    # One read: bytes that come later make the socket readable again.
    global _echo
    try:
        _echo += len(_clk.recv(64))
    except OSError:
        pass


def _report(deadline):
    # "idle until deadline" (lab us since T0; -1: until I/O), with the clock bytes read so far.
    global _last
    if _last != (_echo, deadline):
        _clk.write("i %d %d\n" % (_echo, deadline))
        _last = (_echo, deadline)


def _events(p, t, flags):
    # p's events within t real ms (-1: until one), the clock socket's handled and left out.
    out = []
    clock = False
    for e in (p.ipoll(t, flags) if flags else p.poll(t)):
        if e[0] is _clk:
            clock = True
        else:
            out.append((e[0], e[1]))
    if clock:
        _drain()
        if flags:
            p.modify(_clk, _sel.POLLIN)  # a one-shot poll disarmed it
    return out


def wait(p, ms, flags=0):
    # Wait up to ms lab milliseconds (< 0: until an event) for the events of p, a built-in poller
    # (None: a plain sleep); return them (a list of (object, event)), [] when the time is up.
    if ms == 0 or (p is None and ms < 0):
        return [] if p is None else _events(p, 0, flags)
    if _clk is None:  # scaled: a real wait N times shorter
        if ms < 0:
            return _events(p, -1, flags)
        us = ms * 1000 / _N
        if p is None:
            _t.sleep_us(int(us))
            return []
        if us < 1000:  # poll's timeout is whole milliseconds
            out = _events(p, 0, flags)
            if out:
                return out
            _t.sleep_us(int(us))
            return _events(p, 0, flags)
        return _events(p, int(us // 1000), flags)
    q = _cp if p is None else p
    end = -1 if ms < 0 else _lab_us() - _T0 + int(ms * 1000)
    out = _events(q, 0, flags)
    while not out:  # (a blocking poll that returned only the clock left nothing else to poll for)
        if end >= 0 and _lab_us() - _T0 >= end:
            return []
        _report(end)
        out = _events(q, -1, flags)
        _refresh()
    return out


def _sleep_lab_us(us):
    # A lab sleep that runs no soft IRQ (the scheduler's own short waits).
    end = _lab_us() + us
    while True:
        left = end - _lab_us()
        if left <= 0:
            return
        wait(None, left / 1000)


def sleep(s):
    if _sched:
        _sched.sleep(s)
    else:
        _sleep_lab_us(int(s * 1000000))


def sleep_ms(ms):
    if _sched:
        _sched.sleep_ms(ms)
    else:
        _sleep_lab_us(ms * 1000)


def sleep_us(us):
    if _sched:
        _sched.sleep_us(us)
    else:
        _sleep_lab_us(us)
