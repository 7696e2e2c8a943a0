# machine.UART against a scripted device that answers each line with "ECHO <line>\r\n".
import os
import time

from _check import err
from machine import UART

esp = os.getenv("LABTWIN_BOARD_PROFILE") == "esp32"
u = UART(1, 115200, tx=4, rx=5, timeout=200) if esp else UART(0, 115200, timeout=200)
print("repr", repr(u))
t0 = time.ticks_ms()
print("timeout", u.read(4), time.ticks_diff(time.ticks_ms(), t0) >= 190)
print("write", u.write(b"ping\n"))
print("line", u.readline())
u.write(b"a\nb\n")
time.sleep_ms(20)
print("any", u.any())
print("read", u.read())
buf = bytearray(4)
print("readinto", u.readinto(buf))
u.write(b"xy\n")
print("flush", u.flush(), u.txdone())
print("readinto2", u.readinto(buf), bytes(buf))
print("consts", UART.CTS, UART.RTS, UART.INV_TX, UART.INV_RX)
err("bad_id", lambda: UART(9))
print("done")
