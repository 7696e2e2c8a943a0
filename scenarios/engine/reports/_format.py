"""Plain-text renderings shared by the JUnit and HTML writers, so both reports say the same thing."""

from __future__ import annotations

import re
from typing import Any

from labtwin.scenarios.engine.run_record import FaultWindow, ScenarioRun, StepRecord

__all__ = [
    "failure_headline", "format_arguments", "format_fault_window", "format_step_time", "report_stem", "show_controls",
]

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
# Characters XML 1.0 cannot carry at all (not even as references) and HTML treats as parse errors:
# C0 controls other than tab/newline/CR, lone surrogates, U+FFFE/U+FFFF. Step details and tracebacks
# may hold them (NUL, ANSI colour escapes from device output).
_UNPRINTABLE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def show_controls(text: str) -> str:
    """`text` with characters no XML or HTML file can hold spelled as `\\xNN`, so they are seen, not lost."""
    return _UNPRINTABLE.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def format_arguments(arguments: dict[str, Any]) -> str:
    """A rule's arguments as `name=repr(value)`, in the order the state machine drew them."""
    return ", ".join(f"{name}={value!r}" for name, value in arguments.items())


def format_step_time(step: StepRecord) -> str:
    """When a step started and how long it took, in lab-clock seconds."""
    return f"{step.started:.3f} s (+{step.finished - step.started:.3f} s)"


def format_fault_window(fault: FaultWindow) -> str:
    """A fault's interval; an open end means it was still active when the example ended."""
    end = f"{fault.end:.3f} s" if fault.end is not None else "still active"
    return f"{fault.start:.3f} s – {end}"


def failure_headline(run: ScenarioRun) -> str:
    """One line naming why the run failed (CI shows it as the failure message)."""
    text = (run.failure or "").strip()
    first = text.splitlines()[0] if text else f"scenario {run.scenario!r} failed"
    return first if len(first) <= 200 else first[:199] + "…"


def report_stem(run: ScenarioRun) -> str:
    """`<scenario>-<seed>`, with anything a file system might object to replaced by `_`."""
    return f"{_UNSAFE_FILENAME.sub('_', run.scenario) or 'scenario'}-{run.seed}"
