"""HX711: Avia's 24-bit load-cell ADC, read by bit-banging PD_SCK and DOUT.

From the datasheet:

- DOUT stays high until a conversion is ready, then goes low. Conversions repeat at 10 or 80 SPS
  (the RATE pin); after power-up, a reset or a change of channel/gain, the first valid result comes
  after the settling time (4 conversion periods: 400 ms at 10 SPS, 50 ms at 80 SPS).
- Each rising edge on PD_SCK shifts out one bit, MSB first, of the 24-bit two's-complement result
  (valid on DOUT from the rising edge until the next). The 25th pulse pulls DOUT high again; 25, 26
  or 27 pulses in all select channel A gain 128, channel B gain 32 or channel A gain 64 for the next
  conversion. The result saturates at 0x7FFFFF / 0x800000.
- PD_SCK held high for more than 60 us powers the chip down; when it returns low the chip resets to
  channel A, gain 128, and settles again. (A board model whose pin edges are not timed to the
  microsecond can relax this with ``power_down_s``.)

The reading: ``offset + counts_per_gram * weight * gain / 128`` plus seeded Gaussian noise, where
``weight`` (grams) is a :class:`Quantity` sampled when the conversion completed (channel B reads
``weight_b``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.gpio_part import GpioPart
from labtwin.twin.parts.quantity import Quantity, as_quantity
from labtwin.twin.parts.sensing import SensorNoise

__all__ = ["GAIN_BY_PULSES", "Hx711"]

GAIN_BY_PULSES = {25: ("A", 128), 26: ("B", 32), 27: ("A", 64)}
FULL_SCALE = 1 << 23
SETTLING_PERIODS = 4


class Hx711(GpioPart):
    """An HX711 with its PD_SCK on ``sck_pin`` (a board output) and DOUT on ``dout_pin``.

    Args:
        weight: grams on the load cell at channel A.
        weight_b: grams on a second cell at channel B (gain 32).
        offset: raw counts at zero load (gain 128).
        counts_per_gram: raw counts per gram at gain 128.
        noise_counts: standard deviation of the reading noise, in counts.
        rate_sps: 10 or 80 conversions per second.
        seed: noise seed; the same reads in the same order give the same values.
        power_down_s: PD_SCK high time that powers the chip down (None: never).
        name: label in trace signals (``hx711.<name>.raw``).
        trace: where each value read out goes.
    """

    def __init__(self, sck_pin: int, dout_pin: int, *, weight: float | Quantity | Callable[[float], float],
                 weight_b: float | Quantity | Callable[[float], float] = 0.0, offset: int = 8_000,
                 counts_per_gram: float = 420.0, noise_counts: float = 20.0, rate_sps: int = 10, seed: int = 0,
                 power_down_s: float | None = 60e-6, name: str = "hx711", trace: Trace | None = None) -> None:
        super().__init__(watches=[sck_pin], drives=[dout_pin])
        if rate_sps not in (10, 80):
            raise ConfigError(f"HX711 converts at 10 or 80 SPS (its RATE pin), not {rate_sps}")
        self.sck_pin, self.dout_pin = sck_pin, dout_pin
        self.weight, self.weight_b = as_quantity(weight), as_quantity(weight_b)
        self.offset, self.counts_per_gram, self.noise_counts = offset, counts_per_gram, noise_counts
        self.period = 1.0 / rate_sps
        self.power_down_s = power_down_s
        self.name, self._trace = name, trace
        self._noise = SensorNoise(seed)  # clipped at 3 sigma, as every part's noise
        self.values_read: list[int] = []
        """Every 24-bit word the chip started shifting out, as a signed integer, in order."""
        self._sck, self._sck_high_since = 0, 0.0
        self._power_up(0.0)

    def _power_up(self, t: float) -> None:
        self.channel, self.gain = "A", 128
        self._phase = t + SETTLING_PERIODS * self.period  # first ready time; then every period
        self._ready_at = self._phase
        self._pulses, self._word, self._dout = 0, 0, 1

    def _boundary_after(self, t: float) -> float:
        if t < self._phase:
            return self._phase
        return self._phase + (math.floor((t - self._phase) / self.period) + 1) * self.period

    def _latest_boundary(self, t: float) -> float:
        return self._phase + math.floor((t - self._phase) / self.period) * self.period

    def powered_down(self, t: float) -> bool:
        """Whether PD_SCK has been high long enough at ``t`` to power the chip down."""
        return self._sck == 1 and self.power_down_s is not None and t - self._sck_high_since > self.power_down_s

    def expected_raw(self, t: float, channel: str = "A", gain: int = 128) -> float:
        """The noiseless reading of a conversion completing at ``t``."""
        grams = (self.weight if channel == "A" else self.weight_b).value(t)
        return self.offset + self.counts_per_gram * grams * gain / 128

    def _convert(self, t: float) -> int:
        value = self._noise.add(self.expected_raw(t, self.channel, self.gain), self.noise_counts)
        return int(min(max(round(value), -FULL_SCALE), FULL_SCALE - 1))

    def on_level(self, pin: int, level: int, t: float) -> None:
        """An edge on PD_SCK."""
        self._check_pin(pin, self.watched_pins, "watch")
        level = 1 if level else 0
        if level == self._sck:
            return
        if level == 0:
            down = self.powered_down(t)
            self._sck = 0
            if down:
                self._power_up(t)  # leaving power-down is a reset
            return
        self._sck, self._sck_high_since = 1, t
        if self._pulses >= 25 and t >= self._ready_at:
            self._pulses = 0  # the next conversion is ready: this edge starts a new read
        if self._pulses == 0:
            if t < self._ready_at:
                return  # clocking while DOUT is high shifts nothing out
            done = self._latest_boundary(t)
            self._word = self._convert(done) & 0xFFFFFF
            signed = self._word - (1 << 24) if self._word & 0x800000 else self._word
            self.values_read.append(signed)
            if self._trace is not None:
                self._trace.record(f"hx711.{self.name}.raw", done, signed)
        self._pulses += 1
        if self._pulses <= 24:
            self._dout = (self._word >> (24 - self._pulses)) & 1
            return
        self._dout = 1
        channel, gain = GAIN_BY_PULSES.get(min(self._pulses, 27), ("A", 128))
        changed = (channel, gain) != (self.channel, self.gain)
        self.channel, self.gain = channel, gain
        if changed:
            self._phase = t + SETTLING_PERIODS * self.period
        self._ready_at = self._boundary_after(t)

    def level(self, pin: int, t: float) -> int | None:
        """DOUT: low when a conversion is ready, then the bits being shifted out."""
        self._check_pin(pin, self.driven_pins, "drive")
        if self.powered_down(t):
            return 1
        if self._pulses == 0 or self._pulses >= 25:  # idle, or the read is over: low once data is ready
            return 0 if t >= self._ready_at else 1
        return self._dout

    def edges(self, pin: int, start: float, end: float) -> list[tuple[float, int]]:
        """DOUT's falling edge when the next conversion becomes ready in ``(start, end]``."""
        self._check_pin(pin, self.driven_pins, "drive")
        if self._pulses in range(1, 25) or self._sck:
            return []
        return [(self._ready_at, 0)] if start < self._ready_at <= end else []
