"""Who may use which topic: the per-device ACL, written once and enforced by both brokers.

:class:`DeviceAcl` is the rule set (docs/security.md): each board reads only its own command topic
and writes only its own result and status; the orchestrator users may command every board and read
every answer. Mosquitto takes its :meth:`~DeviceAcl.lines` as an ``acl_file``; amqtt has no patterns,
so :func:`amqtt_acl_lists` expands the same lines into per-user topic lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AmqttAclLists", "DeviceAcl", "amqtt_acl_lists"]


@dataclass(frozen=True)
class DeviceAcl:
    """Per-device topic access for ``{prefix}/{device_id}/command|result|status``.

    Boards authenticate with user name == device id. Each board may only read
    its own command topic and write its own result and status topics (a
    mosquitto ``pattern`` on ``%u``: the authenticated user name, not the
    client id, which any client may choose freely). The ``orchestrators``
    users may write every command topic and read every result and status
    topic. Anything not granted is denied; mosquitto also denies everything
    to clients whose user name or client id contains ``+`` or ``#``.
    """

    prefix: str = "ot2"
    orchestrators: tuple[str, ...] = ("orchestrator",)

    def __post_init__(self) -> None:
        if not self.prefix or any(c in self.prefix for c in "+#%\n\r\x00") or self.prefix != self.prefix.strip():
            raise ValueError(
                f"ACL topic prefix {self.prefix!r} must be non-empty, unpadded and free of + # % and control characters"
            )
        if isinstance(self.orchestrators, str):
            raise TypeError("orchestrators is a tuple of user names, not one string")
        for user in self.orchestrators:
            if not user or user != user.strip() or any(c in user for c in "+#:\n\r\x00"):
                raise ValueError(f"orchestrator user {user!r} cannot be named in an ACL file")

    def lines(self) -> list[str]:
        """The mosquitto acl_file lines (without the header comment)."""
        p = self.prefix
        out: list[str] = []
        for user in self.orchestrators:
            out += [
                f"user {user}",
                f"topic readwrite {p}/+/command",  # read too: `labtwin watch` shows the commands
                f"topic read {p}/+/result",
                f"topic read {p}/+/status",
                "",
            ]
        out += [
            "# Every authenticated client, %u = its user name (a board's user name is its device id).",
            f"pattern read {p}/%u/command",
            f"pattern write {p}/%u/result",
            f"pattern write {p}/%u/status",
        ]
        return out


@dataclass(frozen=True)
class AmqttAclLists:
    """amqtt's per-user topic lists: user name -> allowed topic filters, one mapping per action."""

    publish: dict[str, list[str]] = field(default_factory=dict)
    subscribe: dict[str, list[str]] = field(default_factory=dict)

    def plugin_config(self) -> dict[str, Any]:
        """Config of :class:`AmqttTopicAclPlugin` (``receive_acl`` re-checks each delivery against the reads)."""
        return {"publish_acl": self.publish, "subscribe_acl": self.subscribe, "receive_acl": self.subscribe}


def amqtt_acl_lists(acl: DeviceAcl, users: Mapping[str, str] | Any) -> AmqttAclLists:
    """The mosquitto ACL of ``acl`` (its ``lines()``, the one source of the rules) as amqtt lists.

    amqtt has no ``pattern``/``%u``: each ``pattern`` line is expanded once per
    user in ``users``, except for user names holding ``+`` or ``#`` (in amqtt's
    lists they would be wildcards, e.g. user ``+`` would get ``ot2/+/command``):
    like mosquitto's CVE-2017-7650 guard, those users get nothing from
    patterns. ``user`` blocks become that user's own entries. Users with no
    entry get nothing, and publishing is denied to them too because the
    publish list is never empty (the orchestrators always have entries).
    """
    publish: dict[str, list[str]] = {}
    subscribe: dict[str, list[str]] = {}

    def grant(user: str, access: str, topic: str) -> None:
        if access not in ("read", "write", "readwrite"):
            raise ValueError(f"ACL access {access!r} has no amqtt equivalent")
        if access in ("read", "readwrite"):
            subscribe.setdefault(user, []).append(topic)
        if access in ("write", "readwrite"):
            publish.setdefault(user, []).append(topic)

    user: str | None = None
    for line in acl.lines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "user" and len(words) == 2:
            user = words[1]
        elif words[0] == "topic" and len(words) == 3:
            if user is None:
                raise ValueError("ACL rules for anonymous clients have no amqtt equivalent here")
            grant(user, words[1], words[2])
        elif words[0] == "pattern" and len(words) == 3:
            if "%c" in words[2]:
                raise ValueError("amqtt cannot match on client ids (%c)")
            for name in users:
                if "+" not in name and "#" not in name:
                    grant(name, words[1], words[2].replace("%u", name))
        else:
            raise ValueError(f"ACL line {line!r} has no amqtt equivalent")
    return AmqttAclLists(publish=publish, subscribe=subscribe)
