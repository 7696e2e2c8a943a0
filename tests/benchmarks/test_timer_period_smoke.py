"""benchmarks/timer_period.py runs as a user runs it, briefly, and prints a sane table (never judged on speed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "timer_period.py"


def test_timer_period_prints_each_mode_with_its_periods(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--hz", "100", "--seconds", "0.3"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=100)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stdout + run.stderr
    rows = {cells[0]: cells for line in run.stdout.splitlines() if line.startswith("| ")
            for cells in [[c.strip() for c in line.strip().strip("|").split("|")]]}
    for mode in ("sleep", "asyncio", "baseline"):
        periods, mean, ratio, median, p99, within = rows[mode][1:]
        assert int(periods) == 29, rows[mode]
        assert float(mean.removesuffix(" ms")) > 0 and float(ratio) > 0
        assert 0 <= float(median.removesuffix(" %")) <= float(p99.removesuffix(" %"))
        assert 0 <= float(within.removesuffix(" %")) <= 100
