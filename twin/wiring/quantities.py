"""How a lab file writes a sensed quantity, and the shared quantities parts are coupled through.

A quantity in a lab file is one of::

    temperature_c = 23.5                                   # a constant
    temperature_c = "22 + 0.5 * sin(2 * pi * t / 3600)"   # a formula of lab time t (s): expression.py
    temperature_c = { csv = "traces/room.csv", column = "temp_c" }   # a recorded trace (time column "t")
    temperature_c = { random_walk = 22.0, sigma = 0.02, dt = 1.0, low = 15, high = 30 }
    temperature_c = { shared = "enclosure" }               # a [[quantities]] entry other parts move

Shared quantities (``[[quantities]]``) are what couples parts: a ``thermal`` mass that a cooler or
heater moves and thermometers read, a ``vessel`` a pump fills and a load cell or balance weighs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from labtwin.errors import ConfigError
from labtwin.twin.parts.pump import Vessel
from labtwin.twin.parts.quantity import Constant, CsvTrace, Quantity, RandomWalk, TimeFunction
from labtwin.twin.parts.thermal import ThermalMass
from labtwin.twin.wiring.expression import compile_expression

__all__ = ["QuantityContext", "QuantitySpec", "SharedQuantitySpec", "build_quantity", "build_shared_quantities"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class CsvSource(_Strict):
    """A recorded trace: linearly interpolated, held at its ends."""

    csv: str = Field(description="CSV file with a header row, relative to the lab file")
    column: str = Field(description="the column holding the quantity")
    time_column: str = Field("t", description="the column holding lab time in seconds")


class RandomWalkSource(_Strict):
    """A seeded Gaussian random walk: every ``dt`` seconds the value moves by N(0, sigma)."""

    random_walk: float = Field(description="the value at lab time 0")
    sigma: float = Field(ge=0, description="standard deviation of one step")
    dt: float = Field(1.0, gt=0, description="seconds between steps")
    low: float | None = Field(None, description="reflecting lower bound")
    high: float | None = Field(None, description="reflecting upper bound")


class SharedSource(_Strict):
    """The value of a ``[[quantities]]`` entry (what couples parts)."""

    shared: str = Field(description="the name of a [[quantities]] entry")


_SOURCES: dict[str, type[_Strict]] = {"csv": CsvSource, "random_walk": RandomWalkSource, "shared": SharedSource}


def _source(value: Any) -> Any:
    """Pick the form from the value's shape, so a mistake is reported against that form only."""
    if isinstance(value, bool):
        raise ValueError("a quantity is a number, a formula string or a table, not true/false")
    if isinstance(value, dict):
        kinds = [key for key in _SOURCES if key in value]
        if len(kinds) != 1:
            raise ValueError(f"a quantity table has exactly one of {', '.join(_SOURCES)}; got keys "
                             f"{', '.join(sorted(value)) or 'none'}")
        try:
            return _SOURCES[kinds[0]].model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"{kinds[0]} quantity: {where + ': ' if where else ''}{first['msg']}") from None
    if isinstance(value, str):
        try:
            compile_expression(value)  # a formula that cannot run is refused with the file, not mid-run
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    return value


QuantitySpec = Annotated[float | str | CsvSource | RandomWalkSource | SharedSource, BeforeValidator(_source)]
"""A quantity as a lab file writes it (see the module docstring)."""


class SharedQuantitySpec(_Strict):
    """A ``[[quantities]]`` entry: a physical quantity several parts share."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$", description="what parts call it")
    type: Literal["thermal", "vessel"] = Field(
        description="thermal: a temperature (°C) relaxing to its ambient, moved by coolers and heaters; "
                    "vessel: a mass (g) pumps fill")
    ambient_c: float = Field(25.0, description="thermal: the surroundings' temperature")
    initial_c: float | None = Field(None, description="thermal: the temperature at lab time 0 (default: ambient)")
    time_constant_s: float = Field(600.0, gt=0, description="thermal: how fast it follows its surroundings")
    initial_g: float = Field(0.0, description="vessel: its mass at lab time 0 (tare plus contents)")


@dataclass
class QuantityContext:
    """What building a quantity needs: where relative paths start, the shared quantities, a seed."""

    base_dir: Path
    shared: Mapping[str, Quantity] = field(default_factory=dict)
    seed: int = 0


def build_quantity(spec: float | str | CsvSource | RandomWalkSource | SharedSource, context: QuantityContext,
                   what: str) -> Quantity:
    """The :class:`Quantity` a spec describes; ``what`` (a key path) names it in errors.

    Raises:
        ConfigError: an unknown shared quantity, an unreadable trace.
    """
    if isinstance(spec, int | float):
        return Constant(float(spec))
    if isinstance(spec, str):
        return TimeFunction(compile_expression(spec))
    if isinstance(spec, CsvSource):
        return CsvTrace.from_file(context.base_dir / spec.csv, spec.column, time_column=spec.time_column)
    if isinstance(spec, RandomWalkSource):
        return RandomWalk(spec.random_walk, sigma=spec.sigma, dt=spec.dt, seed=context.seed,
                          low=-float("inf") if spec.low is None else spec.low,
                          high=float("inf") if spec.high is None else spec.high)
    try:
        return context.shared[spec.shared]
    except KeyError:
        known = ", ".join(sorted(context.shared)) or "none defined"
        raise ConfigError(f"{what}: no [[quantities]] entry named {spec.shared!r} ({known})") from None


def build_shared_quantities(specs: list[SharedQuantitySpec]) -> dict[str, ThermalMass | Vessel]:
    """The lab's shared quantities by name (one object each, however many parts use it)."""
    built: dict[str, ThermalMass | Vessel] = {}
    for spec in specs:
        if spec.type == "thermal":
            built[spec.name] = ThermalMass(spec.ambient_c, initial=spec.initial_c,
                                           time_constant_s=spec.time_constant_s, name=spec.name)
        else:
            built[spec.name] = Vessel(spec.name, spec.initial_g)
    return built
