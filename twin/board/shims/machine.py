# labtwin shim of MicroPython's `machine` module (rp2 port flavour).
#
# Runs inside the board's MicroPython VM, ahead of the built-in `machine` on
# MICROPYPATH. Every peripheral operation goes over one blocking loopback
# socket (the hardware bus, docs/hardware-bus.md) to the board model in the
# host, which validates it like a real Pico W and answers; errors come back
# as the exception class and message the real port raises, re-raised here.
# Plain MicroPython: no typing, no CPython-only features (compiled by mpy-cross).
#
# I2C/SoftI2C, SPI/SoftSPI and UART live in _labtwin_i2c, _labtwin_spi and
# _labtwin_uart, imported on first use (module __getattr__ below), so firmware
# that never opens a bus pays no heap for them (the VM compiles this file on
# its heap: keep it small). They follow the board's port, from the hello. So do
# Timer (_labtwin_timer), Pin.irq (_labtwin_irq) and WDT/RTC/time_pulse_us
# (_labtwin_timekeeping); Timer callbacks and IRQ handlers run as soft IRQs at
# the shims' safe points (_labtwin_sched). Signal (_labtwin_signal) too: a
# real board has all of these in flash, the twin would pay heap for them.

import json
import os
import socket
import sys
import time

RESET_EXIT_CODE = 75  # the VM's exit code for machine.reset(): the board runner reboots it
PWRON_RESET = 1
WDT_RESET = 3

_PROTOCOL = 1
_NA = object()  # "argument not given", distinct from None


def _open():
    addr = os.getenv("LABTWIN_HWBUS")
    token = os.getenv("LABTWIN_HWBUS_TOKEN")
    if not addr or not token:
        raise ImportError("labtwin: LABTWIN_HWBUS and LABTWIN_HWBUS_TOKEN must be set (run under labtwin)")
    host, port = addr.rsplit(":", 1)
    s = socket.socket()
    s.connect(socket.getaddrinfo(host, int(port))[0][-1])
    s.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY: never wait to batch a request
    s.write(json.dumps(["hello", _PROTOCOL, token]) + "\n")
    reply = json.loads(s.readline() or "[0, \"OSError\", \"labtwin: hardware bus closed\"]")
    if not reply[0]:
        s.close()
        raise OSError(reply[2])
    return s, reply[1]


_sock, _info = _open()


def _call(*req):
    _sock.write(json.dumps(req) + "\n")
    line = _sock.readline()
    if not line:
        raise OSError("labtwin: hardware bus closed")
    reply = json.loads(line)
    if time._sched:  # the soft-IRQ scheduler, once a Timer or Pin.irq loaded it (_labtwin_sched)
        time._sched.bus_reply(reply)  # a safe point: due Timer callbacks and pin IRQs run
    if reply[0]:
        return reply[1]
    # The built-in exceptions the bus may name (built here, on the error path: heap is scarce).
    exc = {"ValueError": ValueError, "TypeError": TypeError, "OSError": OSError, "RuntimeError": RuntimeError,
           "NotImplementedError": NotImplementedError, "MemoryError": MemoryError, "KeyError": KeyError,
           "IndexError": IndexError}.get(reply[1], RuntimeError)
    if reply[2] is None:
        raise exc()
    raise exc(reply[2])


def _src(obj):
    # What the host can resolve: a Pin's resolved id, a GPIO number or a name.
    # Anything else (floats, None, bools...) is "invalid pin" on the real port too.
    if isinstance(obj, Pin):
        return obj._id
    if isinstance(obj, (int, str)):
        return obj
    return None


def __getattr__(name):
    # machine.I2C, SoftI2C, SPI, SoftSPI, UART, Timer, Signal, WDT, RTC, time_pulse_us: loaded on
    # first use, then kept in this module.
    if name in ("WDT", "RTC", "time_pulse_us"):
        mod = "_labtwin_timekeeping"
    elif name in ("I2C", "SoftI2C", "SPI", "SoftSPI", "UART", "Timer", "Signal"):
        mod = "_labtwin_" + name.replace("Soft", "").lower()
    else:
        raise AttributeError(name)
    cls = globals()[name] = getattr(__import__(mod), name)
    return cls


def _int_arg(value):
    if value is None:
        raise TypeError("can't convert NoneType to int")
    return value


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    ALT = 3
    PULL_UP = 1
    PULL_DOWN = 2
    if _info.get("port") == "esp32":
        IRQ_FALLING = 2
        IRQ_RISING = 1
    else:
        IRQ_FALLING = 4
        IRQ_RISING = 8
    ALT_SPI = 1
    ALT_UART = 2
    ALT_I2C = 3
    ALT_PWM = 4
    ALT_SIO = 5
    ALT_PIO0 = 6
    ALT_PIO1 = 7
    ALT_GPCK = 8
    ALT_USB = 9

    def __init__(self, id, *args, **kw):
        configure = bool(args or kw)
        mode, pull, value, alt = _pin_args(args, kw)
        self._id = _call("pin_init", _src(id), configure, mode, pull, value, alt)

    def init(self, *args, **kw):
        mode, pull, value, alt = _pin_args(args, kw)
        _call("pin_init", self._id, True, mode, pull, value, alt)

    def value(self, v=_NA):
        if v is _NA:
            return _call("pin_value", self._id)
        _call("pin_value", self._id, 1 if v else 0)

    def __call__(self, v=_NA):
        return self.value(v)

    def on(self):
        _call("pin_value", self._id, 1)

    def off(self):
        _call("pin_value", self._id, 0)

    high = on
    low = off

    def toggle(self):
        _call("pin_toggle", self._id)

    def irq(self, *args, **kw):
        return __import__("_labtwin_irq").irq(self, args, kw)

    def __repr__(self):
        return _call("pin_repr", self._id)

    def __eq__(self, other):
        # Real Pin objects are singletons per pin; equal ids are the same pin.
        return isinstance(other, Pin) and other._id == self._id

    def __hash__(self):
        return hash(self._id)


