# HX711 load-cell ADC reader for MicroPython, written from the Avia Semiconductor datasheet:
# DOUT goes low when a conversion is ready; each PD_SCK pulse shifts out one bit, MSB first, of the
# 24-bit two's-complement result; 1, 2 or 3 extra pulses (25, 26, 27 in all) select channel A gain 128,
# channel B gain 32 or channel A gain 64 for the next conversion; PD_SCK high for more than 60 us
# powers the chip down, and it settles again (4 conversion periods) after power-up.
import time

from machine import Pin

_PULSES = {128: 25, 32: 26, 64: 27}  # gain -> PD_SCK pulses per read (128 and 64: channel A, 32: B)


class HX711:
    def __init__(self, dout, pd_sck, gain=128):
        if gain not in _PULSES:
            raise ValueError("gain must be 128, 64 (channel A) or 32 (channel B)")
        self.dout = Pin(dout, Pin.IN)
        self.sck = Pin(pd_sck, Pin.OUT, value=0)
        self.pulses = _PULSES[gain]
        self.offset = 0
        self.counts_per_gram = 1.0

    def ready(self):
        """Whether a conversion is waiting (DOUT low)."""
        return self.dout.value() == 0

    def read_raw(self, timeout_ms=1000):
        """The next conversion as a signed 24-bit count; OSError(ETIMEDOUT) if none comes in time."""
        started = time.ticks_ms()
        while not self.ready():
            if time.ticks_diff(time.ticks_ms(), started) > timeout_ms:
                raise OSError(110, "HX711 not ready (DOUT stays high)")
            time.sleep_ms(1)
        sck, dout = self.sck, self.dout
        value = 0
        for _ in range(24):
            sck.value(1)
            sck.value(0)
            value = (value << 1) | dout.value()
        for _ in range(self.pulses - 24):  # select the channel and gain of the next conversion
            sck.value(1)
            sck.value(0)
        return value - 0x1000000 if value & 0x800000 else value

    def read_average(self, times=3):
        """The mean of ``times`` conversions, in counts."""
        return sum(self.read_raw() for _ in range(times)) / times

    def tare(self, times=3):
        """Take the current load as zero."""
        self.offset = self.read_average(times)

    def grams(self, times=3):
        """The load in grams, from the tare offset and ``counts_per_gram``."""
        return (self.read_average(times) - self.offset) / self.counts_per_gram
