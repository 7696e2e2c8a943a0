"""GPIO parts wired to a board's pins, and the watch over pin levels that serves them and the pin IRQs.

A :class:`~labtwin.twin.parts.gpio_part.GpioPart` drives some board pins (a button's contact, an
HX711's DOUT) and watches others (a stepper driver's STEP and DIR, an HX711's PD_SCK).
:class:`GpioWiring` keeps both sides in step with the board's :class:`GpioModel` at each
:meth:`GpioWiring.sync`, which the board model calls around every hardware-bus operation, after
:meth:`~labtwin.twin.board.model.BoardModel.set_input`, and whenever the pin-IRQ watcher wakes for a
part's scripted edge:

- a driven pin reads what its part drives at that lab time (``None``: the board's pull decides);
- every level change on a watched pin reaches the watching parts' ``on_level`` with its lab time;
- every level change on a *tracked* pin (the pins with an IRQ, or one ``time_pulse_us`` is timing)
  reaches the edge listeners, at the exact times a part's script gives (its ``edges``) or, for a
  change made by the firmware or by ``set_input``, at the time of the sync that saw it.
"""

from __future__ import annotations

from collections.abc import Callable

from labtwin.errors import ConfigError
from labtwin.twin.board.profiles import PinId
from labtwin.twin.clock import Clock
from labtwin.twin.models.gpio import PULL_UP, GpioModel
from labtwin.twin.parts.gpio_part import GpioPart

__all__ = ["EdgeListener", "GpioWiring"]

EdgeListener = Callable[[PinId, int, float], None]
"""Called with ``(pin, new level, lab time)`` for each level change on a tracked pin."""


class GpioWiring:
    """The GPIO parts of one board and the levels last seen on the pins that matter.

    Args:
        gpio: the board's pins.
        clock: lab clock.
        resolve: turns a pin given by number or name into the board's pin id (raises for an invalid one).
    """

    def __init__(self, gpio: GpioModel, clock: Clock, resolve: Callable[[object], PinId]) -> None:
        self._gpio = gpio
        self._clock = clock
        self._resolve = resolve
        self.parts: list[GpioPart] = []
        self._drivers: dict[PinId, GpioPart] = {}
        self._watchers: dict[PinId, list[GpioPart]] = {}
        self._tracked: dict[PinId, int] = {}  # pin -> how many users track it
        self._levels: dict[PinId, int] = {}  # last level seen on every pin that matters
        self._listeners: list[EdgeListener] = []
        self._since = clock.now()

    # ----------------------------------------------------------------- wiring
    def attach(self, part: GpioPart) -> GpioPart:
        """Wire ``part`` to the pins it names; wiring survives reboots.

        Raises:
            ConfigError: a pin the board does not have, or one another part already drives.
        """
        pins: dict[int, PinId] = {}
        for pin in part.pins:
            try:
                pins[pin] = self._resolve(pin)
            except Exception as exc:
                raise ConfigError(f"{type(part).__name__}: the board has no pin {pin!r} ({exc})") from None
        for pin in part.driven_pins:
            if pins[pin] in self._drivers:
                raise ConfigError(f"{type(part).__name__}: pin {pin} is already driven by "
                                  f"{type(self._drivers[pins[pin]]).__name__}")
        self.sync()
        self.parts.append(part)
        for pin in part.driven_pins:
            self._drivers[pins[pin]] = part
        for pin in part.watched_pins:
            self._watchers.setdefault(pins[pin], []).append(part)
        now = self._clock.now()
        for pin in part.pins:
            self._refresh(pins[pin], now)
            self._levels[pins[pin]] = self._gpio.level(pins[pin])
        return part

    def driver(self, pin: PinId) -> GpioPart | None:
        """The part driving ``pin``, if any."""
        return self._drivers.get(pin)

    def track(self, pin: PinId) -> None:
        """Report level changes on ``pin`` to the edge listeners (until as many :meth:`untrack`)."""
        self.sync()
        self._tracked[pin] = self._tracked.get(pin, 0) + 1
        self._levels.setdefault(pin, self._gpio.level(pin))

    def untrack(self, pin: PinId) -> None:
        """Undo one :meth:`track`."""
        left = self._tracked.get(pin, 0) - 1
        if left > 0:
            self._tracked[pin] = left
        else:
            self._tracked.pop(pin, None)

    def add_listener(self, listener: EdgeListener) -> None:
        """Call ``listener`` for each level change on a tracked pin."""
        self._listeners.append(listener)

    def remove_listener(self, listener: EdgeListener) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    # ----------------------------------------------------------------- levels
    def level_at(self, pin: PinId, t: float) -> int:
        """The level on ``pin`` at lab time ``t`` (now or later), given what drives it now."""
        part = self._drivers.get(pin)
        if part is None or not isinstance(pin, int):
            return self._gpio.level(pin)
        level = part.level(pin, t)
        if level is None:  # the part lets go: the board's pull decides
            return 1 if self._gpio.state(pin).pull & PULL_UP else 0
        return level

    def next_edge(self, horizon: float) -> float | None:
        """The lab time of the next scripted edge on a tracked part-driven pin within ``horizon`` seconds."""
        now = self._clock.now()
        first: float | None = None
        for pin, part in self._drivers.items():
            if pin in self._tracked and isinstance(pin, int):
                edges = part.edges(pin, now, now + horizon)
                if edges and (first is None or edges[0][0] < first):
                    first = edges[0][0]
        return first

    @property
    def tracks_part_pins(self) -> bool:
        """Whether a tracked pin is driven by a part (its edges come on the part's schedule)."""
        return any(pin in self._drivers for pin in self._tracked)

    def _refresh(self, pin: PinId, t: float) -> None:
        part = self._drivers.get(pin)
        if part is not None and isinstance(pin, int):
            self._gpio.set_external(pin, part.level(pin, t))

    def sync(self) -> None:
        """Bring the parts and the board's pins to now; report the changes since the last sync."""
        if not self._levels:
            self._since = self._clock.now()
            return
        now = self._clock.now()
        since, self._since = self._since, now
        for pin, part in self._drivers.items():
            if pin in self._tracked and isinstance(pin, int):
                for t, level in part.edges(pin, since, now):
                    if level != self._levels.get(pin):
                        self._changed(pin, level, t)
            self._refresh(pin, now)
        for pin in list(self._levels):
            level = self._gpio.level(pin)
            if level != self._levels[pin]:
                self._changed(pin, level, now)

    def _changed(self, pin: PinId, level: int, t: float) -> None:
        self._levels[pin] = level
        for part in self._watchers.get(pin, ()):
            if isinstance(pin, int):
                part.on_level(pin, level, t)
        if pin in self._tracked:
            for listener in list(self._listeners):
                listener(pin, level, t)
