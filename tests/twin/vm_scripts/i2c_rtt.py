# Cost of one I2C register read (readfrom_mem of 2 bytes) over the hardware bus, beside ADC.read_u16.
import time

from machine import ADC, I2C


def median_us(fn, n=3000):
    for _ in range(200):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.ticks_us()
        fn()
        samples.append(time.ticks_diff(time.ticks_us(), t0))
    samples.sort()
    return samples[len(samples) // 2], samples[len(samples) * 9 // 10]


i2c = I2C(0)
adc = ADC(26)
buf = bytearray(2)
for rnd in range(2):  # interleaved, so a busy machine weighs on both alike
    print("adc%d" % rnd, *median_us(adc.read_u16))
    print("i2c%d" % rnd, *median_us(lambda: i2c.readfrom_mem(0x40, 0, 2)))
    print("i2c_into%d" % rnd, *median_us(lambda: i2c.readfrom_mem_into(0x40, 0, buf)))
