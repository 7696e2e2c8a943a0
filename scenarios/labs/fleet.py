"""A fleet: one lab whose boards are simulated on several hosts that share one broker.

A lab file places boards on hosts (``[hosts] a = "10.0.0.5"`` and ``host = "a"`` on a board); each
host runs ``labtwin serve lab --lab FILE --shard a``, a twin lab of its share of the boards that
logs in to the file's ``[broker] url``. The orchestrator and the scenarios use the same file as a
bench: the boards are all on the one broker, so they see one lab (docs/fleets.md).

A board's serial console is an unauthenticated REPL, so it listens on loopback only: on the host's
own address when that is a loopback one (shards side by side on one machine, 127.0.0.2 ...), else
on 127.0.0.1 of that host (reach it with ``ssh -L``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

from labtwin.errors import ConfigError
from labtwin.scenarios.labs.lab_file import LabConfig, load_lab_config
from labtwin.scenarios.labs.lab_file_twin import twin_lab_options
from labtwin.scenarios.labs.twin_lab import TwinLab

__all__ = ["shard_config", "shard_lab"]


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


def shard_lab(lab_file: Path, host: str, *, seed: int = 0, work_dir: Path | None = None) -> TwinLab:
    """The twin lab of ``host``'s share of the fleet ``lab_file`` describes, on the fleet's broker.

    Its boards log in with the file's broker credentials (its ``username_env`` / ``password_env``);
    their consoles and network twins listen on loopback (the host's address if it is a loopback one).
    The OT-2 twins, if the file has any, are not started by a shard.
    """
    config = load_lab_config(lab_file)
    share = shard_config(config, host)
    address = config.hosts[host]
    listen = address if ipaddress.ip_address(address).is_loopback else "127.0.0.1"
    options = twin_lab_options(share, seed=seed, work_dir=work_dir, consoles=True, network_twin=True,
                               broker=config.broker_address(), host=listen, ot2=False, ot2_robot_api=False)
    # Seeded by the board's place in the whole fleet, as one lab would seed it, not in this host's share.
    place = {board.id: index for index, board in enumerate(config.boards)}
    boards = {device_id: dataclasses.replace(setup, seed=seed + place[device_id])
              for device_id, setup in options.boards.items()}
    return TwinLab(options.replace(boards=boards))
