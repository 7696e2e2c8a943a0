# machine.SPI / SoftSPI against a loopback device (MISO = MOSI) selected by its CS pin.
import os

from _check import err
from machine import SPI, Pin, SoftSPI

esp = os.getenv("LABTWIN_BOARD_PROFILE") == "esp32"
cs = Pin(5 if esp else 17, Pin.OUT, value=1)
spi = SPI(1 if esp else 0)
print("repr", repr(spi))
print("idle", spi.read(2).hex())
cs(0)
print("read", spi.read(2, 0x0F).hex())
buf = bytearray(3)
spi.readinto(buf, 0x5A)
print("readinto", bytes(buf).hex())
print("write", spi.write(b"\x10\x20"))
rb = bytearray(2)
spi.write_readinto(b"\x01\x02", rb)
print("write_readinto", bytes(rb).hex())
err("lengths", lambda: spi.write_readinto(b"\x01", bytearray(2)))
cs(1)
print("consts", SPI.MSB, SPI.LSB, SoftSPI.MSB)
sck, mosi, miso = (14, 13, 12) if esp else (18, 19, 16)
soft = SoftSPI(baudrate=100000, sck=Pin(sck), mosi=Pin(mosi), miso=Pin(miso))
print("soft", repr(soft))
cs(0)
print("soft_read", soft.read(1, 0x42).hex())
cs(1)
err("soft_bits", lambda: SoftSPI(bits=16, sck=Pin(sck), mosi=Pin(mosi), miso=Pin(miso)))
err("bad_id", lambda: SPI(7))
print("done")
