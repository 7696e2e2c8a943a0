# neopixel.NeoPixel and machine.bitstream against WS2812 chains wired to the board's pins.
import gc
import os

import machine  # noqa: F401  (the shim itself is not what is measured)

gc.collect()
free = gc.mem_free()
import neopixel  # noqa: E402

gc.collect()
print("heap_neopixel", free - gc.mem_free())

from _check import err  # noqa: E402
from machine import Pin, bitstream  # noqa: E402

esp = os.getenv("LABTWIN_BOARD_PROFILE") == "esp32"
a, b, c = (25, 26, 27) if esp else (16, 17, 18)
np = neopixel.NeoPixel(Pin(a), 8)
print("sizes", len(np), np.n, np.bpp, np.timing)
np.fill((0, 0, 16))
np[0] = (255, 0, 0)
np[1] = (0, 255, 0)
np[-1] = (1, 2, 3)
print("get", np[0], np[7])
print("buf", bytes(np.buf[:6]).hex())
np.write()
rgbw = neopixel.NeoPixel(Pin(b), 2, bpp=4)
rgbw[0] = (10, 20, 30, 40)
rgbw[1] = (0, 0, 0, 255)
rgbw.write()
slow = neopixel.NeoPixel(Pin(c), 3, timing=0)  # 400 kHz timing on 800 kHz LEDs
slow.fill((1, 2, 4))
slow.write()
t = (400, 850, 800, 450)
err("encoding", lambda: bitstream(Pin(a), 1, t, b"\x00"))
err("timing_len", lambda: bitstream(Pin(a), 0, (400, 850, 800), b"\x00"))
err("timing_type", lambda: bitstream(Pin(a), 0, 400, b"\x00"))
err("timing_float", lambda: bitstream(Pin(a), 0, (400.0, 850, 800, 450), b"\x00"))
err("buffer", lambda: bitstream(Pin(a), 0, t, [1, 2]))
err("bad_pin", lambda: bitstream(99, 0, t, b"\x00"))
if not esp:
    err("led_pin", lambda: bitstream(Pin("LED"), 0, t, b"\x00"))
print("done")
