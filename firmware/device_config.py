# Device configuration: one JSON file on the board's flash, written by labtwin
# (the twin or `labtwin flash`). Keys and defaults are documented in docs/device-config.md.
import json

CONFIG_FILE = "device.json"

DEFAULTS = {
    "topic_prefix": "ot2",
    "board": "unknown",
    "mqtt_port": 1883,
    "mqtt_user": None,
    "mqtt_password": None,
    "mqtt_tls": False,
    "mqtt_keepalive": 15,
    "wifi_ssid": None,
    "wifi_password": None,
    "max_payload": 4096,
    "dedup_size": 16,
    "queue_size": 8,
}

REQUIRED = ("device_id", "mqtt_host")


class ConfigError(Exception):
    """The device config file is missing or invalid."""


def _check_device_id(device_id):
    if not isinstance(device_id, str) or not device_id:
        raise ConfigError("device_id must be a non-empty string")
    for bad in "/+#":
        if bad in device_id:
            raise ConfigError("device_id %r must not contain %r (it is part of MQTT topics)" % (device_id, bad))


def parse(text):
    """Parse and validate config JSON text; returns a dict with defaults filled in."""
    try:
        raw = json.loads(text)
    except ValueError:
        raise ConfigError("%s is not valid JSON" % CONFIG_FILE)
    if not isinstance(raw, dict):
        raise ConfigError("%s must hold a JSON object" % CONFIG_FILE)
    for key in REQUIRED:
        if key not in raw:
            raise ConfigError("%s lacks %r" % (CONFIG_FILE, key))
    config = dict(DEFAULTS)
    config.update(raw)
    _check_device_id(config["device_id"])
    if config["mqtt_tls"]:
        # TLS needs certificate verification done right; it lands with the security work.
        raise ConfigError("mqtt_tls is not supported by this firmware version")
    for key in ("mqtt_port", "mqtt_keepalive", "max_payload", "dedup_size", "queue_size"):
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError("%s must be a positive integer, got %r" % (key, value))
    return config


def load(path=CONFIG_FILE):
    """Read and validate the config file from flash."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ConfigError("no %s on the board: flash one with `labtwin flash`" % path)
    return parse(text)
