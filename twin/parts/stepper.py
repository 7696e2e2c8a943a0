"""A STEP/DIR stepper driver (A4988, DRV8825, TMC2208 in legacy mode) and its motor.

Each rising edge on STEP moves the motor one microstep in the direction DIR selects, while the
driver is enabled (EN is active-low; an unwired EN means always enabled). ``microsteps`` is what the
MS pins select (1, 2, 4, ... 256); the position is counted in microsteps and reported in full steps
and degrees.

Physics: a motor cannot follow steps faster than its pull-out rate ``max_steps_s`` (full steps per
second, for its load and current). A step that comes sooner than ``1 / (max_steps_s * microsteps)``
after the previous step pulse is missed: the rotor has lost synchronism, the shaft does not move and
:attr:`StepperDriver.missed_steps` counts it. A pulse train that is too fast therefore stalls the
motor outright (it hums in place), and it follows again once the pulses slow down.
Fault: :attr:`StepperDriver.blocked` (a jammed axis) misses every step.
"""

from __future__ import annotations

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.gpio_part import GpioPart

__all__ = ["StepperDriver"]


class StepperDriver(GpioPart):
    """A driver on ``step_pin``/``dir_pin`` (and ``enable_pin``) with its motor.

    Args:
        step_pin, dir_pin: board outputs.
        enable_pin: the driver's EN (active low), or None when tied low.
        microsteps: microsteps per full step.
        steps_per_rev: full steps per revolution (200 for a 1.8 degree motor).
        max_steps_s: pull-out rate in full steps per second (None: never misses).
        forward_level: the DIR level that counts up.
        name: label in trace signals (``stepper.<name>.position``).
        trace: where the position goes, once per step.
    """

    def __init__(self, step_pin: int, dir_pin: int, *, enable_pin: int | None = None, microsteps: int = 16,
                 steps_per_rev: int = 200, max_steps_s: float | None = 1000.0, forward_level: int = 1,
                 name: str = "stepper", trace: Trace | None = None) -> None:
        pins = [step_pin, dir_pin] + ([enable_pin] if enable_pin is not None else [])
        super().__init__(watches=pins)
        if microsteps < 1 or microsteps & (microsteps - 1) or steps_per_rev < 1:
            raise ConfigError(f"stepper: microsteps must be a power of two and steps_per_rev >= 1 "
                              f"(got {microsteps}, {steps_per_rev})")
        if max_steps_s is not None and max_steps_s <= 0:
            raise ConfigError(f"stepper: max_steps_s must be > 0, not {max_steps_s}")
        self.step_pin, self.dir_pin, self.enable_pin = step_pin, dir_pin, enable_pin
        self.microsteps, self.steps_per_rev = microsteps, steps_per_rev
        self.max_steps_s, self.forward_level = max_steps_s, forward_level
        self.name, self._trace = name, trace
        self.position_microsteps = 0
        self.missed_steps = 0
        self.blocked = False
        """Fault switch: the axis is jammed, every step is missed."""
        self._levels = {pin: 0 for pin in pins}
        self._last_step: float | None = None

    @property
    def enabled(self) -> bool:
        """Whether the driver energises the motor (EN low, or no EN wired)."""
        return self.enable_pin is None or self._levels[self.enable_pin] == 0

    @property
    def position_steps(self) -> float:
        """Position in full steps."""
        return self.position_microsteps / self.microsteps

    @property
    def angle_deg(self) -> float:
        """Shaft angle in degrees from where it started (not wrapped)."""
        return self.position_steps * 360.0 / self.steps_per_rev

    def on_level(self, pin: int, level: int, t: float) -> None:
        """An edge on STEP, DIR or EN."""
        self._check_pin(pin, self.watched_pins, "watch")
        level = 1 if level else 0
        rising = pin == self.step_pin and level == 1 and self._levels[pin] == 0
        self._levels[pin] = level
        if pin == self.enable_pin and level == 1:
            self._last_step = None  # de-energised: the next step starts from rest
        if rising and self.enabled:
            self._step(t)

    def pulses(self, freq_hz: float, start: float, end: float) -> None:
        """A PWM pulse train on STEP from ``start`` to ``end`` (for firmware that steps with ``PWM``)."""
        if freq_hz <= 0 or end < start:
            raise ConfigError(f"stepper pulse train: need freq_hz > 0 and end >= start (got {freq_hz}, {start}, {end})")
        n = int((end - start) * freq_hz)
        for i in range(n):
            if self.enabled:
                self._step(start + i / freq_hz)

    def _step(self, t: float) -> None:
        too_fast = (self.max_steps_s is not None and self._last_step is not None
                    and t - self._last_step < 1.0 / (self.max_steps_s * self.microsteps))
        self._last_step = t
        if self.blocked or too_fast:
            self.missed_steps += 1
            return
        self.position_microsteps += 1 if self._levels[self.dir_pin] == self.forward_level else -1
        if self._trace is not None:
            self._trace.record(f"stepper.{self.name}.position", t, self.position_steps)
