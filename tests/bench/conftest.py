"""The bench tests' served lab: `labtwin serve lab` in its own process, one per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bench_testkit import ServedLab, serve_lab_process


@pytest.fixture(scope="module")
def served_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedLab]:
    with serve_lab_process(tmp_path_factory.mktemp("served-lab")) as lab:
        yield lab


@pytest.fixture
def bench_env(served_lab: ServedLab, monkeypatch: pytest.MonkeyPatch) -> ServedLab:
    """The served lab, its secrets in the environment as `source bench.toml.env` would put them."""
    for name, value in served_lab.env.items():
        monkeypatch.setenv(name, value)
    return served_lab
