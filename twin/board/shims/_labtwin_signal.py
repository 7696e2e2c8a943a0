# labtwin shim: machine.Signal (loaded by machine on first use: a board has it in flash, not on its heap).

from machine import _NA, Pin


class Signal:
    def __init__(self, pin, *args, invert=False, **kw):
        if not isinstance(pin, Pin):
            pin = Pin(pin, *args, **kw)
        self._pin = pin
        self._invert = 1 if invert else 0

    def value(self, v=_NA):
        if v is _NA:
            return self._pin.value() ^ self._invert
        self._pin.value((1 if v else 0) ^ self._invert)

    def __call__(self, v=_NA):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)
