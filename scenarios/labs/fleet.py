"""A fleet: one lab whose boards are simulated on several hosts that share one broker.

A lab file places boards on hosts (``[hosts] a = "10.0.0.5"`` and ``host = "a"`` on a board); each
host runs ``labtwin serve lab --lab FILE --shard a``, a twin lab of its share of the boards that
logs in to the file's ``[broker] url``. The orchestrator and the scenarios use the same file as a
bench: the boards are all on the one broker, so they see one lab (docs/fleets.md).

A board's serial console is an unauthenticated REPL, so it listens on loopback only: on the host's
own address when that is a loopback one (shards side by side on one machine, 127.0.0.2 ...), else
on 127.0.0.1 of that host (reach it with ``ssh -L``).

Two shards serving the same board would make it flap (the broker drops one connection whenever the
other one reconnects), so a shard first reads its boards' retained statuses on the shared broker
(:func:`refuse_if_served_elsewhere`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket
import uuid
from collections.abc import Sequence
from pathlib import Path

import psutil

from labtwin.errors import BrokerUnavailable, ConfigError, LabtwinError, ProtocolError
from labtwin.orchestrator.protocol import DeviceStatus, Topics
from labtwin.scenarios.labs.lab_file import LabConfig
from labtwin.scenarios.labs.lab_file_twin import twin_lab_options
from labtwin.scenarios.labs.twin_lab import TwinLab

__all__ = ["ShardAlreadyServed", "boards_online", "is_local_address", "refuse_if_served_elsewhere",
           "shard_config", "shard_lab", "shard_listen_address"]

STATUS_CHECK_TIMEOUT_S = 10.0


class ShardAlreadyServed(LabtwinError):
    """Boards of a shard are online on the fleet's broker already: another process serves them."""


def shard_config(config: LabConfig, host: str) -> LabConfig:
    """``config`` cut down to the boards ``host`` simulates.

    Raises:
        ConfigError: the file has no ``[hosts]``, no such host, or no board on it.
    """
    if not config.hosts:
        raise ConfigError(f"{config.source} places no boards on hosts: add [hosts] NAME = \"ADDRESS\" and "
                          "host = \"NAME\" on the boards each host simulates")
    if host not in config.hosts:
        raise ConfigError(f"{config.source} has no host {host!r} (hosts: {', '.join(sorted(config.hosts))})")
    share = tuple(board for board in config.boards if board.host == host)
    if not share:
        raise ConfigError(f"{config.source} places no board on host {host!r}: give some boards host = \"{host}\"")
    return dataclasses.replace(config, boards=share)


def shard_lab(config: LabConfig, host: str, *, seed: int = 0, work_dir: Path | None = None) -> TwinLab:
    """The twin lab of ``host``'s share of the fleet ``config`` (a loaded lab file) describes, on its broker.

    Its boards log in with the file's broker credentials (its ``username_env`` / ``password_env``);
    their consoles and network twins listen on loopback (the host's address if it is a loopback one).
    The OT-2 twins, if the file has any, are not started by a shard.
    """
    share = shard_config(config, host)
    options = twin_lab_options(share, seed=seed, work_dir=work_dir, consoles=True, network_twin=True,
                               broker=config.broker_address(), host=shard_listen_address(config.hosts[host]),
                               ot2=False, ot2_robot_api=False)
    # Seeded by the board's place in the whole fleet, as one lab would seed it, not in this host's share.
    place = {board.id: index for index, board in enumerate(config.boards)}
    boards = {device_id: dataclasses.replace(setup, seed=seed + place[device_id])
              for device_id, setup in options.boards.items()}
    return TwinLab(options.replace(boards=boards))


def shard_listen_address(address: str) -> str:
    """Where a shard on ``address`` (its ``[hosts]`` value) listens: there if it is a loopback one, else 127.0.0.1."""
    return address if ipaddress.ip_address(address).is_loopback else "127.0.0.1"


