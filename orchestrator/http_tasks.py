"""The @task registry for CPython devices: a task's signature is its validated parameter schema.

::

    tasks = TaskRegistry()

    @tasks.task
    def mix_color(red_ul: float, yellow_ul: float, blue_ul: float, well: str) -> dict[str, float]:
        ...

    DeviceServer(tasks).run(port=8000)

``@task``, ``@task()``, ``@task("name")`` and ``@task(name=...)`` all register (the seed's bare
``@task`` silently registered nothing). Registering a bound method works too:
``tasks.task(robot.home)``.

Parameters are validated strictly, as on the MQTT devices (docs/protocol.md): ``int`` rejects
``"5"``, ``5.0`` and ``true``; ``float`` accepts ``5``; unknown parameters are rejected. Strict
validation only fits JSON-native types, so annotations are limited to ``bool``, ``int``,
``float``, ``str``, ``None``, ``Any``, ``list[...]``, ``dict[str, ...]``, unions/``Optional``,
``Literal`` and ``Annotated`` (e.g. with pydantic ``Field`` constraints); anything else is a
``TypeError`` at registration, not a 422 on every call. Return annotations may be any type
pydantic can describe (TypedDicts make good result types).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model
from pydantic.errors import PydanticUserError

__all__ = ["TaskRegistry", "TaskSpec", "default_registry", "task"]

F = TypeVar("F", bound=Callable[..., Any])

# Task names become URL path segments and OpenAPI operation ids.
_TASK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PARAMETER_CONFIG = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
_JSON_SCALARS = (bool, int, float, str, type(None))
_UNSUPPORTED_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: "positional-only",
    inspect.Parameter.VAR_POSITIONAL: "*args",
    inspect.Parameter.VAR_KEYWORD: "**kwargs",
}


@dataclass(frozen=True)
class TaskSpec:
    """One registered task: its function and the models derived from its signature."""

    name: str
    function: Callable[..., Any]
    doc: str
    parameters_model: type[BaseModel]
    result_type: Any
    is_async: bool

    @property
    def summary(self) -> str:
        """The first line of the task's docstring."""
        return self.doc.split("\n", 1)[0]

    @property
    def all_parameters_optional(self) -> bool:
        """True when every parameter has a default, so a call may omit the body."""
        return not any(field.is_required() for field in self.parameters_model.model_fields.values())

    def validate(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """Check parameters against the signature and return the keyword arguments to call with.

        Raises pydantic.ValidationError with one entry per offending field.
        """
        model = self.parameters_model.model_validate(dict(parameters))
        return self.keyword_arguments(model)

    def keyword_arguments(self, parameters: BaseModel) -> dict[str, Any]:
        """The keyword arguments held by a validated parameters model."""
        return {name: getattr(parameters, name) for name in type(parameters).model_fields}

    def describe(self) -> dict[str, Any]:
        """The catalogue entry: doc, JSON schemas of the parameters and the result."""
        return {
            "name": self.name,
            "doc": self.doc,
            "parameters": self.parameters_model.model_json_schema(),
            "result": TypeAdapter(self.result_type).json_schema(),
            "is_async": self.is_async,
        }


class TaskRegistry:
    """The tasks one device serves, by name."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskSpec] = {}

    @overload
    def task(self, func: F, /) -> F: ...

    @overload
    def task(self, func: str | None = None, /, *, name: str | None = None) -> Callable[[F], F]: ...

    def task(self, func: Callable[..., Any] | str | None = None, /, *, name: str | None = None) -> Any:
        """Register a function as a task: ``@task``, ``@task()``, ``@task("n")``, ``@task(name="n")``.

        Returns the function unchanged. Raises TypeError for a signature that cannot be served
        (see the module docstring) and ValueError for a duplicate or malformed name.
        """
        if isinstance(func, str):
            if name is not None:
                raise TypeError("give the task name once: @task('n') or @task(name='n')")
            name, func = func, None

        def register(f: F) -> F:
            self.register(f, name=name)
            return f

        return register if func is None else register(func)

    def register(self, func: Callable[..., Any], *, name: str | None = None) -> TaskSpec:
        """Register ``func`` under ``name`` (default: its ``__name__``) and return its spec."""
        task_name = name or func.__name__
        if not _TASK_NAME.match(task_name):
            raise ValueError(f"task name {task_name!r} must be a Python identifier (it is part of URLs)")
        if task_name in self._tasks:
            raise ValueError(f"task {task_name!r} is already registered")
        spec = build_task_spec(func, task_name)
        self._tasks[task_name] = spec
        return spec

    def get(self, name: str) -> TaskSpec | None:
        """The task called ``name``, or None."""
        return self._tasks.get(name)

    @property
    def names(self) -> list[str]:
        """Task names in registration order."""
        return list(self._tasks)

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(list(self._tasks.values()))

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, name: object) -> bool:
        return name in self._tasks


def build_task_spec(func: Callable[..., Any], name: str) -> TaskSpec:
    """Derive a TaskSpec from ``func``'s signature, annotations and docstring."""
    signature = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as e:  # a forward reference that does not resolve
        raise TypeError(f"task {name!r}: cannot resolve its annotations: {e}") from None
    fields: dict[str, Any] = {}
    for pname, parameter in signature.parameters.items():
        if parameter.kind in _UNSUPPORTED_KINDS:
            raise TypeError(f"task {name!r}: parameter {pname!r} is {_UNSUPPORTED_KINDS[parameter.kind]}; "
                            "tasks are called with keyword arguments only")
        annotation = hints.get(pname, Any)
        _require_json_native(annotation, f"task {name!r}, parameter {pname!r}")
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[pname] = (annotation, default)
    result_type = hints.get("return", Any)
    model_name = "".join(part.capitalize() for part in name.split("_")) + "Parameters"
    try:
        model = create_model(model_name, __config__=_PARAMETER_CONFIG, **fields)
        model.model_json_schema()
        TypeAdapter(result_type).json_schema()
    except (PydanticUserError, TypeError, ValueError) as e:
        raise TypeError(f"task {name!r}: its signature cannot be described as JSON: {e}") from None
    return TaskSpec(
        name=name,
        function=func,
        doc=inspect.getdoc(func) or "",
        parameters_model=model,
        result_type=result_type,
        is_async=inspect.iscoroutinefunction(func),
    )


def _require_json_native(annotation: Any, where: str) -> None:
    """Raise TypeError unless strict validation of parsed JSON can ever accept ``annotation``."""
    if annotation is Any or annotation in _JSON_SCALARS:
        return
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        _require_json_native(args[0], where)
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            _require_json_native(arg, where)
    elif origin is Literal:
        return
    elif annotation is list or origin is list:
        for arg in args:
            _require_json_native(arg, where)
    elif annotation is dict or origin is dict:
        if args and args[0] is not str:
            raise TypeError(f"{where}: dict keys must be str (JSON object keys), got {args[0]!r}")
        for arg in args[1:]:
            _require_json_native(arg, where)
    else:
        raise TypeError(f"{where}: annotation {annotation!r} is not a JSON type; use bool, int, float, str, "
                        "None, Any, list[...], dict[str, ...], Optional/unions, Literal or Annotated")


default_registry = TaskRegistry()
"""The registry the module-level :func:`task` decorator fills (the seed's shape)."""


@overload
def task(func: F, /) -> F: ...


@overload
def task(func: str | None = None, /, *, name: str | None = None) -> Callable[[F], F]: ...


def task(func: Callable[..., Any] | str | None = None, /, *, name: str | None = None) -> Any:
    """Register a function in :data:`default_registry`; see :meth:`TaskRegistry.task`."""
    if callable(func):
        default_registry.register(func, name=name)
        return func
    return default_registry.task(func, name=name)
