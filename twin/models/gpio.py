"""GPIO model: mode, pull, output latch and level of every pin, rp2 semantics.

CPU pins follow the RP2040: after reset a pad has no function selected
(``funcsel`` 31) and its pull-down on; ``Pin.OUT`` selects SIO and drives the
latch; ``Pin.OPEN_DRAIN`` is simulated, as on the rp2 port, by switching the
pin between driving low and input. External pins (``"EXT_GPIO0"`` ...) are the
wireless chip's GPIOs: only ``IN`` and ``OUT``, no pulls; the Pico W's
onboard LED is one of them.

Levels a pin reads when nothing on the board drives it come from
:meth:`GpioModel.set_external` (what the outside world drives), else its pull.
Every level change is traced as ``pin.<NAME>`` (``pin.GPIO15``, ``pin.EXT_GPIO0``).
"""

from __future__ import annotations

from dataclasses import dataclass

from labtwin.twin.board.profiles import PinId
from labtwin.twin.clock import Clock
from labtwin.twin.models.mp import MicroPythonError
from labtwin.twin.models.trace import Trace

__all__ = ["GpioModel", "PinState"]

MODE_IN, MODE_OUT, MODE_OPEN_DRAIN, MODE_ALT = 0, 1, 2, 3
PULL_UP, PULL_DOWN = 1, 2
FUNC_PWM, FUNC_SIO, FUNC_GPCK, FUNC_NULL = 4, 5, 8, 31
_GPCK_PINS = frozenset(range(20, 26))  # RP2040 clock in/out function exists on GPIO20-25 only
_VALID_AF = frozenset(range(1, 10))  # SPI, UART, I2C, PWM, SIO, PIO0, PIO1, GPCK, USB


def _af_name(pin: PinId, funcsel: int) -> str:
    # The port prints the function's pin-specific name where it has one.
    if funcsel == FUNC_PWM and isinstance(pin, int):
        return f"PWM{(pin >> 1) & 7}_{'AB'[pin & 1]}"
    return {6: "PIO0", 7: "PIO1"}.get(funcsel, str(funcsel))


@dataclass
class PinState:
    """Electrical and configuration state of one pin."""

    name: str
    external_pin: bool = False
    funcsel: int = FUNC_NULL
    output_enable: bool = False
    open_drain: bool = False
    pull: int = PULL_DOWN
    latch: int = 0
    driven: int | None = None  # level forced from outside the board, None = not driven
    analog: bool = False

    @property
    def mode(self) -> str:
        """``"IN"``, ``"OUT"``, ``"OPEN_DRAIN"`` or ``"ALT"``, as the rp2 repr names it."""
        if self.external_pin:
            return "OUT" if self.output_enable else "IN"
        if self.funcsel != FUNC_SIO:
            return "ALT"
        if self.open_drain:
            return "OPEN_DRAIN"
        return "OUT" if self.output_enable else "IN"


