"""The board's ``device.json`` (docs/device-config.md), built in one place.

A twin lab writes it into each simulated board's flash; ``labtwin flash`` copies it onto a real
board from a lab file. Both call :func:`device_config`, so a board boots with the same settings in
either column when it is given the same broker, login, topic prefix and WiFi.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from labtwin.orchestrator.protocol import DEFAULT_TOPIC_PREFIX
from labtwin.scenarios.labs.broker_url import BrokerAddress

__all__ = ["BrokerTls", "device_config"]


@dataclass(frozen=True)
class BrokerTls:
    """How a board verifies a TLS broker (docs/security.md): there is no unverified TLS."""

    ca_file: str
    """File name, on the board's flash, of the DER CA certificate that issued the broker's."""
    hostname: str | None = None
    """The name the broker's certificate must carry (default: the broker's host)."""


def device_config(*, device_id: str, board: str, broker: BrokerAddress, topic_prefix: str = DEFAULT_TOPIC_PREFIX,
                  wifi: tuple[str, str] | None = None, tls: BrokerTls | None = None,
                  settings: Mapping[str, object] | None = None) -> dict[str, object]:
    """The ``device.json`` document for one board.

    Args:
        device_id: the board's device id (its MQTT client id and topic segment).
        board: the board kind reported in its status (``pico_w``, ``esp32``).
        broker: where the board connects, and the user it logs in as: its own user where the broker
            gives it one (an ACL confines it to its own topics), else the lab's. Without a user name
            the board connects anonymously (no ``mqtt_user``/``mqtt_password`` keys).
        topic_prefix: the first topic segment.
        wifi: (SSID, password) of the network to join; None leaves WiFi untouched.
        tls: connect over TLS, verifying the broker with this CA.
        settings: the board's own settings from the lab file (keys its firmware reads; labtwin's own
            keys are refused where the settings are checked).
    """
    document: dict[str, object] = {"device_id": device_id, "board": board, "mqtt_host": broker.host,
                                   "mqtt_port": broker.port}
    if broker.username is not None:
        document["mqtt_user"] = broker.username
        document["mqtt_password"] = broker.password
    if tls is not None:
        document["mqtt_tls"] = True
        document["mqtt_ca"] = tls.ca_file
        if tls.hostname is not None:
            document["mqtt_tls_hostname"] = tls.hostname
    document["topic_prefix"] = topic_prefix
    if wifi is not None:
        document["wifi_ssid"], document["wifi_password"] = wifi
    document.update(settings or {})
    return document
