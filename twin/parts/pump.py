"""A pump switched by a relay or a MOSFET on a board pin, dispensing into a vessel.

The pump runs while its control pin is at the active level (a MOSFET gate: high; many relay modules:
low) and pumps ``flow_ml_s`` millilitres per second, scaled by the PWM duty when a board model reports
one (:meth:`Pump.on_duty`; below ``min_duty`` the motor does not turn). The liquid's mass
(``density_g_ml``) goes into a :class:`Vessel`, the shared quantity a balance or a load cell reads, so
parts are coupled explicitly: ``Hx711(..., weight=vessel)``, ``Balance(weight=vessel)``.

A :class:`Vessel` counts its inflows exactly at any lab time (a reading half-way through a run sees
half the dose). A plain :class:`~labtwin.twin.parts.quantity.SharedQuantity` also works: it receives
each dose with :meth:`~labtwin.twin.parts.quantity.SharedQuantity.add` when the flow changes.

Fault: :meth:`Pump.stall` (a blocked or dry-running pump moves nothing while switched on).
"""

from __future__ import annotations

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.gpio_part import GpioPart
from labtwin.twin.parts.quantity import Quantity, SharedQuantity

__all__ = ["Pump", "Vessel"]


class Vessel(SharedQuantity):
    """A container whose mass (grams) is its own plus what connected inflows have delivered by ``t``."""

    def __init__(self, name: str, initial_g: float = 0.0, *, baseline: Quantity | None = None) -> None:
        super().__init__(name, initial_g, baseline=baseline)
        self._inflows: list[Quantity] = []

    def connect(self, inflow: Quantity) -> None:
        """Add ``inflow`` (grams delivered by lab time ``t``) to the vessel's mass."""
        self._inflows.append(inflow)

    def value(self, t: float) -> float:
        """Mass at ``t``: the shared value plus every inflow's delivery so far."""
        return super().value(t) + sum(inflow.value(t) for inflow in self._inflows)


class Pump(GpioPart):
    """A pump on control ``pin`` filling ``vessel``.

    Args:
        pin: the board output driving the relay or MOSFET.
        vessel: where the liquid goes (grams).
        flow_ml_s: flow at full drive.
        density_g_ml: the liquid's density.
        active_level: the pin level that runs the pump.
        min_duty: PWM duty below which the motor stalls.
        name: label in trace signals (``pump.<name>.flow_ml_s``).
        trace: where flow changes go.
    """

    def __init__(self, pin: int, vessel: SharedQuantity, *, flow_ml_s: float, density_g_ml: float = 1.0,
                 active_level: int = 1, min_duty: float = 0.0, name: str = "pump",
                 trace: Trace | None = None) -> None:
        super().__init__(watches=[pin])
        if flow_ml_s < 0 or density_g_ml <= 0 or active_level not in (0, 1) or not 0 <= min_duty < 1:
            raise ConfigError("pump: need flow_ml_s >= 0, density_g_ml > 0, active_level 0 or 1, 0 <= min_duty < 1")
        self.pin, self.vessel = pin, vessel
        self.flow_ml_s, self.density_g_ml = flow_ml_s, density_g_ml
        self.active_level, self.min_duty = active_level, min_duty
        self.name, self._trace = name, trace
        self._on, self._duty, self._stalled = False, 1.0, False
        self._changes: list[tuple[float, float]] = [(0.0, 0.0)]  # (from t, flow mL/s), in time order
        self._committed_until = 0  # plain SharedQuantity: changes already added
        if isinstance(vessel, Vessel):
            vessel.connect(_Delivered(self))

    def on_level(self, pin: int, level: int, t: float) -> None:
        """The control pin changed: the pump starts or stops."""
        self._check_pin(pin, self.watched_pins, "watch")
        self._on = (1 if level else 0) == self.active_level
        self._update(t)

    def on_duty(self, pin: int, duty: float, t: float) -> None:
        """The control pin carries PWM at ``duty`` (fraction of the period at the active level)."""
        self._check_pin(pin, self.watched_pins, "watch")
        self._on, self._duty = duty > 0, min(max(duty, 0.0), 1.0)
        self._update(t)

    def stall(self, t: float) -> None:
        """Fault: from ``t`` the pump moves nothing, switched on or not."""
        self._stalled = True
        self._update(t)

    def clear_stall(self, t: float) -> None:
        """End the stall fault at ``t``."""
        self._stalled = False
        self._update(t)

    @property
    def stalled(self) -> bool:
        """Whether the stall fault is active."""
        return self._stalled

    def _flow_now(self) -> float:
        if not self._on or self._stalled or self._duty < self.min_duty or self._duty == 0:
            return 0.0
        return self.flow_ml_s * self._duty

    def _update(self, t: float) -> None:
        if t < self._changes[-1][0]:
            raise ConfigError(f"pump {self.name}: time went back ({t} < {self._changes[-1][0]})")
        flow = self._flow_now()
        if flow == self._changes[-1][1]:
            return
        self._changes.append((t, flow))
        if self._trace is not None:
            self._trace.record(f"pump.{self.name}.flow_ml_s", t, flow)
        if not isinstance(self.vessel, Vessel):
            self.vessel.add(self.dispensed_ml(t, since=self._committed_until) * self.density_g_ml)
            self._committed_until = len(self._changes) - 1

    def flow(self, t: float) -> float:
        """The flow in mL/s at ``t``."""
        flow = 0.0
        for start, value in self._changes:
            if start > t:
                break
            flow = value
        return flow

    def dispensed_ml(self, t: float, *, since: int = 0) -> float:
        """Millilitres pumped by lab time ``t`` (from the ``since``-th flow change on)."""
        total = 0.0
        changes = self._changes[since:]
        for (start, flow), (end, _) in zip(changes, [*changes[1:], (float("inf"), 0.0)], strict=True):
            if start >= t:
                break
            total += flow * (min(end, t) - start)
        return total

    def dispensed_g(self, t: float) -> float:
        """Grams pumped by lab time ``t``."""
        return self.dispensed_ml(t) * self.density_g_ml


class _Delivered:
    """A pump's delivery in grams as a :class:`Quantity`, for a :class:`Vessel`."""

    def __init__(self, pump: Pump) -> None:
        self._pump = pump

    def value(self, t: float) -> float:
        """Grams the pump delivered by ``t``."""
        return self._pump.dispensed_g(t)
