"""Parse `mqtt://HOST:PORT` broker URLs given on the command line or in a lab config."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from labtwin.errors import ConfigError

__all__ = ["BrokerAddress", "parse_broker_url"]

USERNAME_ENV = "LABTWIN_BROKER_USERNAME"
PASSWORD_ENV = "LABTWIN_BROKER_PASSWORD"


@dataclass(frozen=True)
class BrokerAddress:
    """Where an external broker is, and the credentials to use (from the environment)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a traceback or a log line

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def parse_broker_url(url: str, environ: dict[str, str] | None = None) -> BrokerAddress:
    """`mqtt://HOST[:PORT]` -> BrokerAddress; credentials come from LABTWIN_BROKER_USERNAME/PASSWORD.

    Credentials are never taken from the URL, so they do not end up in shell history or logs.
    """
    env = os.environ if environ is None else environ
    parts = urlsplit(url)
    if parts.scheme != "mqtt":
        raise ConfigError(f"broker URL {url!r} must start with mqtt:// (e.g. mqtt://127.0.0.1:1883)")
    if parts.username or parts.password:
        raise ConfigError(f"put broker credentials in ${USERNAME_ENV} / ${PASSWORD_ENV}, not in the URL")
    if not parts.hostname:
        raise ConfigError(f"broker URL {url!r} has no host")
    try:
        port = parts.port or 1883
    except ValueError:
        raise ConfigError(f"broker URL {url!r} has an invalid port") from None
    if parts.path not in ("", "/") or parts.query:
        raise ConfigError(f"broker URL {url!r} must be just mqtt://HOST:PORT")
    return BrokerAddress(parts.hostname, port, env.get(USERNAME_ENV) or None, env.get(PASSWORD_ENV) or None)
