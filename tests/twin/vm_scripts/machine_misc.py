import machine
from _check import err

uid = machine.unique_id()
print("uid", len(uid), type(uid).__name__)
print("freq", machine.freq())
machine.freq(133_000_000)
print("freq2", machine.freq())
err("freq_bad", lambda: machine.freq(1_234_567))
print("cause", machine.reset_cause(), machine.PWRON_RESET, machine.WDT_RESET)
machine.idle()
print("done")
