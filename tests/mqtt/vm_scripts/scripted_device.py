# A device for the scripted fake broker (tests/mqtt/fake_broker.py), in the MicroPython VM.
#
# Usage: scripted_device.py HOST PORT CLIENT_ID [key=value ...]
#   user, password, keepalive (default 60), max_payload,
#   will=TOPIC,PAYLOAD,RETAIN(0/1),QOS
#   sub=FILTER:QOS[,FILTER:QOS]  subscribe once (before run() connects)
#   latesub=FILTER:QOS  subscribe after the first READY (prints the granted code)
#   pubs=N        after the first READY publish N QoS 1 messages "m0".. on topic "out" (sequential)
#   par=N         ... or N QoS 1 publishes at once (concurrent tasks)
#   flood0=N     after the first READY publish N QoS 0 messages on "flood" back to back (FLOOD i every 100)
#   pid=N         start the packet id counter at N (the next id is N+1, wrapping after 65535)
#   qos0=N        publish N QoS 0 messages "q0".. on topic "out0" after the first READY
# Every event is one stdout line (MS: milliseconds since the script started, by the VM's own clock):
#   START <MS> (run() starts connecting)  READY <n>  PUBOK <payload> <pid>  PUBERR <payload> <error>  SUBOK <code>
#   MSG <topic> <len> <retained> <oversize> <payload hex 16>  LOG <MS> <line>  HEAP <free> <alloc>
# Inbound commands on topic "cmd": "heap", "quit", "pub X" (one QoS 1 publish of X), "sub F" (subscribe F, QoS 1),
# "wait MS" (sleep MS ms, then one QoS 1 publish of "waited": what the client sent meanwhile came before it).
import asyncio
import gc
import sys
import time

import mqtt_client

host = sys.argv[1]
port = int(sys.argv[2])
cid = sys.argv[3]
opts = {}
for arg in sys.argv[4:]:
    k, v = arg.split("=", 1)
    opts[k] = v

T0 = time.ticks_ms()
state = {"ready": 0}
first_ready = asyncio.Event()
pending = []
wake = asyncio.Event()


def ms():
    return time.ticks_diff(time.ticks_ms(), T0)


def heap():
    gc.collect()
    print("HEAP", gc.mem_free(), gc.mem_alloc())


def on_message(topic, payload, retained, oversize):
    print("MSG", topic, len(payload), int(retained), int(oversize), payload[:16].hex())
    if topic == "cmd":
        pending.append(bytes(payload))
        wake.set()


async def on_connect():
    state["ready"] += 1
    print("READY", state["ready"])
    first_ready.set()


will = None
if "will" in opts:
    wt, wp, wr, wq = opts["will"].split(",")
    will = (wt, wp.encode(), wr == "1", int(wq))

client = mqtt_client.MQTTClient(
    cid, host, port,
    user=opts.get("user"), password=opts.get("password"),
    keepalive=int(opts.get("keepalive", "60")), will=will,
    max_payload=int(opts.get("max_payload", "4096")),
    on_message=on_message, on_connect=on_connect,
    log=lambda line: print("LOG", ms(), line),
)
if "pid" in opts:
    client._pid = int(opts["pid"])


async def pub(payload, topic="out"):
    try:
        await client.publish(topic, payload, qos=1)
        print("PUBOK", payload, client._pid)
    except Exception as e:  # noqa: BLE001 - report any failure as one line
        print("PUBERR", payload, type(e).__name__)


async def sub(topic, qos):
    code = await client.subscribe(topic, qos)
    print("SUBOK", code)


async def waited(delay_ms):
    await asyncio.sleep_ms(delay_ms)
    await pub("waited")


async def main():
    print("START", ms())
    runner = asyncio.create_task(client.run())
    if "sub" in opts:
        for item in opts["sub"].split(","):
            f, q = item.split(":")
            asyncio.create_task(sub(f, int(q)))
    await first_ready.wait()
    heap()
    if "latesub" in opts:
        f, q = opts["latesub"].split(":")
        await sub(f, int(q))
    for i in range(int(opts.get("flood0", "0"))):
        await client.publish("flood", b"f", qos=0)
        if i % 100 == 0:
            print("FLOOD", i)
    for i in range(int(opts.get("qos0", "0"))):
        await client.publish("out0", "q" + str(i), qos=0)
        print("PUB0", i)
    for i in range(int(opts.get("pubs", "0"))):
        await pub("m" + str(i))
    par = int(opts.get("par", "0"))
    if par:
        await asyncio.gather(*[pub("p" + str(i)) for i in range(par)])
    while True:
        await wake.wait()
        wake.clear()
        while pending:
            cmd = pending.pop(0)
            if cmd == b"heap":
                heap()
            elif cmd.startswith(b"pub "):
                asyncio.create_task(pub(cmd[4:].decode()))
            elif cmd.startswith(b"wait "):
                asyncio.create_task(waited(int(cmd[5:])))
            elif cmd.startswith(b"sub "):
                asyncio.create_task(sub(cmd[4:].decode(), 1))
            elif cmd == b"quit":
                await client.disconnect()
                await runner
                print("DONE")
                return


asyncio.run(main())