def _pin_args(args, kw):
    if len(args) > 2:
        raise TypeError("extra positional arguments given")
    mode = args[0] if len(args) > 0 else None
    pull = args[1] if len(args) > 1 else None
    value = None
    alt = Pin.ALT_SIO
    for k in kw:
        if k == "mode":
            mode = kw[k]
        elif k == "pull":
            pull = kw[k]
        elif k == "value":
            value = kw[k]
        elif k == "alt":
            alt = kw[k]
        else:
            raise TypeError("unexpected keyword argument '%s'" % k)
    if value is not None:
        value = 1 if value else 0
    return mode, pull, value, alt


class ADC:
    CORE_TEMP = 4

    def __init__(self, id, **kw):
        if kw and (_info.get("port") != "esp32" or list(kw) != ["atten"]):
            raise TypeError("extra keyword arguments given")
        if isinstance(id, Pin):
            self._ch = _call("adc_init", id._id, True)
        else:
            self._ch = _call("adc_init", _src(id), False)
        if kw:
            self.atten(kw["atten"])

    def read_u16(self):
        return _call("adc_read_u16", self._ch)

    if _info.get("port") == "esp32":  # the esp32 port's attenuation and legacy reads (machine_adc.c)
        ATTN_0DB = 0
        ATTN_2_5DB = 1
        ATTN_6DB = 2
        ATTN_11DB = 3
        WIDTH_9BIT = 9
        WIDTH_10BIT = 10
        WIDTH_11BIT = 11
        WIDTH_12BIT = 12

        def atten(self, atten):
            _call("adc_atten", self._ch, atten)

        def width(self, bits):
            if bits not in (9, 10, 11, 12):
                raise ValueError("invalid bit-width")
            self._width = bits

        def read(self):
            return _call("adc_read_raw", self._ch) >> (12 - getattr(self, "_width", 12))

        def read_uv(self):
            return _call("adc_read_uv", self._ch)

    def __repr__(self):
        return "<ADC channel=%u>" % self._ch


class PWM:
    def __init__(self, dest, freq=None, *, duty_u16=None, duty_ns=None, invert=None):
        r = _call("pwm_init", _src(dest), freq, duty_u16, duty_ns, invert)
        self._slice, self._channel, self._gpio = r
        self._invert = 1 if invert else 0

    def init(self, freq=None, *, duty_u16=None, duty_ns=None, invert=None):
        _call("pwm_reinit", self._gpio, freq, duty_u16, duty_ns, invert)
        if invert is not None:
            self._invert = 1 if invert else 0

    def freq(self, f=_NA):
        if f is _NA:
            return _call("pwm_freq", self._gpio)
        _call("pwm_freq", self._gpio, _int_arg(f))

    def duty_u16(self, d=_NA):
        if d is _NA:
            return _call("pwm_duty_u16", self._gpio)
        _call("pwm_duty_u16", self._gpio, _int_arg(d))

    def duty_ns(self, d=_NA):
        if d is _NA:
            return _call("pwm_duty_ns", self._gpio)
        _call("pwm_duty_ns", self._gpio, _int_arg(d))

    def deinit(self):
        _call("pwm_deinit", self._gpio)

    def __repr__(self):
        return "<PWM slice=%u channel=%u invert=%u>" % (self._slice, self._channel, self._invert)


def unique_id():
    return bytes.fromhex(_call("unique_id"))


def freq(*args):
    if not args:
        return _call("freq")
    if len(args) > 2:
        raise TypeError("function takes at most 2 arguments")
    _call("freq", _int_arg(args[0]))


def bitstream(pin, encoding, timing, buf):
    # The whole pulse train in one request; the host times it for the part on the pin (board_bitstream.py).
    from binascii import hexlify
    t = list(timing) if isinstance(timing, (tuple, list)) else type(timing).__name__
    _call("bitstream", _src(pin), encoding, t, hexlify(buf).decode())


def reset_cause():
    return _call("reset_cause")


def _restart(kind):
    _call("reset", kind)
    # The runner restarts the VM on this exit code. If firmware swallows
    # SystemExit, the host kills the VM shortly after the "reset" op anyway.
    sys.exit(RESET_EXIT_CODE)


def reset():
    _restart("hard")


def soft_reset():
    _restart("soft")


def idle():
    time.sleep_ms(1)


def lightsleep(ms=None):
    if ms is None:
        while True:
            time.sleep_ms(1000)
    time.sleep_ms(ms)


def deepsleep(ms=None):
    lightsleep(ms)
    reset()


def disable_irq():
    return time._sched.disable_irq() if time._sched else 0


def enable_irq(state=0):
    if time._sched:
        time._sched.enable_irq(state)