class GpioModel:
    """All pins of one board.

    Args:
        clock: lab clock, for trace timestamps.
        cpu_pins: number of CPU GPIOs.
        ext_pins: names of external (wireless-chip) pins.
        ext_inputs: levels external pins read when not outputs (e.g. VBUS sense).
        trace: where level changes go.
    """

    def __init__(self, clock: Clock, *, cpu_pins: int, ext_pins: tuple[str, ...] = (),
                 ext_inputs: dict[str, int] | None = None, trace: Trace | None = None) -> None:
        self._clock = clock
        self._trace = trace
        self._cpu_pins = cpu_pins
        self._ext_pins = ext_pins
        self._ext_inputs = dict(ext_inputs or {})
        self._pins: dict[PinId, PinState] = {}
        self.reset()

    def reset(self) -> None:
        """Power-on state: every pin unconfigured, nothing driven by the board."""
        old = getattr(self, "_pins", {})
        self._pins = {n: PinState(f"GPIO{n}") for n in range(self._cpu_pins)}
        for name in self._ext_pins:
            self._pins[name] = PinState(name, external_pin=True, pull=0,
                                        driven=self._ext_inputs.get(name))
        # What the outside world drives survives a reboot of the board.
        for pin, state in old.items():
            if not state.external_pin and state.driven is not None:
                self._pins[pin].driven = state.driven
        for pin in self._pins:
            self._record(pin)

    def state(self, pin: PinId) -> PinState:
        """The state object of a resolved pin (read it, don't mutate it)."""
        return self._pins[pin]

    def _record(self, pin: PinId) -> None:
        if self._trace is not None:
            state = self._pins[pin]
            signal = f"pin.{state.name}"
            level = self.level(pin)
            last = self._trace.last(signal)
            if last is None or last[1] != level:
                self._trace.record(signal, self._clock.now(), level)

    def level(self, pin: PinId) -> int:
        """The electrical level on the pin now (what a voltmeter would say, as 0/1)."""
        s = self._pins[pin]
        if s.external_pin:
            if s.output_enable:
                return s.latch
            return s.driven if s.driven is not None else 0
        if s.funcsel == FUNC_SIO and s.output_enable:
            return 0 if s.open_drain else s.latch
        if s.driven is not None:
            return s.driven
        if s.funcsel == FUNC_SIO and s.open_drain:
            return 1  # released open-drain line: assume the usual bus pull-up
        if s.pull & PULL_UP:
            return 1
        return 0

    def configure(self, pin: PinId, mode: int | None, pull: int | None, value: int | None,
                  alt: int = FUNC_SIO) -> None:
        """``Pin.init(mode, pull, *, value, alt)`` on a resolved pin.

        Raises:
            MicroPythonError: the rp2 port's ``ValueError`` for external pins
                given a pull, an alternate function, or a mode other than IN/OUT,
                and ``invalid pin af: N`` for an alternate function the pin lacks.
        """
        s = self._pins[pin]
        if s.external_pin:
            if pull is not None:
                raise MicroPythonError.value_error("pulls are not supported for external pins")
            if alt != FUNC_SIO:
                raise MicroPythonError.value_error("alternate functions are not supported for external pins")
            if mode is not None:
                if mode == MODE_IN:
                    s.output_enable = False
                elif mode == MODE_OUT:
                    if not s.output_enable:
                        s.latch = s.latch if value is None else int(bool(value))
                        s.output_enable = True
                else:
                    raise MicroPythonError.value_error("only Pin.OUT and Pin.IN are supported for this pin")
            if value is not None:
                s.latch = int(bool(value))
            self._record(pin)
            return
        if mode is not None:
            s.analog = False
            if mode == MODE_IN:
                s.funcsel, s.output_enable, s.open_drain = FUNC_SIO, False, False
            elif mode == MODE_OUT:
                if value is not None:
                    s.latch = int(bool(value))
                s.funcsel, s.output_enable, s.open_drain = FUNC_SIO, True, False
            elif mode == MODE_OPEN_DRAIN:
                level = 1 if value is None else int(bool(value))
                s.funcsel, s.open_drain, s.latch = FUNC_SIO, True, 0
                s.output_enable = level == 0
            else:
                if alt not in _VALID_AF or (alt == FUNC_GPCK and pin not in _GPCK_PINS):
                    raise MicroPythonError.value_error(f"invalid pin af: {alt}")
                s.funcsel, s.open_drain = alt, False
        # The rp2 port sets pulls unconditionally: no pull given means pulls off.
        s.pull = 0 if pull is None else pull & (PULL_UP | PULL_DOWN)
        self._record(pin)

    def write(self, pin: PinId, value: int) -> None:
        """``pin.value(v)`` / ``on()`` / ``off()``."""
        s = self._pins[pin]
        v = int(bool(value))
        if s.external_pin:
            # The cyw43 driver turns the pin into an output on any write.
            s.latch, s.output_enable = v, True
        elif s.open_drain:
            s.output_enable = v == 0
        else:
            s.latch = v
        self._record(pin)

    def toggle(self, pin: PinId) -> None:
        """``pin.toggle()``."""
        s = self._pins[pin]
        if s.external_pin:
            self.write(pin, s.latch ^ 1)
        elif s.open_drain:
            s.output_enable = not s.output_enable
            self._record(pin)
        else:
            s.latch ^= 1
            self._record(pin)

    def read(self, pin: PinId) -> int:
        """``pin.value()``: the level at the pin's input."""
        return self.level(pin)

    def set_function(self, pin: PinId, funcsel: int, *, analog: bool = False) -> None:
        """Hand a CPU pin to a peripheral (PWM, or the ADC when ``analog``)."""
        s = self._pins[pin]
        s.funcsel, s.open_drain, s.analog = funcsel, False, analog
        if analog:
            s.output_enable = False
            s.pull = 0
        self._record(pin)

    def set_external(self, pin: PinId, level: int | None) -> None:
        """Drive ``pin`` from outside the board (``None`` stops driving it)."""
        self._pins[pin].driven = None if level is None else int(bool(level))
        self._record(pin)

    def repr(self, pin: PinId) -> str:
        """The rp2 port's ``repr(Pin)``: ``Pin(GPIO15, mode=OUT, pull=PULL_UP)``."""
        s = self._pins[pin]
        text = f"Pin({s.name}, mode={s.mode}"
        if not s.external_pin:
            pulls = [n for bit, n in ((PULL_UP, "PULL_UP"), (PULL_DOWN, "PULL_DOWN")) if s.pull & bit]
            if pulls:
                text += ", pull=" + "|".join(pulls)
            if s.funcsel != FUNC_SIO:
                text += f", alt={_af_name(pin, s.funcsel)}"
        return text + ")"
