# machine.RTC, the WDT's argument errors (no watchdog is started here) and machine.time_pulse_us on
# pulses the test drives after each "ready" line.
import os
import time

from _check import err
from machine import RTC, WDT, Pin, time_pulse_us

esp = os.getenv("LABTWIN_BOARD_PROFILE") == "esp32"

rtc = RTC()
print("rtc_boot", " ".join(str(x) for x in rtc.datetime()))
rtc.datetime((2024, 2, 29, 0, 23, 59, 59, 0))
time.sleep_ms(1100)
now = rtc.datetime()
print("rtc_next_day", " ".join(str(x) for x in now[:7]))
print("rtc_subseconds", now[7])
err("rtc_arg", lambda: RTC(0))
err("rtc_short", lambda: rtc.datetime((1, 2, 3)))
err("rtc_bad_date", lambda: rtc.datetime((2023, 2, 30, 0, 0, 0, 0, 0)))

err("wdt_id", lambda: WDT(1))
if esp:
    err("wdt_zero", lambda: WDT(timeout=0))
else:
    err("wdt_long", lambda: WDT(timeout=9000))

pulse = Pin(16, Pin.IN)
print("ready pulse")
print("pulse_us", time_pulse_us(pulse, 1, 1000000))
stuck = Pin(17, Pin.IN)
print("never_low", time_pulse_us(stuck, 0, 20000))
print("stuck_high", time_pulse_us(stuck, 1, 20000))
line = Pin(18, Pin.IN, Pin.PULL_DOWN)
print("ready set_input")
print("set_input_us", time_pulse_us(line, 1, 1000000))
print("done")
