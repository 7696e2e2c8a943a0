"""The board's device.json has one builder: the twin boots with what `labtwin flash` would write."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from labtwin.board_firmware import STOCK_FIRMWARE_DIR
from labtwin.scenarios.labs.broker_url import PASSWORD_ENV, USERNAME_ENV, BrokerAddress
from labtwin.scenarios.labs.device_config import BrokerTls, device_config
from labtwin.scenarios.labs.lab_file import board_password_env, parse_lab_config
from labtwin.scenarios.labs.serve_lab import WIFI_PASSWORD_ENV, WIFI_SSID_ENV, bench_file_text
from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.tools import flash


@pytest.fixture(scope="module")
def firmware_config() -> ModuleType:
    """The firmware's own device.json parser (firmware/device_config.py runs on CPython too)."""
    spec = importlib.util.spec_from_file_location("firmware_device_config", STOCK_FIRMWARE_DIR / "device_config.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_board_with_a_login_and_wifi_gets_every_key_the_firmware_reads(firmware_config: ModuleType):
    document = device_config(device_id="pico-a", board="pico_w", broker=BrokerAddress("10.0.0.5", 1884, "pico-a", "pw"),
                             topic_prefix="lab7", wifi=("labnet", "wifi-pw"))
    assert document == {"device_id": "pico-a", "board": "pico_w", "mqtt_host": "10.0.0.5", "mqtt_port": 1884,
                        "mqtt_user": "pico-a", "mqtt_password": "pw", "topic_prefix": "lab7",
                        "wifi_ssid": "labnet", "wifi_password": "wifi-pw"}
    parsed = firmware_config.parse(json.dumps(document))
    assert (parsed["mqtt_user"], parsed["topic_prefix"], parsed["mqtt_tls"]) == ("pico-a", "lab7", False)


def test_an_anonymous_board_without_wifi_leaves_those_keys_to_the_firmware_defaults(firmware_config: ModuleType):
    document = device_config(device_id="esp-1", board="esp32", broker=BrokerAddress("broker.lab", 1883))
    assert set(document) == {"device_id", "board", "mqtt_host", "mqtt_port", "topic_prefix"}
    parsed = firmware_config.parse(json.dumps(document))
    assert parsed["mqtt_user"] is None and parsed["wifi_ssid"] is None and parsed["topic_prefix"] == "ot2"


def test_a_tls_broker_is_verified_with_the_named_ca(firmware_config: ModuleType):
    document = device_config(device_id="pico-a", board="pico_w", broker=BrokerAddress("10.0.0.5", 8883, "u", "p"),
                             tls=BrokerTls("lab-ca.der", hostname="broker.lab"))
    parsed = firmware_config.parse(json.dumps(document))
    assert (parsed["mqtt_tls"], parsed["mqtt_ca"], parsed["mqtt_tls_hostname"]) == (True, "lab-ca.der", "broker.lab")
    default_name = firmware_config.parse(json.dumps(device_config(
        device_id="pico-a", board="pico_w", broker=BrokerAddress("10.0.0.5", 8883), tls=BrokerTls("lab-ca.der"))))
    assert default_name["mqtt_tls_hostname"] == "10.0.0.5"


async def test_a_twin_board_boots_with_the_config_flashing_would_write_for_the_same_lab(tmp_path: Path):
    async with TwinLab(devices=["pico-a"], topic_prefix="lab7", work_dir=tmp_path / "lab", timeout=5.0) as lab:
        address, broker = lab.broker_address, lab.broker
        assert address is not None and broker is not None
        # The lab file `labtwin serve lab` writes for this lab, and the secrets it puts in its .env.
        text = bench_file_text(address.url, [("pico-a", "pico_w", None, board_password_env("pico-a"))],
                               topic_prefix=lab.topic_prefix)
        ssid, wifi_password = lab.wifi_credentials
        environ = {USERNAME_ENV: address.username or "", PASSWORD_ENV: address.password or "",
                   board_password_env("pico-a"): broker.users["pico-a"],
                   WIFI_SSID_ENV: ssid, WIFI_PASSWORD_ENV: wifi_password}
        config = parse_lab_config(text, source="served.toml", environ=environ)
        booted = lab.board("pico-a").device_config
    assert flash.device_config(config, "pico-a", "pico_w") == booted
    assert (booted["mqtt_user"], booted["topic_prefix"], booted["wifi_ssid"]) == ("pico-a", "lab7", ssid)
