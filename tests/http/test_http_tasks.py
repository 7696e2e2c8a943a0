"""The CPython @task registry: every decorator form registers; signatures become strict schemas."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from pydantic import Field, ValidationError

from labtwin.orchestrator import http_tasks
from labtwin.orchestrator.http_tasks import TaskRegistry


def test_bare_decorator_registers() -> None:
    tasks = TaskRegistry()

    @tasks.task
    def home() -> None:
        """Home the robot."""

    assert tasks.names == ["home"]
    assert home.__name__ == "home"  # the function itself comes back, not a wrapper


def test_called_decorator_forms_all_register() -> None:
    tasks = TaskRegistry()

    @tasks.task()
    def first() -> None: ...

    @tasks.task("second")
    def renamed_positionally() -> None: ...

    @tasks.task(name="third")
    def renamed_by_keyword() -> None: ...

    assert tasks.names == ["first", "second", "third"]
    assert tasks.get("third") is not None and tasks.get("third").function is renamed_by_keyword


def test_module_level_task_registers_in_the_default_registry() -> None:
    @http_tasks.task
    def labtwin_test_module_level_bare() -> None: ...

    @http_tasks.task(name="labtwin_test_module_level_named")
    def named() -> None: ...

    assert "labtwin_test_module_level_bare" in http_tasks.default_registry
    assert "labtwin_test_module_level_named" in http_tasks.default_registry


def test_bound_methods_register_without_self() -> None:
    class Robot:
        def move(self, x_mm: float) -> float:
            return x_mm

    tasks = TaskRegistry()
    tasks.task(Robot().move)
    spec = tasks.get("move")
    assert spec is not None
    assert list(spec.parameters_model.model_fields) == ["x_mm"]
    assert spec.validate({"x_mm": 3}) == {"x_mm": 3}


def _schema_of(func: Any) -> dict[str, Any]:
    tasks = TaskRegistry()
    return tasks.register(func).parameters_model.model_json_schema()


def test_scalar_annotations_become_json_schema_types() -> None:
    def measure(count: int, volume: float, dry_run: bool, well: str) -> None: ...

    schema = _schema_of(measure)
    types = {name: prop["type"] for name, prop in schema["properties"].items()}
    assert types == {"count": "integer", "volume": "number", "dry_run": "boolean", "well": "string"}
    assert schema["required"] == ["count", "volume", "dry_run", "well"]
    assert schema["additionalProperties"] is False


def test_lists_optionals_and_defaults() -> None:
    def plan(wells: list[str], repeats: int = 3, note: str | None = None, volumes: list[float] | None = None) -> None:
        ...

    schema = _schema_of(plan)
    props = schema["properties"]
    assert props["wells"] == {"items": {"type": "string"}, "title": "Wells", "type": "array"}
    assert props["repeats"]["default"] == 3
    assert props["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["note"]["default"] is None
    assert props["volumes"]["anyOf"][0] == {"items": {"type": "number"}, "type": "array"}
    assert schema["required"] == ["wells"]


def test_literal_and_annotated_constraints_reach_the_schema() -> None:
    def pick(mount: Literal["left", "right"], speed: Annotated[float, Field(gt=0, le=400)] = 100.0) -> None: ...

    props = _schema_of(pick)["properties"]
    assert props["mount"]["enum"] == ["left", "right"]
    assert props["speed"]["exclusiveMinimum"] == 0 and props["speed"]["maximum"] == 400


def test_validation_is_strict_like_the_mqtt_devices() -> None:
    def mix(count: int, volume: float, dry_run: bool = False, wells: list[int] | None = None) -> None: ...

    spec = TaskRegistry().register(mix)
    assert spec.validate({"count": 2, "volume": 5}) == {"count": 2, "volume": 5, "dry_run": False, "wells": None}
    rejected = [
        {"count": "2", "volume": 1.0},            # the seed accepted {"r": "abc"} for an int
        {"count": True, "volume": 1.0},           # bool is not an int
        {"count": 2.5, "volume": 1.0},
        {"count": 2, "volume": "1.0"},
        {"count": 2, "volume": 1.0, "dry_run": 1},
        {"count": 2, "volume": 1.0, "wells": [1, "2"]},
        {"count": 2, "volume": float("nan")},     # not JSON
        {"count": 2},                             # missing
        {"count": 2, "volume": 1.0, "speed": 3},  # unknown parameter
    ]
    for parameters in rejected:
        with pytest.raises(ValidationError):
            spec.validate(parameters)


def test_validation_errors_name_every_offending_field() -> None:
    def mix(count: int, volume: float) -> None: ...

    with pytest.raises(ValidationError) as caught:
        TaskRegistry().register(mix).validate({"count": "x", "extra": 1})
    fields = sorted(str(error["loc"][0]) for error in caught.value.errors())
    assert fields == ["count", "extra", "volume"]


def test_describe_has_parameter_and_result_schemas() -> None:
    def read(pin: int) -> dict[str, float]:
        """Read a pin.

        More text."""
        return {}

    entry = TaskRegistry().register(read).describe()
    assert entry["doc"] == "Read a pin.\n\nMore text."
    assert entry["parameters"]["properties"]["pin"]["type"] == "integer"
    assert entry["result"] == {"additionalProperties": {"type": "number"}, "type": "object"}
    assert entry["is_async"] is False


def test_async_tasks_are_recognised() -> None:
    async def wait(seconds: float) -> None: ...

    assert TaskRegistry().register(wait).is_async


def test_unannotated_parameters_accept_any_json() -> None:
    def legacy(r, g=0):  # type: ignore[no-untyped-def]
        return r

    spec = TaskRegistry().register(legacy)
    assert spec.validate({"r": "abc"}) == {"r": "abc", "g": 0}


@pytest.mark.parametrize("signature_text", [
    "def f(*values: int) -> None: ...",
    "def f(**options: int) -> None: ...",
    "def f(x: int, /) -> None: ...",
    "def f(x: tuple[int, int]) -> None: ...",
    "def f(x: set[int]) -> None: ...",
    "def f(x: dict[int, str]) -> None: ...",
    "def f(x: bytes) -> None: ...",
    "def f(x: Path) -> None: ...",
])
def test_signatures_that_cannot_be_served_fail_at_registration(signature_text: str) -> None:
    from pathlib import Path

    namespace: dict[str, Any] = {"Path": Path}
    exec(signature_text, namespace)
    with pytest.raises(TypeError):
        TaskRegistry().register(namespace["f"])


def test_duplicate_and_malformed_names_are_rejected() -> None:
    tasks = TaskRegistry()

    def home() -> None: ...

    tasks.register(home)
    with pytest.raises(ValueError, match="already registered"):
        tasks.register(home)
    with pytest.raises(ValueError, match="identifier"):
        tasks.register(home, name="mix/color")
