# labtwin: the `ds18x20` module the rp2 and esp32 ports freeze (micropython-lib), written from its
# documented API: DS18X20(onewire) for DS18S20 (family 0x10), DS1822 (0x22) and DS18B20 (0x28).
# convert_temp() does not wait: the caller sleeps (750 ms at 12 bits) before read_temp().

from micropython import const

_CONVERT = const(0x44)
_RD_SCRATCH = const(0xBE)
_WR_SCRATCH = const(0x4E)


class DS18X20:
    def __init__(self, onewire):
        self.ow = onewire
        self.buf = bytearray(9)

    def scan(self):
        return [rom for rom in self.ow.scan() if rom[0] in (0x10, 0x22, 0x28)]

    def convert_temp(self):
        # Every sensor on the bus at once: SKIP ROM, then CONVERT T.
        self.ow.reset(True)
        self.ow.write(bytes((self.ow.SKIP_ROM, _CONVERT)))

    def read_scratch(self, rom):
        self.ow.reset(True)
        self.ow.select_rom(rom)
        self.ow.writebyte(_RD_SCRATCH)
        self.ow.readinto(self.buf)
        if self.ow.crc8(self.buf):
            raise Exception("CRC error")
        return self.buf

    def write_scratch(self, rom, buf):
        self.ow.reset(True)
        self.ow.select_rom(rom)
        self.ow.writebyte(_WR_SCRATCH)
        self.ow.write(buf)

    def read_temp(self, rom):
        buf = self.read_scratch(rom)
        if rom[0] == 0x10:
            # DS18S20: 0.5 degC per count, refined with COUNT_REMAIN (byte 6) and COUNT_PER_C (byte 7).
            t = buf[0] >> 1
            if buf[1]:
                t -= 128
            return t - 0.25 + (buf[7] - buf[6]) / buf[7]
        t = buf[1] << 8 | buf[0]
        if t & 0x8000:
            t -= 0x10000
        return t / 16