def _bare(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``address`` without an IPv6 zone (``fe80::1%eth0``): a zone does not make another address."""
    return ipaddress.ip_address(address.split("%", 1)[0])


def is_local_address(address: str) -> bool:
    """Whether ``address`` (an IP address) is one of this machine's.

    Every loopback address is (Linux routes all of 127.0.0.0/8 to ``lo``, and ``::1``), as is an
    address of any of its network interfaces.
    """
    wanted = _bare(address)
    if wanted.is_loopback:
        return True
    families = (socket.AF_INET, socket.AF_INET6)
    return any(entry.family in families and _bare(entry.address) == wanted
               for entries in psutil.net_if_addrs().values() for entry in entries)


async def boards_online(config: LabConfig, device_ids: Sequence[str], *,
                        timeout: float = STATUS_CHECK_TIMEOUT_S) -> list[str]:
    """Those of ``device_ids`` whose status on ``config``'s broker says online, in ``device_ids``' order.

    Reads the retained statuses as the orchestrator does, with the file's broker credentials: one
    SUBSCRIBE to the boards' status topics, then a second one (to a result topic, which holds nothing
    retained); the broker hands over the first one's retained statuses before it answers the second,
    so its SUBACK says that every status there is has arrived, without a fixed wait.

    Raises:
        BrokerUnavailable: the broker cannot be reached, refuses the login, or does not answer in ``timeout`` s.
    """
    import aiomqtt

    if not device_ids:
        return []
    address = config.broker_address()
    topics = {Topics(device_id, config.topic_prefix).status: device_id for device_id in device_ids}
    online: set[str] = set()
    try:
        async with asyncio.timeout(timeout), aiomqtt.Client(
                address.host, address.port, username=address.username, password=address.password,
                identifier=f"labtwin-shard-check-{uuid.uuid4().hex[:8]}", clean_session=True,
                timeout=timeout) as client:
            await client.subscribe([(topic, 1) for topic in topics])
            await client.subscribe(Topics(device_ids[0], config.topic_prefix).result, qos=1)
            for _ in range(len(client.messages)):  # all there by now: nothing to wait for
                message = await anext(client.messages)
                device_id = topics.get(message.topic.value)
                payload = message.payload
                if device_id is None or not isinstance(payload, (bytes, str)) or not payload:
                    continue  # a result, or a status cleared (an empty retained message)
                try:
                    status = DeviceStatus.decode(payload)
                except ProtocolError:
                    continue  # not a board's status: it says nobody serves it
                # The latest message decides (amqtt hands a retained status over twice; a live one may follow).
                if status.online:
                    online.add(device_id)
                else:
                    online.discard(device_id)
    except aiomqtt.MqttError as exc:
        raise BrokerUnavailable(f"cannot connect to MQTT broker {address.url}: {exc}") from None
    except TimeoutError:
        raise BrokerUnavailable(f"no answer from MQTT broker {address.url} within {timeout:g} s") from None
    return [device_id for device_id in device_ids if device_id in online]


async def refuse_if_served_elsewhere(config: LabConfig, host: str, *, timeout: float = STATUS_CHECK_TIMEOUT_S) -> None:
    """Raise unless every board of ``host``'s share is offline (or unknown) on the fleet's broker.

    A board already online there is served by another process (most likely the same shard, started
    on another machine or twice on this one): serving it again would make both copies flap, as the
    broker drops the older connection of a client id each time the other one reconnects.

    Raises:
        ShardAlreadyServed: some of the share's boards are online; the message names them.
        BrokerUnavailable: as :func:`boards_online`.
    """
    share = [board.id for board in shard_config(config, host).boards]
    online = await boards_online(config, share, timeout=timeout)
    if not online:
        return
    names, verb = ", ".join(online), "is" if len(online) == 1 else "are"
    raise ShardAlreadyServed(
        f"{names} {verb} already online on {config.broker_address().url}: is shard {host} running already, here "
        "or on another host? Stop it first (a board two shards serve flaps between them); if none is, the retained "
        "status is stale (docs/fleets.md: clear it)")
