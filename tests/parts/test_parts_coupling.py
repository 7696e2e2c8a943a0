"""Parts coupled through a shared quantity: a pump fills a vessel that a load cell and a balance weigh."""

from __future__ import annotations

import pytest

from labtwin.twin.parts.balance import Balance
from labtwin.twin.parts.hx711 import Hx711
from labtwin.twin.parts.pump import Pump, Vessel

PUMP_PIN, SCK, DOUT = 16, 5, 6
COUNTS_PER_GRAM, OFFSET = 420.0, 8000


def read_hx711(hx: Hx711, t: float) -> tuple[int, float]:
    """Wait for DOUT low from ``t``, clock out 24 bits plus one gain pulse; returns (value, end time)."""
    while hx.level(DOUT, t) != 0:
        t += 0.001
    value = 0
    for _ in range(25):
        hx.on_level(SCK, 1, t)
        bit = hx.level(DOUT, t + 1e-6)
        hx.on_level(SCK, 0, t + 1e-6)
        t += 2e-6
        value = value << 1 | (bit or 0)
    value >>= 1  # the 25th pulse only chose the gain
    return (value - (1 << 24) if value & 0x800000 else value), t


def si_grams(balance: Balance, t: float) -> float:
    balance.receive(b"SI\r\n", t)
    line = balance.transmit(t + 1.0)
    assert line.startswith(b"S ")
    return float(line.split()[2])


def test_pump_raises_the_weight_both_instruments_see_by_flow_times_time():
    beaker = Vessel("beaker", 80.0)
    pump = Pump(PUMP_PIN, beaker, flow_ml_s=0.5, density_g_ml=1.0)
    cell = Hx711(SCK, DOUT, weight=beaker, offset=OFFSET, counts_per_gram=COUNTS_PER_GRAM, noise_counts=0.0)
    balance = Balance(beaker, readability_g=0.001)

    raw_before, t = read_hx711(cell, 0.5)
    grams_before = si_grams(balance, t)
    pump.on_level(PUMP_PIN, 1, 1.0)
    pump.on_level(PUMP_PIN, 0, 6.0)  # 5 s at 0.5 mL/s of water: 2.5 g
    raw_after, t = read_hx711(cell, 7.0)
    grams_after = si_grams(balance, t)

    assert grams_before == pytest.approx(80.0)
    assert grams_after - grams_before == pytest.approx(2.5, abs=0.001)
    assert (raw_after - raw_before) / COUNTS_PER_GRAM == pytest.approx(2.5, abs=1 / COUNTS_PER_GRAM)


def test_mid_run_readings_see_a_partial_dose():
    beaker = Vessel("beaker", 0.0)
    pump = Pump(PUMP_PIN, beaker, flow_ml_s=1.0)
    balance = Balance(beaker)
    pump.on_level(PUMP_PIN, 1, 10.0)
    assert si_grams(balance, 12.0) == pytest.approx(2.0)
