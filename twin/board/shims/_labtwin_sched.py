# labtwin shim: the soft-IRQ scheduler behind machine.Timer and Pin.irq, loaded with the first of them.
#
# A board runs Timer callbacks and soft pin IRQ handlers from its scheduler at the VM's safe points.
# The twin's safe points are the shims' own (docs/hardware-bus.md, "Soft IRQs"): every hardware-bus
# reply (which may carry the pin edges the host saw), every time.sleep*, and every select poll
# (asyncio's idle wait). Sleeps and polls wait only until the next Timer deadline or until the host
# rings the edge doorbell. No thread ever calls into the firmware: callbacks run in the VM's main
# thread, never nest, and one that raises has its traceback printed and is swallowed, as on the port.
# Time is read in one place, _now_ms(), so a lab clock can replace it.
#
# select: from here on this module is `select` too (sys.modules): its poll() makes pollers whose
# waits are safe points, for asyncio (imported later, or already: its poller is wrapped below) and
# for the firmware's own. The VM's select is not shimmed on the path, so firmware that never makes
# a Timer or a Pin.irq pays no heap for any of this.

import select as _select
import sys
import time

from machine import _call

POLLIN = _select.POLLIN
POLLOUT = _select.POLLOUT
POLLERR = _select.POLLERR
POLLHUP = _select.POLLHUP

_timers = []  # running Timers: t._due (in _now_ms() ms) and t._period (0: one-shot)
_queue = []  # soft IRQs waiting to run, oldest first: (function, argument)
_irqs = {}  # pin id -> that pin's irq object (_labtwin_irq)
_busy = False  # a callback is running: soft IRQs never nest
_held = 0  # machine.disable_irq(): soft IRQs wait for enable_irq()
_bell = None  # the events doorbell (a socket the host writes to), opened with the first Pin.irq
_bell_poll = None

_last_us = time.ticks_us()
_last_ms = time.ticks_ms()
_elapsed = 0.0


def _now_ms():
    # Milliseconds since the scheduler loaded, as a float: the VM's monotonic microsecond ticks, or
    # its millisecond ticks across a long gap (the microsecond ticks wrap every ~18 minutes).
    global _last_us, _last_ms, _elapsed
    us = time.ticks_us()
    ms = time.ticks_ms()
    d = time.ticks_diff(ms, _last_ms)
    if d < 60000:
        d = time.ticks_diff(us, _last_us) / 1000
    _last_us = us
    _last_ms = ms
    _elapsed += d
    return _elapsed


def int_arg(x):
    if isinstance(x, int):
        return x
    raise TypeError("can't convert %s to int" % type(x).__name__)


# ----------------------------------------------------------------- timers and events
def start(t, period_ms, periodic):
    period_ms = max(period_ms, 0.001)  # a zero period would never let the VM go on
    t._due = _now_ms() + period_ms
    t._period = period_ms if periodic else 0
    if t not in _timers:
        _timers.append(t)


def stop(t):
    if t in _timers:
        _timers.remove(t)


def _next_due():
    due = None
    for t in _timers:
        if due is None or t._due < due:
            due = t._due
    return due


