"""WS2812 chain model: bitstream buffers and timed edges decoded into per-LED colours."""

from __future__ import annotations

import pytest

from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.ws2812 import NEOPIXEL_800KHZ, Ws2812Chain

PIN = 22


def grb(*rgb: tuple[int, int, int]) -> bytes:
    """What neopixel.NeoPixel keeps in its buffer: G, R, B per LED."""
    return b"".join(bytes([g, r, b]) for r, g, b in rgb)


def test_bitstream_with_neopixel_timing_decodes_grb_to_rgb():
    chain = Ws2812Chain(PIN, 3)
    end = chain.bitstream(NEOPIXEL_800KHZ, grb((255, 0, 0), (0, 128, 0), (1, 2, 3)), 0.0)
    assert end == pytest.approx(3 * 24 * 1.25e-6)
    assert chain.colors(end + 50e-6).tolist() == [[255, 0, 0], [0, 128, 0], [1, 2, 3]]


def test_a_frame_shows_only_after_the_reset_time():
    chain = Ws2812Chain(PIN, 1)
    end = chain.bitstream(NEOPIXEL_800KHZ, grb((9, 9, 9)), 0.0)
    assert chain.colors(end + 10e-6).tolist() == [[0, 0, 0]]
    assert chain.colors(end + 60e-6).tolist() == [[9, 9, 9]]


def test_timed_edges_decode_like_the_buffer():
    chain = Ws2812Chain(PIN, 2)
    t = 0.0
    for byte in grb((10, 20, 30), (40, 50, 60)):
        for i in range(7, -1, -1):
            high = 0.8e-6 if (byte >> i) & 1 else 0.4e-6
            chain.on_level(PIN, 1, t)
            chain.on_level(PIN, 0, t + high)
            t += 1.25e-6
    chain.on_level(PIN, 1, t + 100e-6)  # the next frame starts: the gap latched this one
    assert chain.colors().tolist() == [[10, 20, 30], [40, 50, 60]]


def test_wrong_timing_gives_wrong_colours():
    chain = Ws2812Chain(PIN, 1)
    end = chain.bitstream((700, 550, 800, 450), grb((1, 0, 0)), 0.0)  # T0H too long: every bit reads 1
    assert chain.colors(end + 1e-3).tolist() == [[255, 255, 255]]


def test_extra_data_passes_off_the_end_and_short_data_keeps_old_colours():
    chain = Ws2812Chain(PIN, 2)
    chain.write(grb((1, 1, 1), (2, 2, 2), (3, 3, 3)), 0.0)
    assert chain.colors().tolist() == [[1, 1, 1], [2, 2, 2]]
    chain.write(grb((7, 7, 7)) + b"\x05", 1.0)
    assert chain.colors().tolist() == [[7, 7, 7], [2, 2, 2]]


def test_rgbw_parts_take_32_bits():
    chain = Ws2812Chain(PIN, 1, bytes_per_led=4)
    chain.write(bytes([1, 2, 3, 4]), 0.0)  # G, R, B, W
    assert chain.colors().tolist() == [[2, 1, 3, 4]]


def test_latched_frames_are_counted_and_traced():
    trace = Trace()
    chain = Ws2812Chain(PIN, 1, name="ring", trace=trace)
    end = chain.bitstream(NEOPIXEL_800KHZ, grb((1, 2, 3)), 0.0)
    chain.colors(end + 1e-3)
    last_fall = end - 450e-9  # the last bit is a 1: 800 ns high, 450 ns low
    assert chain.frames == 1 and trace.last("ws2812.ring.frames") == (pytest.approx(last_fall + 50e-6), 1.0)
