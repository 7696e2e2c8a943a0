# A TLS test device for the MicroPython VM: firmware/mqtt_client.py over TLS,
# its context built by firmware/device_config.py from a CA file.
#
# Usage: tls_device.py HOST PORT CLIENT_ID CA_FILE TLS_HOSTNAME
#        tls_device.py boot DIR     (runs firmware/main.py with DIR as the board's flash)
# Lines: LOG <client log line>  HEAP <phase> <bytes>  PUBACK <ms>  DONE
import gc
import os
import sys
import time

if sys.argv[1] == "boot":
    os.chdir(sys.argv[2])
    # No hardware bus here: main.py refuses the config before any task could run.
    sys.modules["stock_tasks"] = sys
    import main

    sys.exit(0)

import asyncio

import device_config
import mqtt_client

host, port, cid, ca, hostname = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
connected = asyncio.Event()


async def on_connect():
    connected.set()


async def main():
    gc.collect()
    free0 = gc.mem_free()
    ctx = device_config.tls_context({"mqtt_ca": ca})
    gc.collect()
    print("HEAP context", free0 - gc.mem_free())
    client = mqtt_client.MQTTClient(cid, host, port, ssl=ctx, server_hostname=hostname,
                                    on_connect=on_connect, log=lambda line: print("LOG", line))
    runner = asyncio.create_task(client.run())
    await connected.wait()
    gc.collect()
    print("HEAP connected", free0 - gc.mem_free())
    t = time.ticks_ms()
    await client.publish("dev/%s/tls" % cid, b"over tls", qos=1)
    print("PUBACK", time.ticks_diff(time.ticks_ms(), t))
    await client.disconnect()
    await runner
    gc.collect()
    print("HEAP closed", free0 - gc.mem_free())
    print("DONE")


asyncio.run(main())
