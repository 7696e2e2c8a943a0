"""Faults of the sensors wired to a board's ADC inputs: stuck, disconnected, drifting, out of range.

Each fault rewires one ADC channel through :class:`~labtwin.twin.models.adc.AdcModel`'s
public setters (``set_signal``/``set_noise``) and puts the channel's previous
wiring back on clear. Several faults may be active on one channel at once (a
drifting sensor that then comes loose): the wiring the first one found is kept,
and the channel is recomputed from it with the still-active faults applied in
the order they started, so faults can be cleared in any order.

The temperature channel is refused: it is the RP2040's own die sensor, with no
wire to come loose.
"""

from __future__ import annotations

import weakref
from abc import abstractmethod
from dataclasses import dataclass, field

from labtwin.twin.board.model import BoardModel
from labtwin.twin.clock import Clock
from labtwin.twin.faults.fault import Fault
from labtwin.twin.models.adc import AdcModel, Signal

__all__ = ["SensorDisconnected", "SensorDrift", "SensorFault", "SensorOutOfRange", "SensorStuck"]

FLOATING_NOISE_VOLTS = 0.3
"""Noise sigma of a floating ADC input: it picks up whatever couples into the open wire."""


def _value_at(signal: Signal, t: float) -> float:
    return float(signal(t) if callable(signal) else signal)


@dataclass
class _ChannelRewiring:
    """The wiring one channel had before its first active fault, and the faults active on it."""

    signal: Signal
    sigma: float
    faults: list[SensorFault] = field(default_factory=list)

    def apply(self, adc: AdcModel, channel: int) -> None:
        signal, sigma = self.signal, self.sigma
        for fault in self.faults:
            signal, sigma = fault._rewire(signal, sigma)
        adc.set_signal(channel, signal)
        adc.set_noise(channel, sigma)


# Keyed weakly by model: the state belongs to a board and goes away with it. Module-level
# because independent fault objects on one channel must find the same record.
_rewired: weakref.WeakKeyDictionary[AdcModel, dict[int, _ChannelRewiring]] = weakref.WeakKeyDictionary()


class SensorFault(Fault):
    """A fault of the sensor on one ADC channel of a board model.

    Args:
        board_model: the board whose ADC input is affected.
        channel: ADC channel (0-2 are GP26-GP28 on a Pico W).
        clock: the lab clock (the board model's by default).
    """

    def __init__(self, board_model: BoardModel, channel: int, *, clock: Clock | None = None) -> None:
        adc = board_model.adc
        if not 0 <= channel < adc.channels:
            raise ValueError(f"no ADC channel {channel} on a {board_model.profile.name} (0..{adc.channels - 1})")
        if channel == adc.temp_channel:
            raise ValueError(f"ADC channel {channel} is the on-die temperature sensor: it has no wire to fault")
        super().__init__(board_model.board_id or board_model.profile.name, clock or board_model.clock)
        self.board_model = board_model
        self.adc = adc
        self.channel = channel
        self.started_at = 0.0  # lab time of the latest start (a drift counts from it)

    @property
    def input_name(self) -> str:
        """``"ADC channel 0 (GP26)"``: the channel, and its header pin when it has one."""
        pins = [gpio for gpio, ch in self.board_model.profile.adc_gpio_channels.items() if ch == self.channel]
        return f"ADC channel {self.channel}" + (f" (GP{pins[0]})" if pins else "")

    async def _apply(self) -> None:
        self.started_at = self.clock.now()
        channels = _rewired.setdefault(self.adc, {})
        rewiring = channels.get(self.channel)
        if rewiring is None:
            rewiring = channels[self.channel] = _ChannelRewiring(
                self.adc.signal_setting(self.channel), self.adc.noise_sigma(self.channel))
        rewiring.faults.append(self)
        rewiring.apply(self.adc, self.channel)

    async def _revert(self) -> None:
        channels = _rewired[self.adc]
        rewiring = channels[self.channel]
        rewiring.faults.remove(self)
        rewiring.apply(self.adc, self.channel)
        if not rewiring.faults:
            del channels[self.channel]

    @abstractmethod
    def _rewire(self, signal: Signal, sigma: float) -> tuple[Signal, float]:
        """The channel's ``(signal, noise sigma)`` with this fault applied on top of the given ones."""


class SensorStuck(SensorFault):
    """The sensor's output freezes at ``volts`` whatever it measures (the ADC's own noise remains)."""

    def __init__(self, board_model: BoardModel, channel: int, volts: float, *, clock: Clock | None = None) -> None:
        super().__init__(board_model, channel, clock=clock)
        self.volts = volts

    def _rewire(self, signal: Signal, sigma: float) -> tuple[Signal, float]:
        return self.volts, sigma

    def _effect(self) -> str:
        return f"{self.input_name} stuck at {self.volts:.3f} V"


class SensorDisconnected(SensorFault):
    """The sensor's wire comes off: the input floats near mid-rail with large noise.

    Args:
        level_volts: where the floating input settles (half the ADC reference by default).
        noise_volts: noise sigma while floating.
    """

    def __init__(self, board_model: BoardModel, channel: int, *, level_volts: float | None = None,
                 noise_volts: float = FLOATING_NOISE_VOLTS, clock: Clock | None = None) -> None:
        if noise_volts < 0:
            raise ValueError(f"noise_volts must be >= 0, got {noise_volts}")
        super().__init__(board_model, channel, clock=clock)
        self.level_volts = self.adc.vref / 2 if level_volts is None else level_volts
        self.noise_volts = noise_volts

    def _rewire(self, signal: Signal, sigma: float) -> tuple[Signal, float]:
        return self.level_volts, self.noise_volts

    def _effect(self) -> str:
        return f"{self.input_name} disconnected: floating at ~{self.level_volts:.2f} V, noise {self.noise_volts:g} V"


class SensorDrift(SensorFault):
    """The sensor's output drifts by ``volts_per_s`` from the moment the fault starts."""

    def __init__(self, board_model: BoardModel, channel: int, volts_per_s: float, *,
                 clock: Clock | None = None) -> None:
        super().__init__(board_model, channel, clock=clock)
        self.volts_per_s = volts_per_s

    def _rewire(self, signal: Signal, sigma: float) -> tuple[Signal, float]:
        origin, rate = self.started_at, self.volts_per_s
        return (lambda t: _value_at(signal, t) + rate * (t - origin)), sigma

    def _effect(self) -> str:
        return f"{self.input_name} drifting {self.volts_per_s * 1000:+g} mV/s"


class SensorOutOfRange(SensorFault):
    """The sensor drives the input beyond the ADC's range (e.g. 3.6 V): readings saturate at the rail."""

    def __init__(self, board_model: BoardModel, channel: int, volts: float, *, clock: Clock | None = None) -> None:
        super().__init__(board_model, channel, clock=clock)
        if 0.0 <= volts <= self.adc.vref:
            raise ValueError(f"{volts} V is inside the ADC's 0..{self.adc.vref} V range: use SensorStuck")
        self.volts = volts

    def _rewire(self, signal: Signal, sigma: float) -> tuple[Signal, float]:
        return self.volts, sigma

    def _effect(self) -> str:
        return f"{self.input_name} driven out of range to {self.volts:.2f} V"
