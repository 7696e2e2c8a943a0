# labtwin shim: machine.WDT, machine.RTC and machine.time_pulse_us (loaded by machine on first use).
#
# All three live on the host, in lab time (twin/board/board_timekeeping.py, board_irq.py). The
# watchdog counts down there, so firmware stuck in a loop that never reaches the bus is reset all
# the same (reset_cause() == WDT_RESET afterwards); like the ports' it has no deinit. The RTC runs
# on the lab clock from the port's boot date. time_pulse_us blocks while the host times the pulse
# from the pin's level timeline: -2 if the level never came, -1 if it never went, within timeout_us.

from machine import _call, _info, _src


class WDT:
    def __init__(self, id=0, timeout=5000):
        _call("wdt_init", id, timeout)

    def feed(self):
        _call("wdt_feed")


class RTC:
    def __init__(self, *args, **kw):
        if kw:
            raise TypeError("function doesn't take keyword arguments")
        if args:
            raise TypeError("function takes 0 positional arguments but %d were given" % len(args))

    def datetime(self, *args):
        if len(args) > 1:
            raise TypeError("function takes 2 positional arguments but %d were given" % (len(args) + 1))
        if not args:
            return tuple(_call("rtc_datetime"))
        t = args[0]
        if not isinstance(t, (tuple, list)):
            raise TypeError("object '%s' isn't a tuple or list" % type(t).__name__)
        if len(t) != 8:
            raise ValueError("requested length 8 but object has length %d" % len(t))
        _call("rtc_datetime", list(t))

    if _info.get("port") == "esp32":

        def init(self, datetime):
            self.datetime(datetime)


def time_pulse_us(pin, pulse_level, timeout_us=1000000):
    return _call("time_pulse_us", _src(pin), pulse_level, timeout_us)
