"""Fixtures for the robot API twin tests: one real twin process per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from robot_api_testkit import RobotApiClient, RobotApiProcess, robot_api_client, robot_api_process


@pytest.fixture(scope="module")
def robot_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RobotApiProcess]:
    """One twin per test module, with delays 1000x faster. Tests must leave no run active."""
    with robot_api_process("--delay-speedup", "1000", work_dir=tmp_path_factory.mktemp("robot-api")) as process:
        yield process


@pytest.fixture
def client(robot_api: RobotApiProcess) -> Iterator[RobotApiClient]:
    """A client of the module's twin; whatever run the test left going is stopped afterwards."""
    with robot_api_client(robot_api.url) as api:
        yield api
