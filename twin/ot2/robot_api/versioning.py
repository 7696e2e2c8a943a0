"""The robot API's ``Opentrons-Version`` header: checked on every request, echoed on every response.

Rules (docs/ot2-robot-api.md):

* every request must send ``Opentrons-Version``: an integer, or ``*`` for the latest;
  missing or not an integer -> 422; an integer below :data:`MIN_API_VERSION` -> 400;
* an integer above :data:`CURRENT_API_VERSION` is served as the current version (a newer
  client talking to an older robot), and the response says which version was used;
* every response, errors included, carries ``Opentrons-Version`` (the version used) and
  ``Opentrons-Min-Version``.

It is an ASGI middleware rather than a per-route dependency so that no route, error
handler or 404 can forget the check or the headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labtwin.twin.ot2.robot_api.responses import error_response

__all__ = ["CONTROL_PATH_PREFIX", "CURRENT_API_VERSION", "LATEST_VERSION_ALIAS", "MIN_API_VERSION",
           "MIN_VERSION_HEADER", "SERVED_VERSION_PATTERN", "VERSION_HEADER", "ApiVersionMiddleware",
           "VersionRejected", "negotiate_version", "version_headers"]

VERSION_HEADER = "Opentrons-Version"
MIN_VERSION_HEADER = "Opentrons-Min-Version"
LATEST_VERSION_ALIAS = "*"

CURRENT_API_VERSION = 8
"""The HTTP API version this twin reports. Chosen to match robot software of the opentrons 8.x/9.x
era; raise it when a later slice implements behaviour that a newer version introduced."""
CONTROL_PATH_PREFIX = "/labtwin/"
"""The twin's own control routes (fault injection): not the robot's API, so not versioned."""
MIN_API_VERSION = 2
"""Version 1 (no header at all) is the robot's pre-versioning API, which it no longer serves."""
_INTEGER = re.compile(r"[+-]?[0-9]+")
"""An integer as a header spells it: ASCII digits, an optional sign (not Python's ``1_000``)."""
SERVED_VERSION_PATTERN = r"^(\*|\+?0*([2-9]|[1-9][0-9]+))$"
"""The header values that are served, for the OpenAPI document: ``*`` or an integer >= 2
(:data:`MIN_API_VERSION`; the pattern spells out 2). Every other value is refused (400 or 422)."""


@dataclass(frozen=True)
class VersionRejected(Exception):
    """A request's ``Opentrons-Version`` header cannot be served; carries the HTTP error to answer."""

    status_code: int
    error_id: str
    title: str
    detail: str


def negotiate_version(raw: str | None) -> int:
    """The API version to serve a request whose ``Opentrons-Version`` header is ``raw``.

    Raises:
        VersionRejected: the header is missing or not an integer (422), or too old (400).
    """
    if raw is None:
        raise VersionRejected(422, "InvalidRequest", "Invalid Request",
                              f"Missing header {VERSION_HEADER}; send an integer API version "
                              f"(>= {MIN_API_VERSION}) or '{LATEST_VERSION_ALIAS}' for the latest")
    value = raw.strip()
    if value == LATEST_VERSION_ALIAS:
        return CURRENT_API_VERSION
    if not _INTEGER.fullmatch(value):
        raise VersionRejected(422, "InvalidRequest", "Invalid Request",
                              f"Header {VERSION_HEADER} must be an integer or '{LATEST_VERSION_ALIAS}', "
                              f"got {raw!r}")
    requested = int(value)
    if requested < MIN_API_VERSION:
        raise VersionRejected(400, "OutdatedAPIVersion", "Requested HTTP API version no longer supported",
                              f"HTTP API version {requested} is no longer supported; the minimum is "
                              f"{MIN_API_VERSION}. Upgrade your Opentrons App or HTTP API client.")
    return min(requested, CURRENT_API_VERSION)


class ApiVersionMiddleware:
    """Rejects requests with an unusable ``Opentrons-Version`` and stamps the version headers on responses.

    The negotiated version is left in ``scope["state"]["api_version"]`` (``request.state.api_version``)
    for routes whose behaviour will depend on it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the header of an HTTP request, then serve it with the version headers added."""
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PATH_PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            version = negotiate_version(Headers(scope=scope).get(VERSION_HEADER))
        except VersionRejected as rejected:
            response = error_response(scope["path"], rejected.status_code, error_id=rejected.error_id,
                                      title=rejected.title, detail=rejected.detail,
                                      source={"header": VERSION_HEADER},
                                      headers=version_headers(CURRENT_API_VERSION))
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["api_version"] = version

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in version_headers(version).items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_version)


def version_headers(version: int) -> dict[str, str]:
    """The headers every robot API response carries when it was served as ``version``."""
    return {VERSION_HEADER: str(version), MIN_VERSION_HEADER: str(MIN_API_VERSION)}
