"""The firmware's MQTT client over TLS (issue #8): it verifies the broker, always.

firmware/mqtt_client.py runs in the MicroPython VM (mbedTLS) against mosquitto
with an opt-in TLS listener. The certificates are generated here, per test
session, with ``cryptography`` (no key is ever committed): a CA, a server
certificate for ``broker.lab`` (no IP SAN, so 127.0.0.1 does not match), an
expired one from the same CA, and an unrelated CA.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import device_config
import pytest
from mqtt_client import MQTTClient
from testkit import needs_mosquitto

from labtwin.twin.board.vm_launch import SHIM_DIR, vm_argv
from labtwin.twin.brokers import MosquittoBroker

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402 (after the skip)
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
VM_SCRIPTS = Path(__file__).resolve().parent / "vm_scripts"
VM_HEAP = 180000  # as conftest.py


SCRIPT = "tls_device.py"
VMFactory = Callable[..., Awaitable[Any]]
BrokerFactory = Callable[..., Awaitable[MosquittoBroker]]
DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Pki:
    ca_der: Path
    ca_pem: Path
    other_ca_der: Path
    server: tuple[Path, Path]  # (certfile, keyfile) for broker.lab
    expired: tuple[Path, Path]


def _name(cn: str) -> Any:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY).not_valid_after(now + DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _server(ca: tuple[ec.EllipticCurvePrivateKey, Any], host: str, dest: Path,
            expired: bool = False) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    start, end = (now - 10 * DAY, now - DAY) if expired else (now - DAY, now + DAY)
    cert = (
        x509.CertificateBuilder().subject_name(_name(host)).issuer_name(ca[1].subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(ca[0], hashes.SHA256())
    )
    certfile, keyfile = dest.with_suffix(".crt"), dest.with_suffix(".key")
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.touch(mode=0o600)
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return certfile, keyfile


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca, other = _ca("labtwin test CA"), _ca("some other CA")
    (d / "ca.der").write_bytes(ca[1].public_bytes(serialization.Encoding.DER))
    (d / "ca.pem").write_bytes(ca[1].public_bytes(serialization.Encoding.PEM))
    (d / "other.der").write_bytes(other[1].public_bytes(serialization.Encoding.DER))
    return Pki(d / "ca.der", d / "ca.pem", d / "other.der",
               _server(ca, "broker.lab", d / "server"), _server(ca, "broker.lab", d / "expired", expired=True))


@pytest.fixture
def tls_broker(make_broker: Any) -> Any:
    """``await tls_broker((certfile, keyfile))``: a TLS-only Mosquitto (stopped by make_broker)."""

    async def make(cert: tuple[Path, Path]) -> MosquittoBroker:
        broker = await make_broker("mosquitto", tls=cert)
        assert isinstance(broker, MosquittoBroker)
        return broker

    return make


async def _device(start_vm: VMFactory, broker: MosquittoBroker, cid: str, ca: Path, hostname: str) -> Any:
    return await start_vm(SCRIPT, broker.host, broker.port, cid, ca, hostname)


# ------------------------------------------------------------------ in the VM, against mosquitto


@needs_mosquitto
async def test_verified_tls_connects_and_publishes(pki: Pki, tls_broker: Any, start_vm: VMFactory) -> None:
    broker = await tls_broker(pki.server)
    vm = await _device(start_vm, broker, "t1", pki.ca_der, "broker.lab")
    await vm.expect(r"^LOG mqtt: connected to ")
    _, m = await vm.expect(r"^PUBACK (\d+)")
    await vm.expect(r"^DONE")
    assert await vm.proc.wait() == 0, vm.output()
    heap = {k: int(v) for k, v in (line.split()[1:] for _, line in vm.lines if line.startswith("HEAP "))}
    print(f"TLS heap: context {heap['context']} B, connected {heap['connected']} B, "
          f"after close {heap['closed']} B; PUBACK in {m[1]} ms")  # shown by pytest -rP
    assert "New client connected from" in broker.log_path.read_text()


async def _refused(pki: Pki, tls_broker: Any, start_vm: VMFactory, cert: tuple[Path, Path], ca: Path,
                   hostname: str, why: str) -> None:
    broker = await tls_broker(cert)
    vm = await _device(start_vm, broker, "t2", ca, hostname)
    await vm.expect(r"^LOG mqtt: connect to .* failed \(ValueError .*" + why)
    await vm.expect(r"^LOG mqtt: connect to .* failed")  # and it keeps refusing
    assert "connected to" not in vm.output()
    vm.kill()
    await vm.close()
    log = broker.log_path.read_text()
    assert "New connection from" in log  # the TCP connection was made...
    assert "New client connected" not in log  # ...but no MQTT session: CONNECT never left the board


@needs_mosquitto
async def test_wrong_ca_is_refused(pki: Pki, tls_broker: Any, start_vm: VMFactory) -> None:
    await _refused(pki, tls_broker, start_vm, pki.server, pki.other_ca_der, "broker.lab", "not correctly signed")


@needs_mosquitto
async def test_expired_server_certificate_is_refused(pki: Pki, tls_broker: Any, start_vm: VMFactory) -> None:
    await _refused(pki, tls_broker, start_vm, pki.expired, pki.ca_der, "broker.lab", "validity has expired")


@needs_mosquitto
@pytest.mark.parametrize("hostname", ["other.lab", "127.0.0.1"])
async def test_hostname_mismatch_is_refused(pki: Pki, tls_broker: Any, start_vm: VMFactory, hostname: str) -> None:
    await _refused(pki, tls_broker, start_vm, pki.server, pki.ca_der, hostname, "does not match")


# ------------------------------------------------------------------ boot: no CA, no TLS


async def _boot(flash: Path, config: dict[str, object]) -> tuple[int | None, str]:
    """Boot firmware/main.py in the VM with ``flash`` as the board's flash holding ``config``."""
    (flash / "device.json").write_text(json.dumps(config))
    env = dict(os.environ, MICROPYPATH=f"{REPO / 'firmware'}:{SHIM_DIR}:.frozen")
    proc = await asyncio.create_subprocess_exec(
        *vm_argv(VM_HEAP, str(VM_SCRIPTS / SCRIPT), "boot", str(flash)), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env=env,
    )
    try:
        async with asyncio.timeout(10):
            out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode, out.decode(errors="replace")


