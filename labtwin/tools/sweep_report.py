"""A sweep's report: one JSON file (everything, for tools) and one Markdown page (a table to read).

Both hold the summary (passed and failed seeds, wall time, seeds per hour per core, the slowest seed),
the failures grouped by what broke (each with its shortest minimal example and the command that
replays it) and a row per seed: passed, examples, steps, lab time, wall time, worker.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from labtwin.tools.sweep import SeedResult, SweepResult

__all__ = ["report_stem", "sweep_summary", "write_sweep_report"]


def report_stem(result: SweepResult) -> str:
    """``sweep-chaos-0-1000``: the report files' name, without suffix."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", result.scenario)
    return f"sweep-{name}-{result.seeds.start}-{result.seeds.stop}"


def _seeds_text(seeds: range) -> str:
    return f"{seeds.start}:{seeds.stop}"


def sweep_summary(result: SweepResult) -> dict[str, Any]:
    """The sweep's figures as JSON-ready data (the report's head)."""
    slowest = result.slowest
    return {"scenario": result.scenario, "seeds": _seeds_text(result.seeds), "cluster": result.cluster,
            "cores": result.cores, "dashboard": result.dashboard, "settings": result.settings,
            "finished": len(result.results), "interrupted": result.interrupted,
            "passed": len(result.results) - len(result.failed),
            "failed": len(result.failed), "wall_s": round(result.wall_s, 3),
            "seeds_per_hour_per_core": round(result.seeds_per_hour_per_core, 1),
            "slowest": None if slowest is None else {"seed": slowest.seed, "wall_s": round(slowest.wall_s, 3)}}


def _groups(result: SweepResult) -> list[dict[str, Any]]:
    return [{"failure": kind, "seeds": [r.seed for r in seeds], "shortest": seeds[0].seed,
             "minimal_example": list(seeds[0].minimal_example), "replay_command": seeds[0].replay_command}
            for kind, seeds in result.failure_groups()]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(result: SweepResult) -> str:
    head = sweep_summary(result)
    settings = ", ".join(f"{key} {value}" for key, value in result.settings.items() if value is not None)
    lines = [f"# Sweep of `{result.scenario}`, seeds {head['seeds']}", "",
             f"- {head['passed']} passed, {head['failed']} failed of {len(result.seeds)} seeds"
             + (f" ({head['finished']} finished)" if head["finished"] != len(result.seeds) else "")
             + (": interrupted (Ctrl-C)" if result.interrupted else ""),
             f"- wall time {result.wall_s:.1f} s on {result.cluster}, {result.cores} cores: "
             f"{result.seeds_per_hour_per_core:.0f} seeds per hour per core"]
    if result.slowest is not None:
        lines.append(f"- slowest seed: {result.slowest.seed} ({result.slowest.wall_s:.1f} s)")
    if settings:
        lines.append(f"- {settings}")
    for group in _groups(result):
        lines += ["", f"## FAILED: {group['failure']}", "",
                  f"Seeds: {', '.join(str(seed) for seed in group['seeds'])}. "
                  f"The shortest minimal example, seed {group['shortest']}:", "", "```"]
        lines += group["minimal_example"] or ["(no minimal example: the run did not finish; see its log)"]
        lines += ["```", ""]
        if group["replay_command"]:
            lines.append(f"Replay: `{group['replay_command']}`")
    lines += ["", "## Seeds", "",
              "| seed | passed | examples | steps | lab time (s) | wall time (s) | worker | failure |",
              "|---:|---|---:|---:|---:|---:|---|---|"]
    lines += [_row(r) for r in result.results]
    return "\n".join(lines) + "\n"


def _row(r: SeedResult) -> str:
    outcome = "yes" if r.passed else ("CRASHED" if r.crashed else "FAILED")
    failure = _cell(r.failure.splitlines()[0]) if r.failure else ""
    return (f"| {r.seed} | {outcome} | {r.examples} | {r.steps} | {r.lab_time_s:.1f} | {r.wall_s:.2f} "
            f"| {_cell(r.worker)} | {failure} |")


def write_sweep_report(result: SweepResult, report_dir: Path) -> dict[str, Path]:
    """Write ``sweep-SCENARIO-A-B.json`` and ``.md`` into ``report_dir``; returns their paths by kind."""
    report_dir.mkdir(parents=True, exist_ok=True)
    stem = report_stem(result)
    paths = {"json": report_dir / f"{stem}.json", "markdown": report_dir / f"{stem}.md"}
    document = {**sweep_summary(result), "failures": _groups(result), "results": [r.as_dict() for r in result.results]}
    paths["json"].write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    paths["markdown"].write_text(_markdown(result), encoding="utf-8")
    return paths
