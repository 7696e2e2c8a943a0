"""Loopback MQTT brokers for the twin and its tests.

``AmqttBroker`` embeds amqtt in the current asyncio loop (no binary needed);
``MosquittoBroker`` runs Debian's mosquitto as a child process. Both expose
``host``, ``port`` (the bound port once started), ``url``, ``users``,
``start()``, ``stop()``, ``restart()`` (same port) and ``async with``. Start
failures raise :class:`labtwin.errors.BrokerUnavailable`. Both take
``acl=DeviceAcl(...)`` (with ``users``) to confine each board to its own
topics; amqtt enforces less than mosquitto (docs/security.md).
"""

from labtwin.twin.brokers.acl import DeviceAcl
from labtwin.twin.brokers.amqtt_broker import AmqttBroker, quiet_amqtt_logging
from labtwin.twin.brokers.mosquitto_broker import MosquittoBroker, mosquitto_available

__all__ = ["AmqttBroker", "DeviceAcl", "MosquittoBroker", "mosquitto_available", "quiet_amqtt_logging"]
