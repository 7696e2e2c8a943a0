# labtwin shim: machine.Timer (loaded by machine on first use).
#
# The port's ids, arguments, period arithmetic, repr and errors: rp2 has the one virtual timer
# Timer(-1) (the default id), counting in microseconds; esp32 has hardware timers 0-3 (one object per
# id, a 10 MHz counter) and, in current releases, virtual Timer(-1) with the 10 ms FreeRTOS tick.
# Callbacks are soft IRQs, run by _labtwin_sched at the VM's safe points with the Timer as argument;
# a periodic timer keeps its rate without drift. hard=True runs as soft (rp2) or is refused (esp32).

import _labtwin_sched as _s
from machine import _info

_ESP32 = _info.get("port") == "esp32"
_HW_HZ = 10000000  # esp32: the timer counter's rate (80 MHz APB / divider 8)
_OS_TICK_MS = 10  # esp32: FreeRTOS tick of virtual timers
_hardware = {}  # esp32 id -> the Timer object that last initialised that hardware timer


def _kw_only(args):
    if args:
        raise TypeError("extra positional arguments given")


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, *args, **kw):
        self._callback = None
        self._set = False
        self._ms = 0
        if _ESP32:
            if not args:
                raise TypeError("function missing 1 required positional arguments")
            self._id = _s.int_arg(args[0])
            if self._id != -1 and not 0 <= self._id < 4:
                raise ValueError("invalid Timer number, max 4")
        else:
            self._id = _s.int_arg(args[0]) if args else -1
            if self._id != -1:
                raise ValueError("Timer doesn't exist")
        if len(args) > 1 or kw:
            self.init(*args[1:], **kw)

    def init(self, *args, mode=1, callback=None, period=0xFFFFFFFF, tick_hz=1000, freq=None, hard=False):
        _kw_only(args)
        mode, period, tick_hz = _s.int_arg(mode), _s.int_arg(period), _s.int_arg(tick_hz)
        _s.stop(self)
        if hard and _ESP32:
            raise ValueError("hard Timers are not implemented")
        if _ESP32 and self._id == -1:
            ms = int(1000.0 / freq) if freq is not None else period
            ticks = ms // _OS_TICK_MS
            if ticks == 0:
                raise ValueError("period too small for soft timer, less than OS tick period of %d ms.  "
                                 "Try a hardware timer." % _OS_TICK_MS)
            self._repr = ticks
            ms = ticks * _OS_TICK_MS
        elif _ESP32:
            counts = int(_HW_HZ / freq) if freq is not None else period * _HW_HZ // tick_hz
            self._repr = counts // (_HW_HZ // 1000)
            ms = counts * 1000 / _HW_HZ
            old = _hardware.get(self._id)
            if old is not None and old is not self:
                _s.stop(old)  # the same hardware timer
            _hardware[self._id] = self
        else:
            us = int(1000000.0 / freq) if freq is not None else period * 1000000 // tick_hz
            self._repr = us = max(us, 1)
            ms = us / 1000
        self._mode = mode
        self._callback = callback
        self._ms = ms
        self._set = True
        _s.start(self, ms, mode != 0)

    def deinit(self):
        if _ESP32 and self._id == -1 and not self._set:
            raise ValueError("timer not set")
        _s.stop(self)

    if _ESP32:

        def value(self):
            if not self._set or self not in _s._timers:
                raise ValueError("timer not set")
            left = self._due - _s._now_ms()
            if self._id == -1:
                return int(left) // _OS_TICK_MS  # OS ticks to the next expiry
            return int(self._ms - left)  # ms counted since the last reload

    def __repr__(self):
        mode = "PERIODIC" if self._set and self._mode else "ONE_SHOT"
        period = self._repr if self._set else 0
        if _ESP32:
            return "Timer(%d, mode=%s, period=%u)" % (self._id, mode, period)
        if period > 0xFFFFFFFF:
            return "Timer(mode=%s, tick_hz=1000000, period=%u000)" % (mode, period // 1000)
        return "Timer(mode=%s, tick_hz=1000000, period=%u)" % (mode, period)
