"""ADC model: a voltage per channel, seeded noise, 12-bit conversion, rp2 scaling.

Each channel has a *signal* (a voltage, constant or a function of lab time)
and a noise sigma. A reading adds Gaussian noise truncated at
``TRUNCATE_SIGMAS`` (so readings have a hard bound tests can rely on),
converts like an ideal 12-bit ADC and scales to 16 bits the way the rp2
port's ``ADC.read_u16()`` does: ``raw << 4 | raw >> 8``.

The temperature channel's signal is a temperature in °C, converted with the
RP2040 datasheet's sensor formula ``V = 0.706 - (T - 27) * 0.001721``.
Every channel has its own generator derived from the board seed, so one
channel's readings do not depend on how often others were read.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labtwin.twin.clock import Clock
from labtwin.twin.models.trace import Trace

__all__ = ["AdcModel", "Signal", "scale_12_to_16", "temperature_to_volts", "u16_to_volts"]

Signal = float | Callable[[float], float]
"""A constant value, or a function of lab time (seconds) returning the value."""

ADC_BITS = 12
TEMP_V27 = 0.706  # sensor voltage at 27 °C (RP2040 datasheet, section 4.9.5)
TEMP_SLOPE = 0.001721  # volts per °C, falling with temperature


def scale_12_to_16(raw: int) -> int:
    """Scale a 12-bit reading to 16 bits exactly as rp2 ``read_u16`` does."""
    return (raw << (16 - ADC_BITS)) | (raw >> (2 * ADC_BITS - 16))


def u16_to_volts(u16: int, vref: float = 3.3) -> float:
    """Voltage at the bottom of the 12-bit code a ``read_u16`` value came from."""
    return (u16 >> (16 - ADC_BITS)) * vref / (1 << ADC_BITS)


def temperature_to_volts(celsius: float) -> float:
    """RP2040 temperature sensor voltage at ``celsius`` (datasheet formula)."""
    return TEMP_V27 - (celsius - 27.0) * TEMP_SLOPE


class AdcModel:
    """Channel voltages and noisy, quantised readings for one board.

    Args:
        clock: lab clock; readings and time-varying signals use ``clock.now()``.
        seed: board seed; the same seed and call sequence give the same readings.
        channels: number of ADC channels.
        temp_channel: channel whose signal is a temperature in °C.
        vref: full-scale voltage.
        default_sigma: noise sigma (volts) of every channel until changed.
        trace: where readings are recorded as ``adc.<channel>`` (volts).
    """

    TRUNCATE_SIGMAS = 4.0
    """Noise is Gaussian, clipped at this many sigmas: a hard bound for tests."""

    def __init__(self, clock: Clock, *, seed: int, channels: int = 5, temp_channel: int | None = 4,
                 vref: float = 3.3, default_sigma: float = 0.002, trace: Trace | None = None) -> None:
        self._clock = clock
        self.vref = vref
        self.channels = channels
        self.temp_channel = temp_channel
        self._trace = trace
        self._signals: dict[int, Signal] = {ch: 0.0 for ch in range(channels)}
        if temp_channel is not None:
            self._signals[temp_channel] = 27.0
        self._sigma: dict[int, float] = {ch: default_sigma for ch in range(channels)}
        self._full_scale: dict[int, float] = {}  # channel -> volts, where an attenuation changed it
        # One generator per channel: readings on one channel never shift another's.
        self._rng = {ch: np.random.default_rng([seed, ch]) for ch in range(channels)}

    @property
    def lsb(self) -> float:
        """Voltage of one 12-bit step at the reference voltage."""
        return self.vref / (1 << ADC_BITS)

    def full_scale(self, channel: int) -> float:
        """The voltage a channel's top code stands for: ``vref``, or what its attenuation made it."""
        self._check(channel)
        return self._full_scale.get(channel, self.vref)

    def set_full_scale(self, channel: int, volts: float) -> None:
        """Change a channel's full scale (an ESP32 channel's attenuation: ``ADC.atten``)."""
        self._check(channel)
        if volts <= 0:
            raise ValueError("full scale must be > 0 V")
        self._full_scale[channel] = float(volts)

    def _check(self, channel: int) -> None:
        if not 0 <= channel < self.channels:
            raise ValueError(f"no ADC channel {channel} (0..{self.channels - 1})")

    def set_signal(self, channel: int, value: Signal) -> None:
        """Set a channel's signal: volts, or °C on the temperature channel."""
        self._check(channel)
        self._signals[channel] = value

    def signal_setting(self, channel: int) -> Signal:
        """What :meth:`set_signal` last set on ``channel`` (a constant or a function of time).

        Lets a fault save a channel's wiring and put it back exactly on clear.
        """
        self._check(channel)
        return self._signals[channel]

    def set_voltage(self, channel: int, volts: Signal) -> None:
        """Set a (non-temperature) channel's input voltage."""
        if channel == self.temp_channel:
            raise ValueError("the temperature channel takes a temperature: use set_temperature()")
        self.set_signal(channel, volts)

    def set_temperature(self, celsius: Signal) -> None:
        """Set the die temperature (°C) seen by the temperature sensor channel."""
        if self.temp_channel is None:
            raise ValueError("this ADC has no temperature channel")
        self.set_signal(self.temp_channel, celsius)

    def set_noise(self, channel: int, sigma: float) -> None:
        """Set a channel's noise sigma in volts (0 disables noise)."""
        self._check(channel)
        if sigma < 0:
            raise ValueError("sigma must be >= 0")
        self._sigma[channel] = float(sigma)

    def noise_sigma(self, channel: int) -> float:
        """A channel's noise sigma in volts."""
        self._check(channel)
        return self._sigma[channel]

    def signal(self, channel: int, t: float | None = None) -> float:
        """Noise-free input voltage of ``channel`` at lab time ``t`` (default now).

        Single override point for later fault models (stuck or disconnected
        sensors): everything a reading sees comes through here.
        """
        self._check(channel)
        t = self._clock.now() if t is None else t
        value = self._signals[channel]
        v = float(value(t) if callable(value) else value)
        if channel == self.temp_channel:
            return temperature_to_volts(v)
        return v

    def noise_bound(self, channel: int) -> float:
        """Largest possible ``|reading_volts - signal|``: truncated noise plus one LSB.

        ``reading_volts`` is :func:`u16_to_volts` of a ``read_u16`` result;
        quantisation rounds down, which loses less than one LSB. Holds for
        signals inside ``0..vref``; outside, readings clip to the rails.
        """
        return self.TRUNCATE_SIGMAS * self.noise_sigma(channel) + self.full_scale(channel) / (1 << ADC_BITS)

    def read_raw(self, channel: int) -> int:
        """One 12-bit conversion of ``channel`` now: signal + noise, clipped to the rails."""
        t = self._clock.now()
        v = self.signal(channel, t)
        sigma = self._sigma[channel]
        if sigma > 0:
            limit = self.TRUNCATE_SIGMAS * sigma
            v += float(np.clip(self._rng[channel].normal(0.0, sigma), -limit, limit))
        full_scale = self.full_scale(channel)
        raw = int(np.floor(v / full_scale * (1 << ADC_BITS)))
        raw = min(max(raw, 0), (1 << ADC_BITS) - 1)
        if self._trace is not None:
            self._trace.record(f"adc.{channel}", t, raw * full_scale / (1 << ADC_BITS))
        return raw

    def read_u16(self, channel: int) -> int:
        """What ``ADC.read_u16()`` returns for ``channel`` now."""
        return scale_12_to_16(self.read_raw(channel))
