"""The firmware task registry, exercised from CPython (it is written in the shared subset)."""

from __future__ import annotations

import asyncio

import pytest
import task_registry
from task_registry import BadParameters, UnknownTask, task


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch):
    monkeypatch.setattr(task_registry, "_tasks", {})


def test_bare_decorator_registers_under_function_name():
    @task
    def ping():
        return "pong"

    assert task_registry.names() == ["ping"]
    assert ping() == "pong"  # the decorator returns the function unchanged


def test_called_decorator_registers():
    @task()
    def ping():
        return "pong"

    assert task_registry.names() == ["ping"]


def test_name_given_positionally_or_by_keyword():
    @task("first")
    def one():
        return 1

    @task(name="second", params={"x": int})
    def two(x):
        return x

    assert task_registry.names() == ["first", "second"]


def test_catalogue_describes_params_and_unions():
    @task(params={"pin": (int, str), "state": bool}, doc="Switch an LED")
    def control_led(pin, state):
        return None

    assert task_registry.catalogue() == {
        "control_led": {"doc": "Switch an LED", "params": {"pin": ["int", "str"], "state": "bool"}}}


def test_doc_falls_back_to_first_docstring_line():
    @task
    def documented():
        """First line.

        More text."""

    assert task_registry.catalogue()["documented"]["doc"] == "First line."


def test_unsupported_param_type_is_rejected_at_registration():
    with pytest.raises(TypeError):
        task(params={"x": bytes})


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({}, "missing parameter 'pin'"),
        ({"pin": 1, "state": True, "extra": 1}, "unexpected parameter 'extra'"),
        ({"pin": True, "state": True}, "parameter 'pin' must be int or str, got bool"),
        ({"pin": 1.5, "state": True}, "parameter 'pin' must be int or str, got float"),
        ({"pin": 1, "state": 1}, "parameter 'state' must be bool, got int"),
        ({"pin": None, "state": True}, "parameter 'pin' must be int or str, got null"),
    ],
)
def test_validation_rejects_bad_parameters(parameters, message):
    @task(params={"pin": (int, str), "state": bool})
    def control_led(pin, state):
        return None

    with pytest.raises(BadParameters, match=message):
        asyncio.run(task_registry.call("control_led", parameters))


def test_float_accepts_int_but_int_rejects_float():
    @task(params={"v": float})
    def takes_float(v):
        return v

    @task(params={"n": int})
    def takes_int(n):
        return n

    assert asyncio.run(task_registry.call("takes_float", {"v": 2})) == 2
    with pytest.raises(BadParameters):
        asyncio.run(task_registry.call("takes_int", {"n": 2.0}))


def test_optional_parameter_may_be_omitted():
    @task(params={"n": int, "scale": float}, optional=("scale",))
    def scaled(n, scale=2.0):
        return n * scale

    assert asyncio.run(task_registry.call("scaled", {"n": 3})) == 6.0
    assert asyncio.run(task_registry.call("scaled", {"n": 3, "scale": 1})) == 3


def test_optional_must_name_a_declared_param():
    with pytest.raises(TypeError):
        task(params={"n": int}, optional=("m",))


def test_async_tasks_are_awaited():
    @task(params={"n": int})
    async def slow_double(n):
        await asyncio.sleep(0)
        return 2 * n

    assert asyncio.run(task_registry.call("slow_double", {"n": 21})) == 42


def test_unknown_task_raises():
    with pytest.raises(UnknownTask, match="unknown task 'nope'"):
        asyncio.run(task_registry.call("nope", {}))
