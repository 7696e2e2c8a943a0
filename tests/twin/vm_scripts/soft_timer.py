# machine.Timer in the VM: callbacks run as soft IRQs while the firmware sleeps and while it awaits
# asyncio. asyncio is imported first, so the scheduler wraps the poller asyncio already made.
import asyncio
import os
import time

import machine
from _check import err
from machine import Timer

esp = os.getenv("LABTWIN_BOARD_PROFILE") == "esp32"
count = {"a": 0, "one": 0, "c": 0}
sleeping = [False]
during = [0]


def tick_a(t):
    count["a"] += 1
    if sleeping[0]:
        during[0] += 1


def bump(key):
    count[key] += 1


def wait_for(key, n, limit_ms=10000):
    # Sleep in small steps until count[key] reaches n: the sleeps are where callbacks run.
    t0 = time.ticks_ms()
    while count[key] < n and time.ticks_diff(time.ticks_ms(), t0) < limit_ms:
        time.sleep_ms(10)
    return count[key] >= n


a = Timer(0 if esp else -1, mode=Timer.PERIODIC, period=20, callback=tick_a)
print("repr", repr(a))
sleeping[0] = True
time.sleep_ms(500)
sleeping[0] = False
print("sleep_ticks", count["a"], during[0])

count["a"] = 0


async def main():
    await asyncio.sleep_ms(500)


asyncio.run(main())
print("async_ticks", count["a"])

# One-shot: fires once, while the periodic timer goes on ticking (it proves the window was observed).
one = Timer(1 if esp else -1, mode=Timer.ONE_SHOT, period=30, callback=lambda t: bump("one"))
start = count["a"]
wait_for("a", start + 15)
print("one_shot", count["one"], count["a"] - start >= 15)

# deinit stops a timer: a third timer keeps counting meanwhile.
a.deinit()
stopped_at = count["a"]
c = Timer(2 if esp else -1, period=10, callback=lambda t: bump("c"))
print("marker_ran", wait_for("c", 10))
print("after_deinit", count["a"] - stopped_at)

# disable_irq holds soft IRQs back until enable_irq, which runs what fell due.
state = machine.disable_irq()
held_at = count["c"]
time.sleep_ms(100)
held = count["c"] - held_at
machine.enable_irq(state)
print("held", state, held, count["c"] - held_at >= 1)
c.deinit()


# A callback that raises: its traceback is printed and the firmware goes on.
def boom(t):
    raise ValueError("from a timer")


d = Timer(3 if esp else -1, mode=Timer.ONE_SHOT, period=5, callback=boom)
time.sleep_ms(50)
print("after_raise", "alive")

if esp:
    err("no_id", lambda: Timer())
    err("id_4", lambda: Timer(4))
    err("virtual_too_short", lambda: Timer(-1, period=5, callback=tick_a))
    err("hard", lambda: Timer(0, period=20, hard=True, callback=tick_a))
    v = Timer(-1, period=50, callback=tick_a)
    print("virtual_repr", repr(v))
    v.deinit()
    err("unset_deinit", lambda: Timer(-1).deinit())
else:
    err("id_0", lambda: Timer(0))
    err("positional", lambda: Timer(-1, 5))
    f = Timer(freq=100, callback=tick_a)
    print("freq_repr", repr(f))
    f.deinit()
    print("fresh_repr", repr(Timer()))
err("bad_period", lambda: Timer(0 if esp else -1, period=1.5, callback=tick_a))
print("done")