BASE = {"device_id": "pico-tls", "mqtt_host": "127.0.0.1", "mqtt_tls": True}


async def test_boot_refuses_tls_without_a_ca(tmp_path: Path) -> None:
    rc, out = await _boot(tmp_path, BASE)
    assert rc == 2, out
    assert "config error: mqtt_tls needs mqtt_ca" in out, out


async def test_boot_refuses_a_missing_or_invalid_ca_file(pki: Pki, tmp_path: Path) -> None:
    rc, out = await _boot(tmp_path, dict(BASE, mqtt_ca="ca.der"))
    assert rc == 2 and "config error: mqtt_ca file ca.der is not on the board" in out, out
    # Garbage, and PEM: MicroPython's mbedTLS parses DER only (convert with `openssl x509 -outform der`).
    for content in (b"not a certificate", pki.ca_pem.read_bytes()):
        (tmp_path / "ca.der").write_bytes(content)
        rc, out = await _boot(tmp_path, dict(BASE, mqtt_ca="ca.der"))
        assert rc == 2 and "config error: mqtt_ca file ca.der is not a DER certificate" in out, out


# ------------------------------------------------------------------ CPython: config and client checks


def test_config_tls_defaults() -> None:
    cfg = device_config.parse(json.dumps(dict(BASE, mqtt_ca="ca.der")))
    assert cfg["mqtt_port"] == 8883 and cfg["mqtt_tls_hostname"] == "127.0.0.1"
    cfg = device_config.parse(json.dumps(dict(BASE, mqtt_ca="ca.der", mqtt_port=8884, mqtt_tls_hostname="broker.lab")))
    assert cfg["mqtt_port"] == 8884 and cfg["mqtt_tls_hostname"] == "broker.lab"
    plain = device_config.parse(json.dumps({"device_id": "d", "mqtt_host": "h"}))
    assert plain["mqtt_port"] == 1883 and not plain["mqtt_tls"]
    for bad in ({"mqtt_tls": "yes", "mqtt_ca": "ca.der"}, {"mqtt_ca": ""}, {"mqtt_ca": None}):
        with pytest.raises(device_config.ConfigError):
            device_config.parse(json.dumps(dict(BASE, **bad)))


def test_client_refuses_an_unverifying_context() -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with pytest.raises(ValueError, match="does not verify"):
        MQTTClient("d", "127.0.0.1", ssl=ctx)
