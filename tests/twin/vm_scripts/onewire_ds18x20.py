# onewire.OneWire and ds18x20.DS18X20 (the ports' frozen modules) against DS18B20 models.
import gc
import os
import time

import machine

# Count hardware-bus requests: _onewire takes machine._call when it is imported, below.
trips = [0]
_call = machine._call


def _counting(*req):
    trips[0] += 1
    return _call(*req)


machine._call = _counting


def count(label, fn):
    trips[0] = 0
    value = fn()
    print(label, trips[0])
    return value


gc.collect()
free = gc.mem_free()
import ds18x20  # noqa: E402
import onewire  # noqa: E402

gc.collect()
print("heap_onewire", free - gc.mem_free())

import _onewire  # noqa: E402
from _check import err  # noqa: E402
from machine import Pin  # noqa: E402

esp = os.getenv("LABTWIN_BOARD_PROFILE") == "esp32"
two, one, none = (26, 27, 23) if esp else (22, 21, 20)

ow = onewire.OneWire(Pin(two))
ds = ds18x20.DS18X20(ow)
roms = count("trips_scan", ds.scan)
print("roms", " ".join(bytes(r).hex() for r in roms), type(roms[0]).__name__)
print("power_on", ds.read_temp(roms[0]))
count("trips_convert", ds.convert_temp)
time.sleep_ms(750)
temps = [count("trips_read_temp", lambda: ds.read_temp(r)) for r in roms]
print("temps", " ".join(str(t) for t in temps))
ds.write_scratch(roms[1], b"\x4b\x46\x1f")  # TH, TL, configuration: 9 bits
ds.convert_temp()
time.sleep_ms(100)
print("t9", ds.read_temp(roms[1]), bytes(ds.read_scratch(roms[1])[2:5]).hex())

# The C module's own functions, bit by bit, as a firmware's own onewire copy would use them.
p = Pin(one)
ow1 = onewire.OneWire(p)
print("present", _onewire.reset(p))
_onewire.writebyte(p, 0x33)  # READ ROM
rom = bytes(_onewire.readbyte(p) for _ in range(8))
print("read_rom", rom.hex(), _onewire.crc8(rom))
_onewire.reset(p)
_onewire.writebyte(p, 0xCC)
for i in range(8):
    _onewire.writebit(p, (0xB4 >> i) & 1)  # READ POWER SUPPLY
print("powered", _onewire.readbit(p))
print("crc8", hex(ow1.crc8(b"\x02\x1c\xb8\x01\x00\x00\x00")), ow1.crc8(b"\x02\x1c\xb8\x01\x00\x00\x00\xa2"))
err("crc", lambda: ds18x20.DS18X20(ow1).read_temp(rom))
err("writebyte_float", lambda: _onewire.writebyte(p, 1.5))
err("crc8_list", lambda: _onewire.crc8([1, 2]))

empty = onewire.OneWire(Pin(none))
print("empty_scan", empty.scan(), empty.reset())
err("absent", lambda: empty.reset(True))
err("absent_convert", lambda: ds18x20.DS18X20(empty).convert_temp())
if not esp:
    err("led_pin", lambda: _onewire.reset(Pin("LED")))
print("done")
