"""The RP2040's system clock: which frequencies ``machine.freq()`` accepts."""

from __future__ import annotations

__all__ = ["sys_clock_possible"]

_XOSC_KHZ = 12_000


def sys_clock_possible(freq_hz: int) -> bool:
    """Whether ``machine.freq(hz)`` can set this CPU clock: the pico-sdk's ``check_sys_clock_khz`` search.

    12 MHz crystal, a VCO of 750-1600 MHz, two post dividers 1..7.
    """
    khz = freq_hz // 1000
    for fbdiv in range(16, 321):
        vco = _XOSC_KHZ * fbdiv
        if not 750_000 <= vco <= 1_600_000:
            continue
        for pd1 in range(7, 0, -1):
            for pd2 in range(pd1, 0, -1):
                if vco == khz * pd1 * pd2:
                    return True
    return False
