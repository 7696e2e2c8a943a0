"""Helpers for the bench tests: `labtwin serve lab` in its own process, and reading its output."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from labtwin.cli.serve import READY_LINE


@dataclass
class ServedLab:
    """A running `labtwin serve lab`: its bench file and secrets, its output so far, its process.

    ``output_ended`` is set once the output has been read to the end (the process has exited).
    """

    bench: Path
    env: dict[str, str]
    output: list[str]
    proc: subprocess.Popen[str]
    lab_dir: Path
    output_ended: threading.Event

    def console(self, device_id: str) -> str:
        """The board's console URL, from the lab's output."""
        prefix = f"  console {device_id}: "
        return next(line[len(prefix):] for line in self.output if line.startswith(prefix))


def read_until(proc: subprocess.Popen[str], marker: str, output: list[str], timeout: float) -> threading.Event:
    """Collect the process's lines into ``output`` (a thread keeps reading) until one contains ``marker``.

    Returns an event set when the output has been read to its end.
    """
    assert proc.stdout is not None
    stdout = proc.stdout
    seen = threading.Event()
    ended = threading.Event()

    def pump() -> None:
        for line in stdout:
            output.append(line.rstrip())
            if marker in line:
                seen.set()
        ended.set()

    threading.Thread(target=pump, daemon=True).start()
    if not seen.wait(timeout):
        pytest.fail(f"no {marker!r} within {timeout:g} s (exit code {proc.poll()}); output: {output}")
    return ended


def secrets_from(env_file: Path) -> dict[str, str]:
    """The variables a `source`d .env file would export."""
    values = {}
    for line in env_file.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        values[name] = shlex.split(value)[0]
    return values


@contextmanager
def serve_lab_process(work: Path) -> Iterator[ServedLab]:
    """`labtwin serve lab` in its own process (boards in ``work/lab``); always stopped (SIGINT, as Ctrl-C)."""
    bench = work / "bench.toml"
    with subprocess.Popen([sys.executable, "-m", "labtwin.cli.main", "serve", "lab", "--bench-out", str(bench),
                           "--work-dir", str(work / "lab"), "--ui-port", "0"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}) as proc:
        output: list[str] = []
        try:
            ended = read_until(proc, READY_LINE, output, timeout=60)
            yield ServedLab(bench, secrets_from(work / "bench.toml.env"), output, proc, work / "lab", ended)
        finally:
            interrupt(proc)


def interrupt(proc: subprocess.Popen[str], timeout: float = 20) -> None:
    """Stop ``proc`` as Ctrl-C would (SIGINT), SIGKILL if it outstays ``timeout`` s; reaped either way."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
