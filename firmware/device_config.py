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
    "mqtt_ca": None,
    "mqtt_tls_hostname": None,
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
    if config["mqtt_tls"] not in (False, True):
        raise ConfigError("mqtt_tls must be true or false")
    if config["mqtt_tls"]:
        # Never an unverified TLS connection: the broker's certificate is checked against this CA.
        ca = config["mqtt_ca"]
        if not isinstance(ca, str) or not ca:
            raise ConfigError("mqtt_tls needs mqtt_ca (CA certificate file)")
        if "mqtt_port" not in raw:
            config["mqtt_port"] = 8883
        if not config["mqtt_tls_hostname"]:
            config["mqtt_tls_hostname"] = config["mqtt_host"]
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


def tls_context(config):
    """A TLS context verifying the broker against the DER certificate in file ``mqtt_ca``."""
    import ssl  # only with mqtt_tls: it costs heap

    path = config["mqtt_ca"]
    try:
        with open(path, "rb") as f:
            ca = f.read()
    except OSError:
        raise ConfigError("mqtt_ca file %s is not on the board" % path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED  # MicroPython's default is CERT_NONE
    try:
        ctx.load_verify_locations(cadata=ca)  # MicroPython's mbedTLS parses DER only
    except (ValueError, OSError) as e:
        raise ConfigError("mqtt_ca file %s is not a DER certificate (%s)" % (path, e))
    return ctx
