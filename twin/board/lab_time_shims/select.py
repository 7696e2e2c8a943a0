# labtwin shim of `select` on lab time (with this folder's time.py, docs/time.md): a poller whose
# timeouts are lab milliseconds. asyncio's poller is one of these (its frozen core makes it through
# the path), so asyncio's waits are lab waits; so are the firmware's own polls.

import sys
import time as _lab

_p = sys.path
sys.path = ()  # an empty path imports the built-in, not this file
try:
    import select as _sel
finally:
    sys.path = _p

POLLIN = _sel.POLLIN
POLLOUT = _sel.POLLOUT
POLLERR = _sel.POLLERR
POLLHUP = _sel.POLLHUP


def __getattr__(name):
    return getattr(_sel, name)


class poll:
    def __init__(self):
        self._p = _sel.poll()
        if _lab._clk is not None:  # max mode: the host's wake-ups reach every wait
            self._p.register(_lab._clk, POLLIN)

    def register(self, obj, *mask):
        self._p.register(obj, *mask)

    def modify(self, obj, mask):
        self._p.modify(obj, mask)

    def unregister(self, obj):
        self._p.unregister(obj)

    def poll(self, timeout=-1):
        return _lab.wait(self._p, -1 if timeout is None else timeout, 0)

    def ipoll(self, timeout=-1, flags=0):
        return _lab.wait(self._p, -1 if timeout is None else timeout, flags)
