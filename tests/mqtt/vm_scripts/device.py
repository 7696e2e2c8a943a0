# A test device for the MicroPython VM: drives firmware/mqtt_client.py.
#
# Usage: device.py HOST PORT CLIENT_ID [key=value ...]
#   keys: user, password, keepalive, max_payload, will (1 = retained QoS 1 will
#   "offline" on dev/ID/status), sub (0 = do not subscribe)
#
# Every event is one stdout line, for the test to parse:
#   HEAP <phase> <bytes allocated>        READY <connect count> <ms since start>
#   MSG <topic> <len> <retained 0/1> <oversize 0/1> <payload hex, first 16 bytes>
#   LOG <client log line>                 ECHOED <payload>
#   BENCH <n> <median us> <p99 us> <max us>   DONE
#   FRAGMENTED <free bytes> <1 if max_payload + 1 bytes can still be allocated, else 0>
# Commands, published to dev/ID/cmd: "echo X" (reply on dev/ID/echo, QoS 1),
# "bench N" (N sequential QoS 1 publishes, timed), "heap", "quit",
# "frag GAP" (fragment the heap for good, then subscribe to dev/ID/data, which is only reported).
import gc
import sys
import time

import micropython

gc.collect()
HEAP0 = gc.mem_alloc()

import asyncio  # noqa: E402

import mqtt_client  # noqa: E402

gc.collect()
print("HEAP import", gc.mem_alloc() - HEAP0)

import heap_fragmenter  # noqa: E402  (a test helper: not counted in the client's import heap)

host = sys.argv[1]
port = int(sys.argv[2])
cid = sys.argv[3]
opts = {}
for arg in sys.argv[4:]:
    k, v = arg.split("=", 1)
    opts[k] = v

T0 = time.ticks_ms()
base = "dev/" + cid
pending = []  # commands from on_message, run by the main task
wake = asyncio.Event()
state = {"connects": 0}


def on_message(topic, payload, retained, oversize):
    print("MSG", topic, len(payload), int(retained), int(oversize), payload[:16].hex())
    if topic == base + "/cmd":
        pending.append(bytes(payload))  # payload is only valid during the call
        wake.set()


async def on_connect():
    state["connects"] += 1
    await client.publish(base + "/status", "online %d" % state["connects"], qos=1, retain=True)
    print("READY", state["connects"], time.ticks_diff(time.ticks_ms(), T0))


will = None
if opts.get("will") == "1":
    will = (base + "/status", b"offline", True, 1)

client = mqtt_client.MQTTClient(
    cid, host, port,
    user=opts.get("user"), password=opts.get("password"),
    keepalive=int(opts.get("keepalive", "15")), will=will,
    max_payload=int(opts.get("max_payload", "4096")),
    on_message=on_message, on_connect=on_connect,
    log=lambda line: print("LOG", line),
)


def fragment(gap, size):
    free, fits = heap_fragmenter.fragment(gap, size)
    return free, int(fits)


async def bench(n):
    times = []
    for i in range(n):
        t = time.ticks_us()
        await client.publish(base + "/bench", b"x" * 32, qos=1)
        times.append(time.ticks_diff(time.ticks_us(), t))
    times.sort()
    print("BENCH", n, times[n // 2], times[min(n - 1, (n * 99) // 100)], times[-1])


async def main():
    runner = asyncio.create_task(client.run())
    if opts.get("sub", "1") == "1":
        await client.subscribe(base + "/cmd", 1)
    while True:
        await wake.wait()
        wake.clear()
        while pending:
            cmd = pending.pop(0)
            if cmd.startswith(b"echo "):
                await client.publish(base + "/echo", cmd[5:], qos=1)
                print("ECHOED", cmd[5:].decode())
            elif cmd.startswith(b"bench "):
                await bench(int(cmd[6:]))
            elif cmd == b"heap":
                gc.collect()
                print("HEAP running", gc.mem_alloc() - HEAP0)
                print("HEAP peak", micropython.mem_peak())
            elif cmd.startswith(b"frag "):
                free, fits = fragment(int(cmd[5:]), client.max_payload + 1)
                await client.subscribe(base + "/data", 1)
                print("FRAGMENTED", free, fits)
            elif cmd == b"quit":
                await client.disconnect()
                await runner
                print("DONE")
                return


asyncio.run(main())
