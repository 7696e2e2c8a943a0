# Boot entry point: load the device config, then serve tasks over MQTT forever.
import asyncio

import device_config
import stock_tasks  # noqa: F401  (registers the stock tasks)
from device_service import DeviceService, log


def main():
    try:
        config = device_config.load()
    except device_config.ConfigError as e:
        log("config error: %s" % e)
        raise SystemExit(2)
    service = DeviceService(config)
    try:
        asyncio.run(service.run())
    except KeyboardInterrupt:
        log("interrupted: going offline")
        asyncio.run(service.stop())


main()
