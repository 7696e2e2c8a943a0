# labtwin shim: Pin.irq (loaded by machine.Pin.irq on first use).
#
# The host watches the pin's level, whatever drives it (a part, model.set_input, the firmware's own
# writes), and reports the edges the trigger selects; _labtwin_sched runs the handler as a soft IRQ
# with the Pin as argument. rp2: irq(handler=None, trigger=IRQ_FALLING|IRQ_RISING, hard=False), a
# hard handler runs as a soft one; esp32: irq(handler=None, trigger=IRQ_FALLING|IRQ_RISING, wake=None).
# The irq object: trigger([new]) returns the old trigger, flags() the edge that fired last, and
# calling it runs the handler.

import _labtwin_sched as _s
from machine import _call, _info

_ESP32 = _info.get("port") == "esp32"
_NAMES = ("handler", "trigger", "wake" if _ESP32 else "hard")
_DEFAULT = 3 if _ESP32 else 12  # IRQ_FALLING | IRQ_RISING
_NA = object()


class _Irq:
    def __init__(self, pin):
        self._pin = pin
        self._handler = None
        self._trigger = _DEFAULT
        self._flags = 0

    def _set(self, handler, trigger):
        trigger = _s.int_arg(trigger)
        _s.open_bell()
        _call("pin_irq", self._pin._id, 0 if handler is None else trigger)
        self._handler = handler
        self._trigger = trigger

    def _fire(self, flag):
        self._flags = flag
        self._handler(self._pin)

    def __call__(self):
        if self._handler is not None:
            self._handler(self._pin)

    def trigger(self, *new):
        old = self._trigger
        if new:
            self._set(self._handler, new[0])
        return old

    def flags(self):
        return self._flags


def irq(pin, args, kw):
    if len(args) > 3:
        raise TypeError("extra positional arguments given")
    given = list(args) + [None, _NA, None][len(args):]
    for k in kw:
        if k not in _NAMES or _NAMES.index(k) < len(args):
            raise TypeError("unexpected keyword argument '%s'" % k)
        given[_NAMES.index(k)] = kw[k]
    obj = _s._irqs.get(pin._id)
    if obj is None:
        obj = _s._irqs[pin._id] = _Irq(pin)
    if args or kw:
        obj._pin = pin
        obj._set(given[0], _DEFAULT if given[1] is _NA else given[1])
    return obj
