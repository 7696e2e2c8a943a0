"""PWM model with the rp2 port's register arithmetic, and a hobby-servo model.

The RP2040 has 8 PWM slices of two channels; GPIO ``n`` is slice
``(n >> 1) & 7``, channel ``n & 1`` (so GPIO0 and GPIO16 share a channel).
Frequency lives in the slice (``div16``, ``top``); duty in the channel's
compare level ``cc``. :class:`PwmModel` computes those registers with the
same integer arithmetic as the port, so ``freq()``/``duty_u16()`` read back
exactly what a Pico would, and the pulse a servo sees is quantised the same.

:class:`ServoModel` turns the pulse width on a pin into a target angle
(0.5 ms = 0°, 2.5 ms = 180°, clamped) and moves towards it at a finite slew
rate, like an SG90 (about 0.1 s per 60°).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from labtwin.twin.clock import Clock
from labtwin.twin.models.mp import MicroPythonError
from labtwin.twin.models.trace import Trace

__all__ = ["PwmChannel", "PwmModel", "PwmOutput", "PwmSlice", "ServoModel"]

TOP_MAX = 65534  # largest top that still allows 100 % duty at 65535
DUTY_NOT_SET, DUTY_U16, DUTY_NS = 0, 1, 2


@dataclass
class PwmSlice:
    """Per-slice registers and state."""

    div16: int = 16
    top: int = 0xFFFF
    freq_set: bool = False
    enabled: bool = False


@dataclass
class PwmChannel:
    """Per-channel compare level and the duty the firmware asked for."""

    cc: int = 0
    duty_type: int = DUTY_NOT_SET
    duty: int = 0
    invert: bool = False


@dataclass(frozen=True)
class PwmOutput:
    """What a PWM channel puts on its pin, in physical units."""

    enabled: bool
    freq_hz: float
    pulse_s: float
    duty: float  # fraction of the period the (non-inverted) output is high


class PwmModel:
    """All PWM slices of an RP2040-class chip.

    Args:
        clock: lab clock, for trace timestamps.
        sys_hz: ``clk_sys`` frequency feeding the slices.
        slices: number of slices.
        trace: where duty changes go, as ``pwm.GPIO<n>.duty`` (fraction).
    """

    def __init__(self, clock: Clock, *, sys_hz: int = 125_000_000, slices: int = 8,
                 trace: Trace | None = None) -> None:
        self._clock = clock
        self._trace = trace
        self.sys_hz = sys_hz
        self._n_slices = slices
        self.reset()

    def reset(self) -> None:
        """Power-on state: every slice stopped, nothing set."""
        self.slices = [PwmSlice() for _ in range(self._n_slices)]
        self.channels = [[PwmChannel(), PwmChannel()] for _ in range(self._n_slices)]
        self._pins: set[int] = set()

    def slice_channel(self, gpio: int) -> tuple[int, int]:
        """``(slice, channel)`` driving ``gpio``."""
        return (gpio >> 1) % self._n_slices, gpio & 1

    def _sc(self, gpio: int) -> tuple[PwmSlice, PwmChannel]:
        s, c = self.slice_channel(gpio)
        return self.slices[s], self.channels[s][c]

    # Integer helpers mirroring the port: floor((16*F + offset) / div16) and friends.
    def _slice_hz(self, offset: int, div16: int) -> int:
        return (16 * self.sys_hz + offset) // div16

    def _slice_hz_round(self, div16: int) -> int:
        return self._slice_hz(div16 // 2, div16)

    def attach(self, gpio: int, *, freq: int | None = None, duty_u16: int | None = None,
               duty_ns: int | None = None, invert: int | None = None) -> tuple[int, int]:
        """``PWM(pin, freq=, duty_u16=, duty_ns=, invert=)``; returns ``(slice, channel)``."""
        _, ch = self._sc(gpio)
        ch.invert, ch.duty_type = False, DUTY_NOT_SET
        self.init(gpio, freq=freq, duty_u16=duty_u16, duty_ns=duty_ns, invert=invert)
        self._pins.add(gpio)
        self._record(gpio)
        return self.slice_channel(gpio)

    def init(self, gpio: int, *, freq: int | None = None, duty_u16: int | None = None,
             duty_ns: int | None = None, invert: int | None = None) -> None:
        """``PWM.init(...)``: apply every given setting, then start if complete."""
        sl, ch = self._sc(gpio)
        if freq is not None:
            self.set_freq(gpio, freq, start=False)
        if duty_u16 is not None:
            self.set_duty_u16(gpio, duty_u16, start=False)
        if duty_ns is not None:
            self.set_duty_ns(gpio, duty_ns, start=False)
        if invert is not None:
            ch.invert = bool(invert)
        self._start(sl, ch)
        self._record(gpio)

    def _start(self, sl: PwmSlice, ch: PwmChannel) -> None:
        if sl.freq_set and ch.duty_type != DUTY_NOT_SET:
            sl.enabled = True

    def set_freq(self, gpio: int, freq: int, *, start: bool = True) -> None:
        """``PWM.freq(f)``: choose div and top like the port, re-apply both channels' duty.

        Raises:
            MicroPythonError: ``ValueError("freq too small")`` below about
                7.5 Hz at 125 MHz (and, a modelling choice, for ``freq <= 0``,
                where the port divides by zero).
        """
        if freq <= 0:
            raise MicroPythonError.value_error("freq too small")
        src = self.sys_hz
        if (src + freq // 2) // freq < TOP_MAX:
            div16 = 16
            top = (src + freq // 2) // freq - 1
        else:
            div16 = self._slice_hz(TOP_MAX * freq - 1, TOP_MAX * freq)
            top = self._slice_hz_round(div16 * freq) - 1
        if div16 < 16:
            raise MicroPythonError.value_error("freq too large")
        if div16 >= 256 * 16:
            raise MicroPythonError.value_error("freq too small")
        s, _ = self.slice_channel(gpio)
        sl = self.slices[s]
        sl.div16, sl.top, sl.freq_set = div16, top & 0xFFFF, True  # TOP is a 16-bit register
        for ch in self.channels[s]:
            if ch.duty_type == DUTY_U16:
                self._apply_u16(sl, ch, ch.duty)
            elif ch.duty_type == DUTY_NS:
                self._apply_ns(sl, ch, ch.duty)
            if start:
                self._start(sl, ch)
        for pin in self._pins:
            if self.slice_channel(pin)[0] == s:
                self._record(pin)

    def get_freq(self, gpio: int) -> int:
        """``PWM.freq()``: 0 until a frequency was set."""
        sl, _ = self._sc(gpio)
        if not sl.freq_set:
            return 0
        return self._slice_hz_round(sl.div16 * (sl.top + 1))

    def _apply_u16(self, sl: PwmSlice, ch: PwmChannel, duty_u16: int) -> None:
        # Port clamps >65535; negative values are clamped to 0 here (the port wraps them).
        duty_u16 = min(max(duty_u16, 0), 65535)
        ch.cc = ((duty_u16 * (sl.top + 1) + 65535 // 2) // 65535) & 0xFFFF
        ch.duty, ch.duty_type = duty_u16, DUTY_U16

    def _apply_ns(self, sl: PwmSlice, ch: PwmChannel, duty_ns: int) -> None:
        slice_hz = self._slice_hz_round(sl.div16)
        cc = (max(duty_ns, 0) * slice_hz + 500_000_000) // 1_000_000_000
        ch.cc = min(cc, sl.top + 1)
        ch.duty, ch.duty_type = duty_ns, DUTY_NS

    def set_duty_u16(self, gpio: int, duty_u16: int, *, start: bool = True) -> None:
        """``PWM.duty_u16(d)``."""
        sl, ch = self._sc(gpio)
        self._apply_u16(sl, ch, duty_u16)
        if start:
            self._start(sl, ch)
            self._record(gpio)

    def get_duty_u16(self, gpio: int) -> int:
        """``PWM.duty_u16()``: rounded back from the compare level, 0 if unset."""
        sl, ch = self._sc(gpio)
        if ch.duty_type == DUTY_NOT_SET or not sl.freq_set:
            return 0
        return (ch.cc * 65535 + (sl.top + 1) // 2) // (sl.top + 1)

    def set_duty_ns(self, gpio: int, duty_ns: int, *, start: bool = True) -> None:
        """``PWM.duty_ns(ns)``: pulse width, clamped to the period."""
        sl, ch = self._sc(gpio)
        self._apply_ns(sl, ch, duty_ns)
        if start:
            self._start(sl, ch)
            self._record(gpio)

    def get_duty_ns(self, gpio: int) -> int:
        """``PWM.duty_ns()``: 0 if unset."""
        sl, ch = self._sc(gpio)
        if ch.duty_type == DUTY_NOT_SET or not sl.freq_set:
            return 0
        slice_hz = self._slice_hz_round(sl.div16)
        return (ch.cc * 1_000_000_000 + slice_hz // 2) // slice_hz

    def deinit(self, gpio: int) -> None:
        """``PWM.deinit()``: stops the whole slice, as on the chip."""
        s, _ = self.slice_channel(gpio)
        self.slices[s].enabled = False
        for pin in self._pins:
            if self.slice_channel(pin)[0] == s:
                self._record(pin)

    def output(self, gpio: int) -> PwmOutput:
        """The waveform on ``gpio`` if its PWM channel drives it."""
        sl, ch = self._sc(gpio)
        period_ticks = sl.top + 1
        tick_s = sl.div16 / (16 * self.sys_hz)
        freq = 1.0 / (period_ticks * tick_s) if sl.freq_set else 0.0
        high = min(ch.cc, period_ticks)
        duty = high / period_ticks
        if ch.invert:
            duty = 1.0 - duty
        return PwmOutput(enabled=sl.enabled, freq_hz=freq, pulse_s=duty * period_ticks * tick_s,
                         duty=duty)

    def _record(self, gpio: int) -> None:
        if self._trace is not None:
            out = self.output(gpio)
            self._trace.record(f"pwm.GPIO{gpio}.duty", self._clock.now(),
                               out.duty if out.enabled else 0.0)


class ServoModel:
    """A position servo following the PWM pulse on one pin, with finite slew.

    Args:
        clock: lab clock.
        name: label used in trace signal names (``servo.<name>.target``).
        min_pulse_s: pulse for 0° (0.5 ms).
        max_pulse_s: pulse for ``range_deg`` (2.5 ms).
        range_deg: mechanical range (180°).
        seconds_per_60deg: slew time, SG90-like 0.1 s per 60°.
        initial_deg: angle at power-on.
        trace: where target changes go.
        history: how many motion segments to keep for :meth:`angle_at` lookbacks.
    """

    def __init__(self, clock: Clock, *, name: str = "servo", min_pulse_s: float = 0.5e-3,
                 max_pulse_s: float = 2.5e-3, range_deg: float = 180.0,
                 seconds_per_60deg: float = 0.1, initial_deg: float = 90.0,
                 trace: Trace | None = None, history: int = 1000) -> None:
        if seconds_per_60deg <= 0:
            raise ValueError("seconds_per_60deg must be > 0")
        self._clock = clock
        self.name = name
        self.min_pulse_s, self.max_pulse_s, self.range_deg = min_pulse_s, max_pulse_s, range_deg
        self.rate_deg_s = 60.0 / seconds_per_60deg
        self._trace = trace
        # Each segment: (start time, start angle, target angle); motion is linear at rate_deg_s.
        self._segments: deque[tuple[float, float, float]] = deque(maxlen=history)
        self._segments.append((clock.now(), initial_deg, initial_deg))

    def pulse_to_angle(self, pulse_s: float) -> float:
        """Target angle for a pulse width, clamped to the servo's range."""
        span = self.max_pulse_s - self.min_pulse_s
        angle = (pulse_s - self.min_pulse_s) / span * self.range_deg
        return min(max(angle, 0.0), self.range_deg)

    @property
    def target(self) -> float:
        """The angle the servo is moving to (or holding)."""
        return self._segments[-1][2]

    def command_pulse(self, pulse_s: float, t: float | None = None) -> None:
        """A new pulse width arrived at lab time ``t`` (default now)."""
        self.command_angle(self.pulse_to_angle(pulse_s), t)

    def command_angle(self, target_deg: float, t: float | None = None) -> None:
        """Start moving to ``target_deg`` from wherever the servo is at ``t``."""
        t = self._clock.now() if t is None else t
        if target_deg == self.target:
            return
        self._segments.append((t, self.angle_at(t), target_deg))
        if self._trace is not None:
            self._trace.record(f"servo.{self.name}.target", t, target_deg)

    def angle_at(self, t: float | None = None) -> float:
        """Shaft angle at lab time ``t`` (default now); past times use the kept history."""
        t = self._clock.now() if t is None else t
        seg = self._segments[0]
        for candidate in self._segments:
            if candidate[0] > t:
                break
            seg = candidate
        t0, a0, target = seg
        step = self.rate_deg_s * max(0.0, t - t0)
        if abs(target - a0) <= step:
            return target
        return a0 + step if target > a0 else a0 - step

    def settle_time(self) -> float:
        """Lab time at which the current move ends (its start if already there)."""
        t0, a0, target = self._segments[-1]
        return t0 + abs(target - a0) / self.rate_deg_s

    def is_settled(self, t: float | None = None) -> bool:
        """Whether the shaft has reached its target at ``t`` (default now)."""
        t = self._clock.now() if t is None else t
        return t >= self.settle_time()
