from _check import err
from machine import ADC, Pin

a0 = ADC(26)
print("a0_repr", repr(a0))
print("ch_gp27", repr(ADC(Pin(27))))
print("ch_name", repr(ADC("GP28")))
print("ch_int1", repr(ADC(1)))
print("ch_temp", repr(ADC(ADC.CORE_TEMP)))
err("adc15", lambda: ADC(15))
err("adc_pin4", lambda: ADC(Pin(4)))
err("adc30", lambda: ADC(30))
err("adc_neg", lambda: ADC(-1))
err("adc_led", lambda: ADC("LED"))
err("adc_name", lambda: ADC("GP25"))
print("r0", " ".join(str(a0.read_u16()) for _ in range(50)))
t = ADC(4)
print("rt", " ".join(str(t.read_u16()) for _ in range(20)))
print("done")
