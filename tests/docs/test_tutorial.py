"""docs/tutorial.md, run: every command of its sh blocks, in order, in one shell, as a reader would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "docs" / "tutorial.md"
EXPECTED_FAILURE = "# exits 1"


def tutorial_script(text: str) -> str:
    """The tutorial's sh blocks as one bash script; a command marked ``# exits 1`` must fail."""
    lines = ["set -euo pipefail"]
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            if line.rstrip().endswith(EXPECTED_FAILURE):
                command = line[: line.rindex(EXPECTED_FAILURE)].strip()
                lines.append(f'if {command}; then echo "TUTORIAL: expected to fail: {command}"; exit 3; fi')
            else:
                lines.append(line)
    return "\n".join(lines) + "\n"


def test_the_tutorial_runs_from_an_idea_to_a_flashed_board(tmp_path: Path) -> None:
    script = tutorial_script(TUTORIAL.read_text(encoding="utf-8"))
    assert "labtwin init my-lab" in script and "labtwin flash" in script
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               OT_API_CONFIG_DIR=str(tmp_path / "opentrons"))
    env.pop("LABTWIN_LAB", None)
    # Its own process group: whatever the tutorial leaves running is stopped with it.
    process = subprocess.Popen(["bash", "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=420)
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        process.wait()
    assert process.returncode == 0, out[-6000:]
    # What each step should have shown.
    assert "scenario 'read-environment' passed" in out
    assert len(re.findall(r"^probe: 2\d\.\d{4} C$", out, re.MULTILINE)) == 6  # on the twin, then on the bench
    assert re.search(r"scenario 'probe-follows-the-room' passed: \d+ examples", out)
    failed = re.search(r"scenario 'probe-follows-the-room' FAILED after \d+ examples: AssertionError", out)
    assert failed, out[-6000:]
    shrunk = out[failed.end():]
    # Shrunk to three reads: the second still agrees within the resolution, the third cannot.
    assert len(re.findall(r"state\.read_probe\(\)", shrunk.split("replay:")[0])) == 3
    assert "replay: labtwin run probe-follows-the-room --lab lab.toml --seed 0" in shrunk
    assert re.search(r"scenario 'read-probe' passed on the bench", out)
    assert re.search(r"\d+ passed, \d+ skipped", out)  # pytest on the bench: the hardware tests skip
    assert re.search(r"flashed lab-pico-1: firmware .* online [\d.]+ s after reset", out)
