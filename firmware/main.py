# Boot entry point: load the device config, then serve tasks over MQTT forever.
import asyncio

import device_config
import stock_tasks  # noqa: F401  (registers the stock tasks)
from device_service import DeviceService, log
from mqtt_client import MQTTClient


def main():
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


main()
