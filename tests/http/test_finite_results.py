"""A result holding nan or an infinity fails the call, whatever shape the task returned it in.

The device server checks plain JSON data (dicts, lists, tuples, numbers, strings) as it is and hands
anything else (dataclasses, pydantic models, enums, float subclasses such as numpy's, dicts with
non-string keys) to FastAPI's encoder first: both kinds must be refused alike, and finite values
of every kind must come through as FastAPI sends them.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from http_testkit import ThreadedServer
from pydantic import BaseModel

from labtwin.orchestrator.device_server import DeviceServer
from labtwin.orchestrator.http_tasks import TaskRegistry


@dataclasses.dataclass
class Reading:
    volts: float


class Sample(BaseModel):
    volumes: list[float]


class Level(float, enum.Enum):
    FULL = 1.0
    UNKNOWN = float("nan")


RESULTS: dict[str, tuple[Any, Any]] = {
    # name: (value holding nan or inf, a finite value of the same shape)
    "nested_plain": ({"wells": [{"volume": float("inf")}]}, {"wells": [{"volume": 1.5}]}),
    "tuple": ((1.0, float("-inf")), (1.0, 2.0)),
    "int_keys": ({1: float("nan")}, {1: 2.5}),
    "dataclass": (Reading(float("nan")), Reading(3.3)),
    "pydantic_model": (Sample(volumes=[1.0, float("inf")]), Sample(volumes=[1.0, 2.0])),
    "float_enum": (Level.UNKNOWN, Level.FULL),
    "numpy_float": ([np.float64("nan")], [np.float64(0.25)]),
}
FINITE_AS_SENT = {
    "nested_plain": {"wells": [{"volume": 1.5}]},
    "tuple": [1.0, 2.0],
    "int_keys": {"1": 2.5},
    "dataclass": {"volts": 3.3},
    "pydantic_model": {"volumes": [1.0, 2.0]},
    "float_enum": 1.0,
    "numpy_float": [0.25],
}


def _returning(non_finite: Any, finite_twin: Any) -> Any:
    def result(finite: bool) -> Any:
        """Return the non-finite value, or its finite twin."""
        return finite_twin if finite else non_finite

    return result


def _registry() -> TaskRegistry:
    registry = TaskRegistry()
    for name, values in RESULTS.items():
        registry.register(_returning(*values), name=name)
    return registry


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with ThreadedServer(DeviceServer(_registry())) as served:
        yield served.url


@pytest.mark.parametrize("name", list(RESULTS))
def test_a_non_finite_result_fails_the_call_in_any_shape(url: str, name: str) -> None:
    response = httpx.post(f"{url}/execute/{name}", json={"finite": False})

    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "task_failed"
    assert error["message"].startswith("ValueError: the result holds ")


@pytest.mark.parametrize("name", list(RESULTS))
def test_a_finite_result_comes_through_in_any_shape(url: str, name: str) -> None:
    response = httpx.post(f"{url}/execute/{name}", json={"finite": True})

    assert response.status_code == 200, response.text
    assert response.json()["result"] == FINITE_AS_SENT[name]
