"""JSON responses and error bodies in the two shapes the robot API uses.

The robot's newer routes answer errors as ``{"errors": [{...}]}``; its legacy routes
(``/health``, ``/robot/*``) answer ``{"message": ..., "errorCode": ...}``. Which shape a
request gets depends only on its path, so every error source (version checks, validation,
404s) shares :func:`error_response`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from starlette.responses import JSONResponse

__all__ = ["GENERIC_ERROR_CODE", "LEGACY_PATHS", "LEGACY_PATH_PREFIXES", "ApiError", "ErrorBody", "LegacyErrorBody",
           "NullFreeJSONResponse", "error_response", "error_responses", "is_legacy_path", "without_nulls"]

GENERIC_ERROR_CODE = "4000"
"""The robot's catch-all code for a malformed request (its error codes are 4-digit strings)."""

LEGACY_PATHS = ("/health", "/pipettes")
"""Exact paths that keep the robot's older error shape."""
LEGACY_PATH_PREFIXES = ("/robot/",)
"""Path prefixes whose routes keep the robot's older error shape."""


def is_legacy_path(path: str) -> bool:
    """Whether ``path`` is a legacy route, whose errors use the ``message`` shape."""
    return path in LEGACY_PATHS or path.startswith(LEGACY_PATH_PREFIXES)


def without_nulls(value: Any) -> Any:
    """``value`` with every ``None``-valued mapping key removed, recursively.

    The robot omits absent fields rather than sending ``null``; clients written against
    it may treat a present key as meaningful.
    """
    if isinstance(value, Mapping):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


class NullFreeJSONResponse(JSONResponse):
    """A JSON response that never carries ``null`` fields (the app's default response class)."""

    def render(self, content: Any) -> bytes:
        """Render ``content`` without its ``None`` fields."""
        return super().render(without_nulls(content))


def error_response(path: str, status_code: int, *, error_id: str, title: str, detail: str,
                   error_code: str = GENERIC_ERROR_CODE, source: Mapping[str, str] | None = None,
                   headers: Mapping[str, str] | None = None) -> NullFreeJSONResponse:
    """An error response for a request to ``path``, in the shape that path's route family uses."""
    body: dict[str, Any]
    if is_legacy_path(path):
        body = {"message": detail, "errorCode": error_code}
    else:
        body = {"errors": [{"id": error_id, "title": title, "detail": detail, "source": source,
                            "errorCode": error_code}]}
    return NullFreeJSONResponse(body, status_code=status_code, headers=dict(headers or {}))


class ApiError(Exception):
    """Raised by a route to answer an error; the app renders it with :func:`error_response`.

    Args:
        status_code: the HTTP status.
        error_id: the machine-readable ``id`` (e.g. ``RunNotFound``).
        title: a short human title.
        detail: what went wrong, for a person.
        error_code: the robot's 4-digit error code (a string).
    """

    def __init__(self, status_code: int, error_id: str, title: str, detail: str,
                 error_code: str = GENERIC_ERROR_CODE) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.error_id = error_id
        self.title = title
        self.detail = detail
        self.error_code = error_code

    def response(self, path: str) -> NullFreeJSONResponse:
        """This error as the response to a request for ``path``."""
        return error_response(path, self.status_code, error_id=self.error_id, title=self.title,
                              detail=self.detail, error_code=self.error_code)


class ErrorDetail(BaseModel):
    """One error of an ``{"errors": [...]}`` body."""

    id: str
    title: str
    detail: str
    errorCode: str
    source: dict[str, str] | None = None


class ErrorBody(BaseModel):
    """The error body of the robot's newer routes."""

    errors: list[ErrorDetail]


class LegacyErrorBody(BaseModel):
    """The error body of the robot's legacy routes (``/health``, ``/robot/*``, ``/pipettes``)."""

    message: str
    errorCode: str


_MEANINGS = {400: "Unsupported Opentrons-Version, or a body that cannot be parsed",
             404: "No such resource", 409: "Not allowed in the current state (e.g. the run's status)",
             422: "Invalid request: missing Opentrons-Version header, or a malformed body or parameter"}


def error_responses(*statuses: int, legacy: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring ``statuses`` with the route family's error body."""
    model = LegacyErrorBody if legacy else ErrorBody
    return {status: {"model": model, "description": _MEANINGS[status]} for status in statuses}
