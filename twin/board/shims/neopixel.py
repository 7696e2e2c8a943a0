# labtwin: the `neopixel` module the rp2 and esp32 ports freeze (micropython-lib), written from its
# documented API: NeoPixel(pin, n, bpp=3, timing=1) keeps the colours in `buf` in the LEDs' order
# (G, R, B[, W]) and write() sends it with machine.bitstream, which reaches the host in one request.

from machine import bitstream


class NeoPixel:
    ORDER = (1, 0, 2, 3)  # where R, G, B, W of a colour tuple go within an LED's bytes

    def __init__(self, pin, n, bpp=3, timing=1):
        self.pin = pin
        self.n = n
        self.bpp = bpp
        self.buf = bytearray(n * bpp)
        self.pin.init(pin.OUT)
        if isinstance(timing, int):
            # ns for (high 0, low 0, high 1, low 1): 800 kHz parts, or the old 400 kHz ones.
            timing = (400, 850, 800, 450) if timing else (800, 1700, 1600, 900)
        self.timing = timing

    def __len__(self):
        return self.n

    def __setitem__(self, i, v):
        offset = i * self.bpp
        for c in range(self.bpp):
            self.buf[offset + self.ORDER[c]] = v[c]

    def __getitem__(self, i):
        offset = i * self.bpp
        return tuple(self.buf[offset + self.ORDER[c]] for c in range(self.bpp))

    def fill(self, v):
        for i in range(self.n):
            self[i] = v

    def write(self):
        bitstream(self.pin, 0, self.timing, self.buf)
