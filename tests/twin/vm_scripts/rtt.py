# Round-trip time of ADC.read_u16 over the hardware bus, in microseconds.
import time

from machine import ADC

a = ADC(26)
for _ in range(200):  # warm up
    a.read_u16()
samples = []
for _ in range(2000):
    t0 = time.ticks_us()
    a.read_u16()
    samples.append(time.ticks_diff(time.ticks_us(), t0))
samples.sort()
print("median_us", samples[len(samples) // 2])
print("p90_us", samples[len(samples) * 9 // 10])
