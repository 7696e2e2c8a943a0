"""The JSON shapes a DeviceServer sends (docs/http-protocol.md), as pydantic models for OpenAPI.

Success bodies keep the seed's envelope ``{"task_name", "parameters", "status": "success", "result"}``
so seed clients that read ``body["result"]`` keep working. Every error, from any route, is
``{"status": "error", "task_name": ..., "error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "DeviceSummary",
    "ErrorBody",
    "ErrorInfo",
    "ExecuteSuccess",
    "FieldProblem",
    "TaskDescription",
]


class FieldProblem(BaseModel):
    """One reason a request's parameters were rejected."""

    field: str = Field(description="the parameter's name, dotted for nested values; '' for the body as a whole")
    message: str
    type: str = Field(description="pydantic's error type, e.g. 'int_type' or 'missing'")


class ErrorInfo(BaseModel):
    """What went wrong: a code to branch on and a message for people."""

    code: str = Field(description="unknown_task, bad_parameters, bad_request, unauthorized, busy, task_failed, "
                                  "not_found, internal_error, or the task's own code (e.g. out_of_tips)")
    message: str
    details: list[FieldProblem] | None = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    status: Literal["error"] = "error"
    task_name: str | None = None
    error: ErrorInfo


class ExecuteSuccess(BaseModel):
    """The body of a successful ``POST /execute/{task_name}`` (the seed's envelope)."""

    task_name: str
    parameters: dict[str, Any]
    status: Literal["success"] = "success"
    result: Any = None


class DeviceSummary(BaseModel):
    """``GET /``: what the device is and what it is doing."""

    message: str
    available_tasks: list[str]
    docs: str
    running_task: str | None = Field(description="the task the device is executing now, if any")
    queued: int = Field(description="calls waiting for the device to finish the running task")


class TaskDescription(BaseModel):
    """One entry of ``GET /tasks``."""

    name: str
    doc: str
    parameters: dict[str, Any] = Field(description="JSON schema of the request body (the keyword arguments)")
    result: dict[str, Any] = Field(description="JSON schema of the result")
    is_async: bool
