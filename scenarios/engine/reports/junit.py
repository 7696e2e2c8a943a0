"""JUnit XML for CI: one testsuite holding one testcase per scenario run.

The layout follows what common CI parsers (Jenkins, GitLab, GitHub test-report actions) read:
`<testsuites>` > `<testsuite tests failures errors skipped time timestamp>` > `<properties>` and
`<testcase classname name time>` with an optional `<failure message type>` and a `<system-out>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from labtwin.scenarios.engine.reports._format import (
    failure_headline,
    format_arguments,
    format_fault_window,
    format_step_time,
    show_controls,
)
from labtwin.scenarios.engine.run_record import ExampleRecord, ScenarioRun

__all__ = ["junit_document", "write_junit_xml"]

SUITE_PREFIX = "labtwin"
TESTCASE_CLASSNAME = "labtwin.scenarios"
FAILURE_TYPE = "ScenarioFailure"


def write_junit_xml(run: ScenarioRun, path: Path) -> Path:
    """Write `run` as a JUnit XML file at `path` (parent directories are created); returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(junit_document(run))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path


def junit_document(run: ScenarioRun) -> ET.Element:
    """The `<testsuites>` element for `run`."""
    failures = "0" if run.passed else "1"
    duration = f"{run.duration_s:.3f}"
    suites = ET.Element("testsuites", _attrs(name=SUITE_PREFIX, tests="1", failures=failures, errors="0",
                                             skipped="0", time=duration))
    suite = ET.SubElement(suites, "testsuite", _attrs(
        name=f"{SUITE_PREFIX}.{run.scenario}", tests="1", failures=failures, errors="0", skipped="0",
        time=duration, timestamp=_timestamp(run.started_at)))
    _add_properties(suite, run)

    case = ET.SubElement(suite, "testcase", _attrs(classname=TESTCASE_CLASSNAME, name=run.scenario, time=duration))
    if not run.passed:
        failure = ET.SubElement(case, "failure", _attrs(message=failure_headline(run), type=FAILURE_TYPE))
        failure.text = show_controls(_failure_body(run))
    ET.SubElement(case, "system-out").text = show_controls(_system_out(run))
    return suites


def _add_properties(suite: ET.Element, run: ScenarioRun) -> None:
    values: list[tuple[str, object]] = [
        ("seed", run.seed),
        ("examples_run", run.examples_run),
        ("steps_run", run.steps_run),
        ("lab_time_s", f"{run.lab_time_s:.3f}"),
        ("speed", run.speed),
        ("speedup", f"{run.speedup:.2f}"),
    ]
    values += [(f"budget.{name}", value) for name, value in run.budgets.items()]
    optional = {"firmware_hash": run.firmware_hash, "reproduce_blob": run.reproduce_blob,
                "replay_command": run.replay_command}
    values += [(name, value) for name, value in optional.items() if value is not None]
    values += [(f"skipped_rule.{rule}", capability) for rule, capability in run.skipped_rules.items()]

    properties = ET.SubElement(suite, "properties")
    for name, value in values:
        ET.SubElement(properties, "property", _attrs(name=name, value=str(value)))


def _failure_body(run: ScenarioRun) -> str:
    parts = [(run.failure or failure_headline(run)).rstrip()]
    if run.minimal_example:
        parts.append("Minimal failing example:\n" + "\n".join(f"    {line}" for line in run.minimal_example))
    reproduce = [f"Seed: {run.seed}"]
    if run.reproduce_blob:
        reproduce.append(f"Reproduce: {run.reproduce_blob}")
    if run.replay_command:
        reproduce.append(f"Replay: {run.replay_command}")
    parts.append("\n".join(reproduce))
    return "\n\n".join(parts) + "\n"


def _system_out(run: ScenarioRun) -> str:
    lines = [
        f"scenario {run.scenario}: {run.description}",
        f"seed {run.seed}; {run.examples_run} examples, {run.steps_run} steps; {run.timing()}",
    ]
    lines += [f"skipped rule {rule}: needs {capability}" for rule, capability in run.skipped_rules.items()]
    for example in run.shown_examples:
        lines.append("")
        lines += _example_lines(example)
    return "\n".join(lines) + "\n"


def _example_lines(example: ExampleRecord) -> list[str]:
    verdict = "passed" if example.passed else "FAILED" + (f": {example.error}" if example.error else "")
    lines = [f"== example #{example.index}: {verdict}"]
    for step in example.steps:
        detail = f": {step.detail}" if step.detail else ""
        lines.append(f"  [{step.index}] {format_step_time(step)}  "
                     f"{step.rule}({format_arguments(step.arguments)}) -> {step.outcome}{detail}")
    if example.faults:
        lines.append("  faults:")
    for fault in example.faults:
        about = f"  {fault.description}" if fault.description else ""
        lines.append(f"    {fault.name} -> {fault.target}: {format_fault_window(fault)}{about}")
    return lines


def _timestamp(started_at: datetime) -> str:
    # The JUnit schema's timestamp has no zone, so an aware time is given in UTC.
    if started_at.tzinfo is not None:
        started_at = started_at.astimezone(UTC).replace(tzinfo=None)
    return started_at.isoformat(timespec="seconds")


def _attrs(**values: str) -> dict[str, str]:
    # ElementTree writes illegal XML characters as they are, into a file no parser would read back.
    return {name: show_controls(value) for name, value in values.items()}
