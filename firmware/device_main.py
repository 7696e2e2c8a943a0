# The device's life: load the device config, then serve the registered tasks over MQTT forever.
# main.py imports the task modules (which register their tasks), then calls run().
import asyncio

import device_config
from device_service import DeviceService, log
from mqtt_client import MQTTClient


def run():
    """Serve every registered task until interrupted (exit status 2 on a bad device config)."""
    try:
        config = device_config.load()
        client_class = MQTTClient
        if config["mqtt_tls"]:  # never unverified: no CA, no boot
            ctx = device_config.tls_context(config)
            client_class = lambda *a, **k: MQTTClient(  # noqa: E731
                *a, ssl=ctx, server_hostname=config["mqtt_tls_hostname"], **k)
    except device_config.ConfigError as e:
        log("config error: %s" % e)
        raise SystemExit(2)
    service = DeviceService(config, client_class=client_class)
    try:
        asyncio.run(service.run())
    except KeyboardInterrupt:
        log("interrupted: going offline")
        asyncio.run(service.stop())

