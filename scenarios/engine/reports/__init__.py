"""Report writers for a scenario run: JUnit XML for CI and a self-contained HTML page.

Importing this package is cheap: matplotlib is only imported when the HTML page renders its plots.
"""

from __future__ import annotations

from pathlib import Path

from labtwin.scenarios.engine.reports._format import report_stem
from labtwin.scenarios.engine.reports.html import write_html_report
from labtwin.scenarios.engine.reports.junit import write_junit_xml
from labtwin.scenarios.engine.run_record import ScenarioRun

__all__ = ["write_html_report", "write_junit_xml", "write_reports"]


def write_reports(run: ScenarioRun, directory: Path) -> dict[str, Path]:
    """Write `<scenario>-<seed>.xml` and `<scenario>-<seed>.html` into `directory` (created if missing).

    Returns the written paths keyed "junit" and "html".
    """
    stem = report_stem(run)
    return {
        "junit": write_junit_xml(run, directory / f"{stem}.xml"),
        "html": write_html_report(run, directory / f"{stem}.html"),
    }
