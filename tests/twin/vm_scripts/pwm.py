import time

from _check import err
from machine import PWM, Pin

pwm = PWM(Pin(16))
print("fresh", pwm.freq(), pwm.duty_u16())
pwm.freq(50)
pwm.duty_u16(6554)
print("servo", pwm.freq(), pwm.duty_u16(), pwm.duty_ns())
print("repr", repr(pwm))
p2 = PWM(Pin(14), freq=1000, duty_u16=32768)
print("kw", p2.freq(), p2.duty_u16(), repr(p2))
p3 = PWM(12, 2000, duty_ns=100000)
print("ns", p3.freq(), p3.duty_ns())
err("pwm_led", lambda: PWM(Pin("LED")))
err("pwm30", lambda: PWM(30))
err("pwm_name", lambda: PWM("GP24x"))
err("freq_small", lambda: pwm.freq(5))
err("freq_float", lambda: pwm.freq(50.0))
err("freq_none", lambda: pwm.freq(None))
time.sleep_ms(150)
p2.deinit()
print("done")
