# asyncio.StreamReader/StreamWriter on a machine.UART: the VM's poll wakes on the UART's doorbell fd.
import asyncio
import os

from machine import UART

esp = os.getenv("LABTWIN_BOARD_PROFILE") == "esp32"
u = UART(1, 115200, tx=4, rx=5) if esp else UART(0, 115200)


async def ticker(counts):
    while True:  # proves the loop keeps running other tasks while the reader waits
        counts[0] += 1
        await asyncio.sleep_ms(10)


async def main():
    reader = asyncio.StreamReader(u)
    writer = asyncio.StreamWriter(u, {})
    counts = [0]
    tick = asyncio.create_task(ticker(counts))
    for i in range(3):
        writer.write(b"ping %d\n" % i)
        await writer.drain()
        print("line%d" % i, (await reader.readline()).decode().strip())
    try:
        await asyncio.wait_for(reader.readline(), 0.2)
        print("idle", "got something")
    except asyncio.TimeoutError:
        print("idle", "timeout")
    print("ticks", counts[0] >= 10)
    tick.cancel()


asyncio.run(main())
print("done")
