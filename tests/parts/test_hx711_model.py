"""HX711 model, read by a bit-banging reader written from the datasheet's timing diagram."""

from __future__ import annotations

import pytest

from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.hx711 import Hx711

SCK, DOUT = 5, 6
HALF_US = 1e-6  # PD_SCK high and low times of the reader: 1 us each


class Reader:
    """The firmware's side: wait for DOUT low, 24 pulses reading DOUT while PD_SCK is high, then
    1-3 more pulses choosing the next gain (25: A128, 26: B32, 27: A64)."""

    def __init__(self, chip: Hx711, t: float = 0.0) -> None:
        self.chip, self.t = chip, t

    def pulse(self) -> int:
        self.chip.on_level(SCK, 1, self.t)
        self.t += HALF_US
        bit = self.chip.level(DOUT, self.t)
        self.chip.on_level(SCK, 0, self.t)
        self.t += HALF_US
        assert bit is not None
        return bit

    def wait_ready(self, poll_s: float = 0.001, timeout_s: float = 2.0) -> float:
        deadline = self.t + timeout_s
        while self.chip.level(DOUT, self.t) != 0:
            self.t += poll_s
            assert self.t < deadline, "DOUT never went low"
        return self.t

    def read(self, next_gain_pulses: int = 1) -> int:
        self.wait_ready()
        value = 0
        for _ in range(24):
            value = value << 1 | self.pulse()
        for _ in range(next_gain_pulses):
            self.pulse()
        return value - (1 << 24) if value & 0x800000 else value


def chip(**kwargs: object) -> Hx711:
    options: dict[str, object] = {"weight": 100.0, "offset": 8000, "counts_per_gram": 420.0, "noise_counts": 0.0}
    options.update(kwargs)
    return Hx711(SCK, DOUT, **options)  # type: ignore[arg-type]


def test_first_conversion_is_ready_after_the_settling_time():
    reader = Reader(chip())
    assert reader.wait_ready() == pytest.approx(0.4, abs=0.0011)  # 4 periods at 10 SPS


def test_80_sps_settles_in_50_ms_and_converts_every_12_5_ms():
    hx = chip(rate_sps=80)
    reader = Reader(hx)
    assert reader.wait_ready(poll_s=1e-4) == pytest.approx(0.05, abs=1.1e-4)
    reader.read()
    assert reader.wait_ready(poll_s=1e-4) == pytest.approx(0.0625, abs=1.1e-4)


def test_reading_is_offset_plus_scale_times_weight():
    assert Reader(chip()).read() == 8000 + 42000


def test_negative_values_are_twos_complement():
    assert Reader(chip(weight=-50.0, offset=0)).read() == -21000


def test_saturates_at_full_scale():
    assert Reader(chip(weight=1e6)).read() == 0x7FFFFF
    assert Reader(chip(weight=-1e6)).read() == -0x800000


def test_dout_goes_high_on_the_25th_pulse_until_the_next_conversion():
    hx = chip()
    reader = Reader(hx)
    reader.read()
    assert hx.level(DOUT, reader.t) == 1
    assert hx.edges(DOUT, reader.t, reader.t + 0.2) == [(pytest.approx(0.5), 0)]


def test_gain_pulses_select_channel_and_gain_for_the_next_conversion():
    hx = chip(weight_b=10.0)
    reader = Reader(hx)
    assert reader.read(next_gain_pulses=3) == 8000 + 42000  # A128, then select A64
    assert (hx.channel, hx.gain) == ("A", 64)
    ready = reader.wait_ready()
    assert ready == pytest.approx(reader.t, abs=0.0011) and ready > 0.8  # changed gain: settles again
    assert reader.read(next_gain_pulses=2) == 8000 + 21000  # A64, then select B32
    assert reader.read() == 8000 + 1050  # B32 reads channel B's 10 g at a quarter of the gain


def test_holding_pd_sck_high_powers_down_and_resets_to_a128():
    hx = chip()
    reader = Reader(hx)
    reader.read(next_gain_pulses=3)
    hx.on_level(SCK, 1, reader.t)
    assert hx.level(DOUT, reader.t + 61e-6) == 1 and hx.powered_down(reader.t + 61e-6)
    woke = reader.t + 0.01
    hx.on_level(SCK, 0, woke)
    assert (hx.channel, hx.gain) == ("A", 128)
    reader.t = woke
    assert reader.wait_ready() == pytest.approx(woke + 0.4, abs=0.0011)  # a reset settles again


def test_slow_bit_banging_powers_the_chip_down_unless_relaxed():
    slow = 100e-6  # a board that cannot toggle a pin faster than 100 us
    for power_down_s, survives in ((60e-6, False), (None, True)):
        hx = chip(power_down_s=power_down_s)
        reader = Reader(hx)
        reader.wait_ready()
        hx.on_level(SCK, 1, reader.t)
        hx.on_level(SCK, 0, reader.t + slow)
        assert (hx.level(DOUT, reader.t + slow) == 1) != survives


def test_noise_is_seeded():
    def readings(seed: int) -> list[int]:
        reader = Reader(chip(noise_counts=50.0, seed=seed))
        return [reader.read() for _ in range(5)]

    assert readings(1) == readings(1)
    assert readings(1) != readings(2)
    assert all(abs(v - 50000) < 5 * 50 for v in readings(1))


def test_weight_is_sampled_when_the_conversion_completed():
    trace = Trace()
    hx = chip(weight=lambda t: 10.0 * t, offset=0, trace=trace, name="cell")
    reader = Reader(hx)
    reader.t = 0.45  # ready since 0.4; reading late still gives the 0.4 s conversion
    assert reader.read() == round(420 * 4.0)
    assert trace.samples("hx711.cell.raw") == [(pytest.approx(0.4), 1680.0)]
    assert hx.values_read == [1680]
