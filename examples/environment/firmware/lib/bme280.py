# BME280 reader for MicroPython, written from the Bosch datasheet (BST-BME280-DS002): calibration
# registers 0x88-0xA1 and 0xE1-0xE7 (section 5.4.1), the integer compensation formulas (section 8.2),
# forced mode (section 3.3.3) and the measurement time (section 9.1).
import struct
import time

CHIP_ID = 0x60
_REG_ID = 0xD0
_REG_RESET = 0xE0
_REG_CTRL_HUM = 0xF2
_REG_STATUS = 0xF3
_REG_CTRL_MEAS = 0xF4
_REG_CONFIG = 0xF5
_REG_DATA = 0xF7


class BME280:
    def __init__(self, i2c, address=0x76):
        self.i2c = i2c
        self.address = address
        chip = i2c.readfrom_mem(address, _REG_ID, 1)[0]
        if chip != CHIP_ID:
            raise OSError("no BME280 at 0x%02x (chip id 0x%02x)" % (address, chip))
        t_p = i2c.readfrom_mem(address, 0x88, 24)
        (self.t1, self.t2, self.t3, self.p1, self.p2, self.p3, self.p4, self.p5, self.p6, self.p7,
         self.p8, self.p9) = struct.unpack("<HhhHhhhhhhhh", t_p)
        self.h1 = i2c.readfrom_mem(address, 0xA1, 1)[0]
        h = i2c.readfrom_mem(address, 0xE1, 7)
        self.h2 = struct.unpack("<h", h[0:2])[0]
        self.h3 = h[2]
        e4 = h[3] - 256 if h[3] > 127 else h[3]
        e6 = h[5] - 256 if h[5] > 127 else h[5]
        self.h4 = e4 * 16 | (h[4] & 0x0F)
        self.h5 = e6 * 16 | (h[4] >> 4)
        self.h6 = h[6] - 256 if h[6] > 127 else h[6]
        self._buf = bytearray(8)

    def measure(self):
        """One forced-mode measurement at x1 oversampling: (degC, Pa, %RH)."""
        self.i2c.writeto_mem(self.address, _REG_CTRL_HUM, b"\x01")
        self.i2c.writeto_mem(self.address, _REG_CTRL_MEAS, b"\x25")  # T x1, P x1, forced
        time.sleep_ms(10)  # max measurement time at x1/x1/x1: 1.25 + 2.3*3 + 0.575*2 = 9.3 ms
        while self.i2c.readfrom_mem(self.address, _REG_STATUS, 1)[0] & 0x08:
            time.sleep_ms(1)
        return self.read()

    def read(self):
        """The last completed measurement: (degC, Pa, %RH)."""
        self.i2c.readfrom_mem_into(self.address, _REG_DATA, self._buf)
        b = self._buf
        adc_p = (b[0] << 12) | (b[1] << 4) | (b[2] >> 4)
        adc_t = (b[3] << 12) | (b[4] << 4) | (b[5] >> 4)
        adc_h = (b[6] << 8) | b[7]
        var1 = (((adc_t >> 3) - (self.t1 << 1)) * self.t2) >> 11
        var2 = (((((adc_t >> 4) - self.t1) * ((adc_t >> 4) - self.t1)) >> 12) * self.t3) >> 14
        t_fine = var1 + var2
        temperature = ((t_fine * 5 + 128) >> 8) / 100
        return temperature, self._pressure(adc_p, t_fine), self._humidity(adc_h, t_fine)

    def _pressure(self, adc_p, t_fine):
        var1 = t_fine - 128000
        var2 = var1 * var1 * self.p6
        var2 = var2 + ((var1 * self.p5) << 17)
        var2 = var2 + (self.p4 << 35)
        var1 = ((var1 * var1 * self.p3) >> 8) + ((var1 * self.p2) << 12)
        var1 = (((1 << 47) + var1) * self.p1) >> 33
        if var1 == 0:
            return 0.0
        p = 1048576 - adc_p
        p = (((p << 31) - var2) * 3125) // var1
        var1 = (self.p9 * (p >> 13) * (p >> 13)) >> 25
        var2 = (self.p8 * p) >> 19
        return (((p + var1 + var2) >> 8) + (self.p7 << 4)) / 256

    def _humidity(self, adc_h, t_fine):
        v = t_fine - 76800
        v = (((((adc_h << 14) - (self.h4 << 20) - (self.h5 * v)) + 16384) >> 15)
             * (((((((v * self.h6) >> 10) * (((v * self.h3) >> 11) + 32768)) >> 10) + 2097152)
                 * self.h2 + 8192) >> 14))
        v = v - (((((v >> 15) * (v >> 15)) >> 7) * self.h1) >> 4)
        v = 0 if v < 0 else v
        v = 419430400 if v > 419430400 else v
        return (v >> 12) / 1024
