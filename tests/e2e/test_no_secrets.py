"""No secrets in the repository, in any log, or in the retained status (issue #8, "Security").

A twin lab generates a password per board, one for the orchestrator and one for its WiFi. After
a boot, tasks, a broker restart and a reconnect, none of them may appear in: the Python logs at
DEBUG level (labtwin's, aiomqtt's, amqtt's), the boards' console output, Mosquitto's log, the
retained status messages, or the repr of the lab's broker address.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path

import aiomqtt
import pytest
from testkit import BROKERS

from labtwin.scenarios.labs.twin_lab import TwinLab

REPO = Path(__file__).resolve().parents[2]
PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----")
SECRET_FILE = re.compile(r"(^|/)(\.env(\..*)?|passwd|[^/]*\.(env|pem|key|p12|pfx))$")  # *.env: `labtwin serve lab`


def _tracked_files() -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [name for name in out.decode().split("\0") if name]


def test_the_repository_holds_no_private_keys_or_secret_files() -> None:
    files = _tracked_files()
    assert len(files) > 50  # the listing worked
    assert [f for f in files if SECRET_FILE.search(f)] == []
    with_keys = [f for f in files if (REPO / f).is_file() and PRIVATE_KEY.search((REPO / f).read_bytes())]
    assert with_keys == []


@pytest.mark.parametrize("broker", BROKERS)
async def test_no_password_reaches_a_log_or_the_retained_status(broker: str, tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    console: list[str] = []
    for logger in ("", "amqtt", "mqtt", "orchestrator", "labtwin"):  # mqtt: aiomqtt's (and paho's) logger
        caplog.set_level(logging.DEBUG, logger=logger)
    async with TwinLab(devices=["pico-a", "pico-b"], broker=broker, work_dir=tmp_path / "lab", timeout=10.0,
                       on_output=lambda device, line: console.append(line)) as lab:
        assert lab.broker is not None and lab.broker.users is not None and lab.broker_address is not None
        secrets = [*lab.broker.users.values(), lab.wifi_credentials[1]]
        for device_id in lab.device_ids:
            await lab.client(device_id).execute_task("read_sensor", sensor_pin=26)
        await lab.broker.restart()
        for device_id in lab.device_ids:
            await lab.wait_online(device_id, timeout=15)
            await lab.client(device_id).execute_task("get_device_status")
        address = lab.broker_address
        statuses: list[bytes] = []
        async with aiomqtt.Client(address.host, address.port, username=address.username,
                                  password=address.password, identifier="secret-audit") as auditor:
            await auditor.subscribe(f"{lab.topic_prefix}/+/status", qos=1)
            async for message in auditor.messages:
                if message.retain and isinstance(message.payload, bytes):
                    statuses.append(message.payload)
                if len(statuses) == len(lab.device_ids):
                    break
        places = {
            "python logs": caplog.text,
            "board consoles": "\n".join(console),
            "retained status": b"\n".join(statuses).decode(),
            "broker address repr": repr(address),
        }
        mosquitto_log = getattr(lab.broker, "log_path", None)
        if mosquitto_log is not None:
            places["mosquitto log"] = mosquitto_log.read_text(encoding="utf-8", errors="replace")
    assert all(len(secret) >= 12 for secret in secrets)  # long enough not to occur by chance
    assert "pico-a" in places["board consoles"] and len(caplog.records) > 20  # there was something to read
    leaks = [(where, secret[:3] + "...") for where, text in places.items() for secret in secrets if secret in text]
    assert leaks == []
