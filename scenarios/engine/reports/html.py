"""A self-contained HTML page per scenario run: verdict, failure, reproduction, steps, faults, plots.

Self-contained means one file with no external CSS, scripts or images: styles are inline and each
plot is a base64 PNG data URI, so the page can be attached to a CI job or mailed as it is. Every
piece of run data goes through `_text` (html.escape), because step details and errors can contain anything.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from html import escape
from pathlib import Path

from labtwin.scenarios.engine.reports._format import (
    format_arguments,
    format_fault_window,
    format_step_time,
    show_controls,
)
from labtwin.scenarios.engine.reports.plots import render_example_plots
from labtwin.scenarios.engine.run_record import ExampleRecord, ScenarioRun, StepRecord

__all__ = ["html_document", "write_html_report"]

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 72em;
       padding: 0 1em; color: #1d1d1f; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; } h3 { margin-top: 1.4em; }
.badge { display: inline-block; padding: 0.1em 0.6em; border-radius: 0.3em; color: #fff; font-size: 0.8em;
         vertical-align: middle; }
.pass { background: #2e7d32; } .fail { background: #c62828; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1.2em; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; border-radius: 4px; padding: 0.7em; overflow-x: auto;
      white-space: pre-wrap; word-break: break-word; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.code { font-family: ui-monospace, monospace; white-space: pre-wrap; word-break: break-word; }
tr.bad td { background: #fdecea; } tr.fault td { background: #fff8e1; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
"""


def write_html_report(run: ScenarioRun, path: Path) -> Path:
    """Write `run` as one self-contained HTML page at `path` (parent directories are created); returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_document(run), encoding="utf-8")
    return path


def html_document(run: ScenarioRun) -> str:
    """The full HTML page for `run`, plots included."""
    verdict = "PASS" if run.passed else "FAIL"
    sections = [_header(run, verdict), _failure(run), _reproduction(run), _skipped_rules(run), _examples(run)]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{_text(run.scenario)} — {verdict} — labtwin</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(section for section in sections if section)
        + "\n</body>\n</html>\n"
    )


def _header(run: ScenarioRun, verdict: str) -> str:
    budgets = ", ".join(f"{name} = {value}" for name, value in run.budgets.items()) or "—"
    facts = [
        ("Seed", str(run.seed)),
        ("Started", _when(run.started_at)),
        ("Duration", f"{run.duration_s:.2f} s wall time"),
        ("Lab time", f"{run.lab_time_s:.2f} s ({run.speedup:.1f}x real time, --speed {run.speed})"),
        ("Examples run", str(run.examples_run)),
        ("Steps run", str(run.steps_run)),
        ("Budgets", budgets),
        ("Firmware hash", run.firmware_hash or "—"),
    ]
    rows = "\n".join(f"<dt>{_text(name)}</dt><dd>{_text(value)}</dd>" for name, value in facts)
    badge = f'<span class="badge {"pass" if run.passed else "fail"}">{verdict}</span>'
    return (f"<header>\n<h1>{_text(run.scenario)} {badge}</h1>\n<p>{_text(run.description)}</p>\n"
            f'<dl class="facts">\n{rows}\n</dl>\n</header>')


def _failure(run: ScenarioRun) -> str:
    if run.passed:
        return ""
    parts = ["<section>\n<h2>Failure</h2>", _pre(run.failure or "The scenario failed without a message.")]
    if run.minimal_example:
        parts += ["<h3>Minimal failing example</h3>", _pre("\n".join(run.minimal_example))]
    return "\n".join(parts) + "\n</section>"


def _reproduction(run: ScenarioRun) -> str:
    parts = ["<section>\n<h2>Reproduce</h2>", f"<p>Seed <strong>{_text(str(run.seed))}</strong></p>"]
    if run.reproduce_blob:
        parts += ["<h3>Hypothesis reproduction blob</h3>", _pre(run.reproduce_blob)]
    if run.replay_command:
        parts += ["<h3>Replay command</h3>", _pre(run.replay_command)]
    return "\n".join(parts) + "\n</section>"


def _skipped_rules(run: ScenarioRun) -> str:
    if not run.skipped_rules:
        return ""
    rows = [(_text(rule), _text(capability)) for rule, capability in run.skipped_rules.items()]
    return ("<section>\n<h2>Skipped rules</h2>\n<p>These rules need a capability the lab did not offer.</p>\n"
            + _table(("Rule", "Missing capability"), rows) + "\n</section>")


def _examples(run: ScenarioRun) -> str:
    if not run.shown_examples:
        return "<section>\n<h2>Examples</h2>\n<p>No examples were recorded for this run.</p>\n</section>"
    return "\n".join(_example(example) for example in run.shown_examples)


def _example(example: ExampleRecord) -> str:
    verdict = "passed" if example.passed else "FAILED"
    parts = [f'<section id="example-{example.index}">\n<h2>Example #{example.index} — {verdict}</h2>']
    if example.error:
        parts.append(_pre(example.error))

    parts.append(f"<h3>Steps ({len(example.steps)})</h3>")
    if example.steps:
        parts.append(_steps_table(example.steps))
    else:
        parts.append("<p>No steps ran.</p>")

    parts.append(f"<h3>Faults ({len(example.faults)})</h3>")
    if example.faults:
        rows = [(_text(fault.name), _text(fault.target), _text(format_fault_window(fault)),
                 _text(fault.description)) for fault in example.faults]
        parts.append(_table(("Fault", "Target", "Active", "Description"), rows))
    else:
        parts.append("<p>No faults were injected.</p>")

    parts.append("<h3>Traces</h3>")
    plots = render_example_plots(example)
    if plots:
        parts += [_figure(device, png) for device, png in plots.items()]
    else:
        parts.append("<p>No traces were recorded.</p>")
    return "\n".join(parts) + "\n</section>"


def _steps_table(steps: list[StepRecord]) -> str:
    header = "<tr><th>#</th><th>Time</th><th>Rule</th><th>Arguments</th><th>Outcome</th><th>Detail</th></tr>"
    rows = []
    for step in steps:
        css = _outcome_class(step.outcome)
        rows.append(
            (f'<tr class="{css}">' if css else "<tr>")
            + f'<td class="num">{step.index}</td><td class="num">{_text(format_step_time(step))}</td>'
            f"<td>{_text(step.rule)}</td><td class=\"code\">{_text(format_arguments(step.arguments))}</td>"
            f"<td>{_text(step.outcome)}</td><td class=\"code\">{_text(step.detail)}</td></tr>"
        )
    return f"<table>\n{header}\n" + "\n".join(rows) + "\n</table>"


def _outcome_class(outcome: str) -> str:
    """Row highlight: none for ok, amber for fault bookkeeping ("fault started"), red for anything else."""
    if outcome == "ok":
        return ""
    return "fault" if outcome.startswith("fault") else "bad"


def _figure(device_id: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    label = _text(device_id)
    return (f'<figure>\n<img src="data:image/png;base64,{data}" alt="traces of {label}">\n'
            f"<figcaption>{label}</figcaption>\n</figure>")


def _table(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table from already-escaped cells."""
    head = "<tr>" + "".join(f"<th>{_text(h)}</th>" for h in headings) + "</tr>"
    body = "\n".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table>\n{head}\n{body}\n</table>"


def _text(value: str) -> str:
    """Run data as HTML text: markup escaped, and controls (NUL, ANSI escapes, lone surrogates) made visible."""
    return escape(show_controls(value))


def _pre(text: str) -> str:
    return f"<pre>{_text(text)}</pre>"


def _when(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds")
