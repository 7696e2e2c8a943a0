"""A lab repository in a temporary folder, and pytest sessions run in it (labtwin's plugin loads through its
``pytest11`` entry point, as in a lab's own checkout).

The sessions run in a subprocess, like ``pytester.runpytest_subprocess``, and give a ``pytest.RunResult``
(``assert_outcomes``, ``stdout.fnmatch_lines``). pytester itself is not used: ``pytest_plugins`` may only be
set in the top-level conftest, and a session of the whole suite would fail to collect this folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
timeout = 60
"""

# The sessions leave out plugins they do not use: schemathesis and hypothesis take ~3 s to import.
FAST = ("-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest")


@dataclass
class LabRepo:
    """A lab's repository: its files, and pytest run in it."""

    path: Path

    def write(self, name: str, text: str) -> Path:
        """Write ``text`` to ``name`` (relative to the repository), creating its folders."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    def run(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120.0) -> pytest.RunResult:
        """``pytest ARGS`` in the repository (or ``cwd``), in a fresh interpreter."""
        environ = {key: value for key, value in os.environ.items()
                   if not key.startswith("PYTEST_") and key != "LABTWIN_LAB"}  # the outer session's settings
        environ.update(env or {})
        started = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "pytest", *FAST, "-rsfE", *args],
                             cwd=cwd or self.path, env=environ, capture_output=True, text=True, timeout=timeout)
        result = pytest.RunResult(run.returncode, run.stdout.splitlines(), run.stderr.splitlines(),
                                  time.monotonic() - started)
        print(run.stdout, run.stderr, sep="\n")  # shown when the outer test fails
        return result


@pytest.fixture
def lab_repo(tmp_path: Path) -> LabRepo:
    """An empty lab repository with a pytest.ini for async tests."""
    repo = LabRepo(tmp_path / "my-lab")
    repo.write("pytest.ini", INI)
    return repo


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (just bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