def _collect(now):
    for t in _timers[:]:
        if t._due <= now:
            if t._callback is not None:
                _queue.append((t._callback, t))
            if t._period:
                t._due += t._period
                if t._due <= now:  # the VM was held up (a blocking bus call): skip the missed periods
                    t._due += ((now - t._due) // t._period + 1) * t._period
            else:
                _timers.remove(t)


def host_events(events):
    # Pin edges the host saw, [[pin, flag], ...], in order.
    for pin, flag in events:
        irq = _irqs.get(pin)
        if irq is not None and irq._handler is not None:
            _queue.append((irq._fire, flag))


def run():
    # Run what is due, oldest first, until nothing is.
    global _busy
    if _busy or _held or not (_timers or _queue):
        return
    _busy = True
    try:
        while True:
            if _timers:
                _collect(_now_ms())
            if not _queue:
                return
            fn, arg = _queue.pop(0)
            try:
                fn(arg)
            except Exception as e:
                sys.print_exception(e)
    finally:
        _busy = False


def disable_irq():
    global _held
    state, _held = _held, 1
    return state


def enable_irq(state):
    global _held
    _held = 1 if state else 0
    run()  # what fell due meanwhile runs now


def bus_reply(reply):
    # machine._call's safe point: a success reply may carry pin edges ([1, value, events]).
    if reply[0] and len(reply) > 2:
        host_events(reply[2])
    run()


# ----------------------------------------------------------------- the host's doorbell
def open_bell():
    global _bell, _bell_poll
    if _bell is None:
        from _labtwin_bus import doorbell

        _bell = doorbell(None, "events")
        _bell_poll = _select.poll()  # a plain wait on the bell
        _bell_poll.register(_bell, 1)


def _fetch():
    try:
        _bell.recv(64)
    except OSError:
        pass
    host_events(_call("irq_events"))


# ----------------------------------------------------------------- safe points that wait
def _cap(t, now):
    # Wait no longer than t ms, nor past the next Timer deadline (unless callbacks cannot run now).
    if _busy or _held:
        return t
    due = _next_due()
    if due is not None and (t < 0 or due - now < t):
        t = due - now if due > now else 0.0
    return t


def sleep(s):
    _sleep(s * 1000)


def sleep_ms(ms):
    _sleep(int_arg(ms))


def sleep_us(us):
    _sleep(int_arg(us) / 1000)


def _sleep(ms):
    # time.sleep*: a sleep that runs the callbacks falling due meanwhile.
    end = _now_ms() + ms
    while True:
        run()
        now = _now_ms()
        if now >= end:
            return
        t = _cap(end - now, now)
        whole = int(t)
        if _bell_poll is not None and _bell_poll.poll(whole):
            _fetch()
            continue
        if _bell_poll is not None:
            t -= whole
        if t > 0:
            time._sleep_lab_us(int(t * 1000))


def poll():
    return Poll(_select.poll())


class Poll:
    # A select poller whose waits are safe points (select.poll() once the scheduler runs).
    def __init__(self, p):
        self._p = p  # the built-in poller
        self._bell = None  # the doorbell, once registered in it

    def register(self, obj, *mask):
        self._p.register(obj, *mask)

    def modify(self, obj, mask):
        self._p.modify(obj, mask)

    def unregister(self, obj):
        self._p.unregister(obj)

    def poll(self, timeout=-1):
        return _poll(self, timeout, 0)

    def ipoll(self, timeout=-1, flags=0):
        return _poll(self, timeout, flags)


def _poll(w, timeout, flags):
    # Wait for w's streams as the built-in poller does, but capped at the next Timer deadline and
    # watching the bell; run the callbacks; return the streams' events.
    p = w._p
    if _bell is not None and w._bell is not _bell:
        p.register(_bell, 1)
        w._bell = _bell
    deadline = None if timeout is None or timeout < 0 else _now_ms() + timeout
    while True:
        run()
        now = _now_ms()
        t = _cap(-1 if deadline is None else max(0.0, deadline - now), now)
        whole = -1 if t < 0 else int(t)
        out = []
        rang = False
        for e in (p.ipoll(whole, flags) if flags else p.poll(whole)):
            if e[0] is _bell:
                rang = True
            else:
                out.append((e[0], e[1]))
        if rang:
            if flags:
                p.modify(_bell, 1)  # a one-shot poll disarmed it
            _fetch()
        elif not out and t > whole >= 0:
            time._sleep_lab_us(int((t - whole) * 1000))
        if out or (deadline is not None and _now_ms() >= deadline):
            run()
            return out


time._sched = sys.modules["select"] = sys.modules[__name__]  # machine and time look for it there
_core = sys.modules.get("asyncio.core")
if getattr(_core, "_io_queue", None) is not None:  # asyncio is loaded: its poller, and any it makes later
    _core.select = time._sched
    _core._io_queue.poller = Poll(_core._io_queue.poller)
