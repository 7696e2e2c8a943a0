"""Heat: a temperature that parts move and sensors read, and a cooler or heater switched by a board pin.

:class:`ThermalMass` is a lumped temperature relaxing towards its ambient with a time constant
(Newton's law of cooling); heaters and coolers add a drive in °C per second while they run. Between
two switchings the temperature follows the closed form ``A + (T0 - A) * exp(-(t - t0) / tau)`` with
``A = ambient + drive * tau``, so a reading at any lab time is exact and costs the same however far
apart the readings are. Every sensor given the same :class:`ThermalMass` (a BME280 and a DS18B20 in
one enclosure) reads the same temperature.
"""

from __future__ import annotations

import bisect
import math

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.gpio_part import GpioPart

__all__ = ["Cooler", "Heater", "ThermalMass"]


class ThermalMass:
    """A temperature (°C) relaxing towards ``ambient`` with ``time_constant_s``, moved by drives.

    Args:
        ambient: the surroundings' temperature, °C.
        initial: the temperature at lab time 0 (default: ambient).
        time_constant_s: how fast it follows its surroundings (63 % of the way in this time).
    """

    def __init__(self, ambient: float = 25.0, *, initial: float | None = None, time_constant_s: float = 600.0,
                 name: str = "enclosure", trace: Trace | None = None) -> None:
        if time_constant_s <= 0:
            raise ConfigError(f"thermal mass {name}: time_constant_s must be > 0, got {time_constant_s}")
        self.ambient, self.tau, self.name, self._trace = float(ambient), float(time_constant_s), name, trace
        # Segments in time order: (from t, temperature then, asymptote while it lasts).
        self._segments: list[tuple[float, float, float]] = [
            (0.0, self.ambient if initial is None else float(initial), self.ambient)]
        self._drives: dict[str, float] = {}

    def value(self, t: float) -> float:
        """The temperature at lab time ``t``."""
        index = max(0, bisect.bisect_right(self._segments, t, key=lambda segment: segment[0]) - 1)
        start, temperature, asymptote = self._segments[index]
        return asymptote + (temperature - asymptote) * math.exp(-max(0.0, t - start) / self.tau)

    def set_drive(self, source: str, celsius_per_s: float, t: float) -> None:
        """From ``t`` on, ``source`` pushes the temperature by ``celsius_per_s`` (negative cools)."""
        if t < self._segments[-1][0]:
            raise ConfigError(f"thermal mass {self.name}: time went back ({t} < {self._segments[-1][0]})")
        self._drives[source] = float(celsius_per_s)
        now = self.value(t)
        self._segments.append((t, now, self.ambient + sum(self._drives.values()) * self.tau))
        if self._trace is not None:
            self._trace.record(f"thermal.{self.name}.temperature", t, now)


class _SwitchedDrive(GpioPart):
    """A relay-switched element that, while on, pushes ``mass`` by ``drive_c_per_s`` (°C/s, signed)."""

    def __init__(self, pin: int, mass: ThermalMass, drive_c_per_s: float, active_level: int, name: str) -> None:
        super().__init__(watches=[pin])
        if active_level not in (0, 1):
            raise ConfigError(f"{name}: active_level must be 0 or 1, got {active_level}")
        self.pin, self.mass, self.drive_c_per_s, self.active_level, self.name = (
            pin, mass, drive_c_per_s, active_level, name)
        self.running = False

    def on_level(self, pin: int, level: int, t: float) -> None:
        """The control pin changed: the element starts or stops."""
        self._check_pin(pin, self.watched_pins, "watch")
        running = (1 if level else 0) == self.active_level
        if running != self.running:
            self.running = running
            self.mass.set_drive(self.name, self.drive_c_per_s if running else 0.0, t)


class Cooler(_SwitchedDrive):
    """A Peltier element or fan on a relay: while its control ``pin`` is at ``active_level`` it takes
    ``cooling_c_per_s`` away from ``mass``."""

    def __init__(self, pin: int, mass: ThermalMass, *, cooling_c_per_s: float, active_level: int = 1,
                 name: str = "cooler") -> None:
        if cooling_c_per_s < 0:
            raise ConfigError(f"{name}: cooling_c_per_s must be >= 0, got {cooling_c_per_s}")
        super().__init__(pin, mass, -cooling_c_per_s, active_level, name)


class Heater(_SwitchedDrive):
    """A heating element on a relay or MOSFET: while its control ``pin`` is at ``active_level`` it adds
    ``heating_c_per_s`` to ``mass``."""

    def __init__(self, pin: int, mass: ThermalMass, *, heating_c_per_s: float, active_level: int = 1,
                 name: str = "heater") -> None:
        if heating_c_per_s < 0:
            raise ConfigError(f"{name}: heating_c_per_s must be >= 0, got {heating_c_per_s}")
        super().__init__(pin, mass, heating_c_per_s, active_level, name)
