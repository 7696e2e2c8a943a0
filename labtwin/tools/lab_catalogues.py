"""A lab's task catalogues and its OT-2 task server's OpenAPI document, read from the lab itself (issue #17).

``labtwin docs`` documents what the boards really publish: each board's catalogue is the ``tasks`` of
its retained status on the lab's broker. A bench (or the lab file ``labtwin serve lab`` writes) is read
where it runs; a twin lab is started briefly and read the same way, through its broker. The OT-2 task
server, when the lab has one, serves its own OpenAPI document at ``/openapi.json`` (no token needed).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labtwin.errors import BrokerUnavailable, LabtwinError, ProtocolError
from labtwin.orchestrator.protocol import DeviceStatus, Topics

if TYPE_CHECKING:
    from labtwin.scenarios.labs.broker_url import BrokerAddress
    from labtwin.scenarios.labs.lab_file import LabConfig

__all__ = ["DEFAULT_TWIN_DEVICE", "LabCatalogues", "bench_catalogues", "fetch_openapi", "read_catalogues",
           "twin_catalogues"]

DEFAULT_TWIN_DEVICE = "pico-w-lab-001"
"""The board of the twin lab documented without a lab file (the one ``labtwin serve lab`` serves)."""


@dataclass(frozen=True)
class LabCatalogues:
    """What the documents are built from: each board's catalogue, where the broker is, the OT-2's OpenAPI."""

    catalogues: dict[str, dict[str, Any]]
    """Device id -> its retained status's ``tasks``, in the lab file's board order."""
    topic_prefix: str
    broker_url: str
    """``mqtt://HOST:PORT``, never with credentials."""
    openapi: dict[str, Any] | None
    """The OT-2 task server's OpenAPI document; None when the lab has no task server."""


async def read_catalogues(address: BrokerAddress, device_ids: Sequence[str], *, topic_prefix: str,
                          timeout: float) -> dict[str, dict[str, Any]]:
    """Each board's task catalogue from its retained status on the broker at ``address``.

    Waits until every board's status is online (one that is booting may still show its last will).

    Raises:
        BrokerUnavailable: the broker cannot be reached.
        LabtwinError: a board published no status, or only an offline one, within ``timeout`` seconds.
    """
    import aiomqtt

    topics = {Topics(device_id, topic_prefix).status: device_id for device_id in device_ids}
    statuses: dict[str, DeviceStatus] = {}

    def complete() -> bool:
        return len(statuses) == len(topics) and all(status.online for status in statuses.values())

    try:
        async with aiomqtt.Client(address.host, address.port, username=address.username,
                                  password=address.password, identifier=f"labtwin-docs-{uuid.uuid4().hex[:8]}",
                                  clean_session=True) as client:
            await client.subscribe([(topic, 1) for topic in topics])  # one SUBSCRIBE: each retained status once
            try:
                async with asyncio.timeout(timeout):
                    async for message in client.messages:
                        device_id = topics.get(message.topic.value)
                        payload = message.payload if isinstance(message.payload, (bytes, str)) else b""
                        if device_id is None:
                            continue
                        try:
                            statuses[device_id] = DeviceStatus.decode(payload)
                        except ProtocolError:
                            continue  # a broken status is no catalogue: reported below as none
                        if complete():
                            break
            except TimeoutError:
                pass
    except aiomqtt.MqttError as e:
        raise BrokerUnavailable(f"cannot read the task catalogues from MQTT broker {address.host}:{address.port}: "
                                f"{e}") from None
    silent = [device_id for device_id in device_ids if device_id not in statuses]
    offline = [device_id for device_id in device_ids if device_id in statuses and not statuses[device_id].online]
    if silent or offline:
        problems = []
        if silent:
            problems.append(f"no status from {', '.join(silent)} (check that the board runs and that its "
                            f"topic prefix is {topic_prefix!r})")
        if offline:
            problems.append(f"{', '.join(offline)} offline (its retained status is its last will)")
        raise LabtwinError(f"no task catalogue within {timeout:g} s on mqtt://{address.host}:{address.port}: "
                           + "; ".join(problems))
    return {device_id: dict(statuses[device_id].tasks) for device_id in device_ids}


async def fetch_openapi(url: str, *, timeout: float) -> dict[str, Any]:
    """The OpenAPI document an HTTP task server at ``url`` serves (``/openapi.json``, public).

    Raises:
        LabtwinError: the server cannot be reached or does not answer with a JSON object.
    """
    import httpx

    where = url.rstrip("/") + "/openapi.json"
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(where)
            response.raise_for_status()
            document = response.json()
    except (httpx.HTTPError, ValueError) as e:
        raise LabtwinError(f"cannot read the OT-2 task server's OpenAPI document at {where}: {e}") from None
    if not isinstance(document, dict) or "openapi" not in document:
        raise LabtwinError(f"{where} is not an OpenAPI document")
    return document


async def bench_catalogues(config: LabConfig, *, timeout: float,
                           progress: Callable[[str], None] = lambda line: None) -> LabCatalogues:
    """The catalogues of the bench (or served lab) ``config`` reaches through its ``[broker] url``."""
    address = config.broker_address()
    progress(f"reading the task catalogues of {', '.join(config.device_ids)} from {address.url} "
             f"({config.source}) ...")
    catalogues = await read_catalogues(address, config.device_ids, topic_prefix=config.topic_prefix,
                                       timeout=timeout)
    openapi = None
    if config.ot2 is not None and config.ot2.task_server_url is not None:
        openapi = await fetch_openapi(config.ot2.task_server_url, timeout=timeout)
    return LabCatalogues(catalogues, config.topic_prefix, address.url, openapi)


async def twin_catalogues(config: LabConfig | None, *, timeout: float,
                          progress: Callable[[str], None] = lambda line: None) -> LabCatalogues:
    """The catalogues of the twin lab ``config`` describes (default: one Pico W), started for the purpose."""
    from labtwin.scenarios.labs.lab_file_twin import twin_lab_options
    from labtwin.scenarios.labs.twin_lab import TwinLab

    lab = TwinLab(twin_lab_options(config)) if config is not None else TwinLab(devices=[DEFAULT_TWIN_DEVICE])
    what = f"the twin lab of {config.source}" if config is not None else "the default twin lab (one Pico W)"
    progress(f"starting {what} to read its task catalogues ...")
    started = time.perf_counter()
    async with lab:
        assert lab.broker_address is not None, "a started twin lab has a broker"
        catalogues = await read_catalogues(lab.broker_address, lab.device_ids, topic_prefix=lab.topic_prefix,
                                           timeout=timeout)
        openapi = await fetch_openapi(lab.ot2_url, timeout=timeout) if lab.ot2_url is not None else None
        broker_url = lab.broker_address.url
    progress(f"read {len(catalogues)} task catalogue{'s' if len(catalogues) != 1 else ''} "
             f"in {time.perf_counter() - started:.1f} s; the twin lab is stopped")
    return LabCatalogues(catalogues, lab.topic_prefix, broker_url, openapi)
