# Pin.irq on Button models the test presses after each "ready" line: the handler runs as a soft IRQ
# while the firmware sleeps, while it awaits asyncio, and once per edge of a bouncing contact.
import asyncio
import os
import time

from _check import err
from machine import Pin

esp = os.getenv("LABTWIN_BOARD_PROFILE") == "esp32"
print("consts", Pin.IRQ_FALLING, Pin.IRQ_RISING)

pin = Pin(14, Pin.IN, Pin.PULL_UP)
seen = []
where = [None]


def on_press(p):
    seen.append((p is pin, p.value(), where[0]))


irq = pin.irq(on_press, Pin.IRQ_FALLING)
print("trigger", irq.trigger() == Pin.IRQ_FALLING)

# 1. While the firmware sleeps: one long sleep per round, the handler runs inside it.
print("ready sleep")
t0 = time.ticks_ms()
while not seen and time.ticks_diff(time.ticks_ms(), t0) < 10000:
    where[0] = "sleep"
    time.sleep_ms(1000)
    where[0] = None
print("sleep_press", seen, irq.flags() == Pin.IRQ_FALLING)

# 2. While it awaits asyncio: a ThreadSafeFlag set by the handler wakes the waiting task.
del seen[:]
flag = asyncio.ThreadSafeFlag()


def on_press_async(p):
    seen.append(where[0])
    flag.set()


pin.irq(handler=on_press_async, trigger=Pin.IRQ_FALLING)


async def wait_press():
    where[0] = "asyncio"
    print("ready asyncio")
    await asyncio.wait_for(flag.wait(), 10)
    where[0] = None


asyncio.run(wait_press())
print("asyncio_press", seen)

# 3. A bouncing contact on another pin: every edge is an interrupt.
bouncy = Pin(15, Pin.IN, Pin.PULL_UP)
edges = []
bouncy.irq(lambda p: edges.append(p.irq().flags()), Pin.IRQ_FALLING | Pin.IRQ_RISING)
print("ready bounce")
t0 = time.ticks_ms()
while len(edges) < 2 and time.ticks_diff(time.ticks_ms(), t0) < 10000:
    time.sleep_ms(10)
time.sleep_ms(300)  # the press and its release have settled by now (the test presses for 100 ms)
falling = len([f for f in edges if f == Pin.IRQ_FALLING])
rising = len([f for f in edges if f == Pin.IRQ_RISING])
print("bounce_edges", len(edges), falling, rising)

# 4. handler=None stops the interrupts.
bouncy.irq(None)
pin.irq(None)
if esp:
    err("hard_kw", lambda: pin.irq(on_press, hard=True))
else:
    err("led_irq", lambda: Pin("LED").irq(on_press))
err("extra", lambda: pin.irq(on_press, 1, False, 4))
print("done")
