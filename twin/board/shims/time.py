# labtwin shim of `time`: the VM's own module, whose sleeps are safe points for soft IRQs.
#
# Once a Timer or a Pin.irq has loaded the scheduler (_labtwin_sched sets _sched), a sleep is the
# scheduler's: it runs the due Timer callbacks and IRQ handlers and wakes early for them, as a
# board's sleep does. Until then, and for every other name, this is the built-in. Keep it tiny:
# every firmware imports it. `utime` is this module too once it is imported.

import sys

_p = sys.path
sys.path = ()  # an empty path imports the built-in, not this file
try:
    import time as _t
finally:
    sys.path = _p
sys.modules["utime"] = sys.modules[__name__]
_sched = None


def __getattr__(name):
    return getattr(_t, name)


def sleep(s):
    (_sched or _t).sleep(s)


def sleep_ms(ms):
    (_sched or _t).sleep_ms(ms)


def sleep_us(us):
    (_sched or _t).sleep_us(us)


def _sleep_lab_us(us):
    _t.sleep_us(us)  # the scheduler's short waits (lab time's time.py scales them)
