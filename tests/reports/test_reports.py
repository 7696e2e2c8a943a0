"""Report writers: JUnit XML that CI parsers read, and a self-contained, escaped HTML page with plots."""

from __future__ import annotations

import base64
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from labtwin.scenarios.engine.reports import write_html_report, write_junit_xml, write_reports
from labtwin.scenarios.engine.reports.plots import render_example_plots
from labtwin.scenarios.engine.run_record import ExampleRecord, FaultWindow, ScenarioRun, StepRecord, TraceSeries

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE_DETAIL = "<script>alert('x')</script> & ANSI \x1b[31mred\x1b[0m NUL \x00 surrogate \ud800 done"
BLOB = "@reproduce_failure('6.170.17', b'AXicY2BgYGQAAgAAHQAD')"
REPLAY = "labtwin run sensor-faults --seed 1234 --replay 'AXicY2BgYGQAAgAAHQAD'"
IMG_TAG = '<img src="data:image/png;base64,'


def _traces(device: str, samples: int) -> list[TraceSeries]:
    times = [i * 0.05 for i in range(samples)]
    return [
        TraceSeries(device, "adc.0", times, [1.65 + 1.2 * math.sin(t) for t in times]),
        TraceSeries(device, "adc.1", times, [0.5 + 0.1 * t for t in times]),
        TraceSeries(device, "servo.GPIO15", times, [90 + 60 * math.sin(t / 3) for t in times]),
        TraceSeries(device, "pin.LED", times, [float(int(t) % 2) for t in times]),
        TraceSeries(device, "pin.PUMP", times, [float(int(t / 3) % 2) for t in times]),
    ]


def failing_run() -> ScenarioRun:
    steps = [
        StepRecord(0, "read_sensor", {"device": "pico-1", "channel": 0}, 0.10, 0.25, "ok", "1.72 V"),
        StepRecord(1, "inject_fault", {"fault": "adc_stuck"}, 2.0, 2.01, "fault started", "adc.0 stuck at 3.3 V"),
        StepRecord(2, "set_servo", {"device": "esp-1", "angle": 200}, 3.0, 3.5, "TaskError:E_RANGE", HOSTILE_DETAIL),
        StepRecord(3, "read_sensor", {"device": "pico-1", "channel": 0}, 5.0, 7.0, "TaskTimeout", "no reply in 2 s"),
    ]
    faults = [
        FaultWindow("adc_stuck", "pico-1", 2.0, 6.0, "ADC channel 0 reads full scale"),
        FaultWindow("broker_partition", "broker", 8.0, None, "broker drops every publish"),
        FaultWindow("brownout", "esp-1", 4.0, 4.5),
    ]
    failing = ExampleRecord(
        index=7, steps=steps, faults=faults, traces=_traces("pico-1", 400) + _traces("esp-1", 300),
        passed=False, error="AssertionError: voltage 3.3 V outside 0..3.0 V & <b>not bold</b>",
    )
    return ScenarioRun(
        scenario="sensor-faults",
        description="Sensor readings stay in range under ADC & broker faults",
        seed=1234,
        started_at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        duration_s=12.5,
        budgets={"max_examples": 50, "stateful_step_count": 20, "deadline_s": 30},
        passed=False,
        examples_run=8,
        steps_run=97,
        failure="AssertionError: voltage 3.3 V outside 0..3.0 V\nwhile reading pico-1 adc.0",
        minimal_example=["state = SensorMachine()", "state.inject_fault(fault='adc_stuck')",
                         "state.read_sensor(channel=0, device='pico-1')", "state.teardown()"],
        reproduce_blob=BLOB,
        replay_command=REPLAY,
        skipped_rules={"move_pipette": "ot2.pipette", "set_heater": "heater<pwm>"},
        firmware_hash="3f9a1c0d",
        shown_examples=[failing],
    )


def passing_run() -> ScenarioRun:
    example = ExampleRecord(
        index=0,
        steps=[StepRecord(0, "blink", {"device": "pico-1", "times": 2}, 0.0, 1.0, "ok")],
        traces=[TraceSeries("pico-1", "pin.LED", [0.0, 0.5, 1.0], [1.0, 0.0, 1.0])],
    )
    return ScenarioRun(
        scenario="blink", description="LED blinks", seed=7, started_at=datetime(2024, 1, 2, 3, 4, 5),
        duration_s=1.25, budgets={"max_examples": 1}, passed=True, examples_run=1, steps_run=1,
        replay_command="labtwin run blink --seed 7", shown_examples=[example],
    )


def empty_run() -> ScenarioRun:
    return ScenarioRun(
        scenario="nothing/at all", description="", seed=0, started_at=datetime(2024, 1, 1), duration_s=0.0,
        budgets={}, passed=False, examples_run=0, steps_run=0,
    )


def _suite(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    return suites[0]


def _png_images(html: str) -> list[bytes]:
    return [base64.b64decode(data, validate=True)
            for data in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_junit_of_a_failing_run_has_counts_failure_and_reproduction(tmp_path: Path) -> None:
    run = failing_run()
    suite = _suite(write_junit_xml(run, tmp_path / "out" / "run.xml"))

    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == \
        {"tests": "1", "failures": "1", "errors": "0", "skipped": "0"}
    assert float(suite.get("time", "nan")) == pytest.approx(12.5)
    assert suite.get("timestamp") == "2024-05-06T07:08:09"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["seed"] == "1234"
    assert properties["budget.max_examples"] == "50"
    assert properties["budget.stateful_step_count"] == "20"
    assert properties["skipped_rule.move_pipette"] == "ot2.pipette"

    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [("labtwin.scenarios", "sensor-faults")]
    failure = cases[0].find("failure")
    assert failure is not None
    assert failure.get("message") == "AssertionError: voltage 3.3 V outside 0..3.0 V"
    body = failure.text or ""
    assert "while reading pico-1 adc.0" in body
    assert "state.read_sensor(channel=0, device='pico-1')" in body
    assert BLOB in body and REPLAY in body and "1234" in body

    out = cases[0].findtext("system-out") or ""
    assert "set_servo(device='esp-1', angle=200) -> TaskError:E_RANGE" in out
    assert "<script>alert('x')</script> & ANSI \\x1b[31mred" in out  # illegal XML chars shown, not dropped
    assert "adc_stuck -> pico-1" in out and "still active" in out


def test_junit_of_a_passing_run_has_no_failure(tmp_path: Path) -> None:
    suite = _suite(write_junit_xml(passing_run(), tmp_path / "pass.xml"))
    assert suite.get("tests") == "1" and suite.get("failures") == "0"
    case = suite.find("testcase")
    assert case is not None and case.find("failure") is None and case.find("error") is None
    assert "blink(device='pico-1', times=2) -> ok" in (case.findtext("system-out") or "")


def test_html_of_a_failing_run_is_escaped_self_contained_and_complete(tmp_path: Path) -> None:
    run = failing_run()
    html = write_html_report(run, tmp_path / "run.html").read_text(encoding="utf-8")

    assert "FAIL" in html and "1234" in html and "3f9a1c0d" in html
    assert "<script" not in html  # the detail's script tag only appears escaped
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; ANSI" in html
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html
    assert "ANSI \\x1b[31mred\\x1b[0m NUL \\x00 surrogate \\xd800 done" in html  # controls visible, not raw
    assert "ADC &amp; broker faults" in html
    assert escape_like(REPLAY) in html and escape_like(BLOB) in html
    assert "state.inject_fault(fault=&#x27;adc_stuck&#x27;)" in html
    assert "ot2.pipette" in html and "heater&lt;pwm&gt;" in html
    assert 'class="bad"' in html and 'class="fault"' in html
    # Nothing is fetched from elsewhere: no links, scripts or remote images.
    assert not re.search(r'(?:src|href)="(?!data:image/png;base64,)', html)

    images = _png_images(html)
    assert html.count(IMG_TAG) == 2 == len(images)  # pico-1 and esp-1; the broker gets no figure of its own
    assert all(png.startswith(PNG_SIGNATURE) for png in images)


def test_html_of_a_passing_run(tmp_path: Path) -> None:
    html = write_html_report(passing_run(), tmp_path / "pass.html").read_text(encoding="utf-8")
    assert "PASS" in html and "labtwin run blink --seed 7" in html
    assert "Minimal failing example" not in html
    assert html.count(IMG_TAG) == 1


def test_a_run_with_no_examples_writes_both_reports(tmp_path: Path) -> None:
    paths = write_reports(empty_run(), tmp_path / "reports")
    assert paths == {"junit": tmp_path / "reports" / "nothing_at_all-0.xml",
                     "html": tmp_path / "reports" / "nothing_at_all-0.html"}
    suite = _suite(paths["junit"])
    assert suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None and failure.get("message") == "scenario 'nothing/at all' failed"
    html = paths["html"].read_text(encoding="utf-8")
    assert "No examples were recorded" in html and IMG_TAG not in html


def test_plots_cover_faulted_devices_without_traces_and_examples_without_anything() -> None:
    example = ExampleRecord(
        index=1,
        steps=[StepRecord(0, "ping", {}, 1.0, 1.0, "DeviceOffline", "gone")],
        faults=[FaultWindow("power_cut 電源 \ud800", "pico-2", 1.0, None),  # glyphs DejaVu lacks, a surrogate
                FaultWindow("$x_1$ _hidden", "broker", 0.5, 2.0)],  # mathtext and legend-hiding syntax
    )
    plots = render_example_plots(example)
    assert list(plots) == ["pico-2"]
    assert plots["pico-2"].startswith(PNG_SIGNATURE)
    assert render_example_plots(ExampleRecord(index=2)) == {}


def test_a_typical_report_stays_small(tmp_path: Path) -> None:
    html = write_html_report(failing_run(), tmp_path / "run.html")
    assert html.stat().st_size < 1_000_000


def test_importing_the_reports_package_does_not_import_matplotlib() -> None:
    code = "import sys, labtwin.scenarios.engine.reports; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def escape_like(text: str) -> str:
    """What html.escape makes of `text` (quotes included), spelled out so the test does not reuse the writer's call."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#x27;"))


def test_pins_that_never_changed_are_not_plotted():
    from labtwin.scenarios.engine.reports.plots import _group_signals

    constant = TraceSeries("dev", "pin.GPIO3", [0.0, 1.0], [0.0, 0.0])
    toggled = TraceSeries("dev", "pin.LED", [0.0, 1.0], [0.0, 1.0])
    adc = TraceSeries("dev", "adc.0", [0.0], [1.1])
    groups = {label: [s.signal for s in members] for _, label, members in _group_signals([constant, toggled, adc])}
    assert all("pin.GPIO3" not in signals for signals in groups.values())
    assert any("pin.LED" in signals for signals in groups.values())


def test_states_and_enums_are_drawn_as_steps_and_readings_as_lines():
    from matplotlib.figure import Figure

    from labtwin.scenarios.engine.reports.plots import _draw_series, draws_as_steps

    wifi = TraceSeries("dev", "wifi.status", [0.0, 0.3, 5.0], [1.0, 3.0, 0.0])  # CONNECTING, GOT_IP, IDLE
    target = TraceSeries("dev", "servo.GPIO15.target", [1.0, 2.0], [120.0, 30.0])
    unknown_enum = TraceSeries("dev", "door.state_code", [0.0, 1.0, 2.0], [2.0, -1.0, 2.0])
    volts = TraceSeries("dev", "adc.0", [0.0, 1.0, 2.0], [1.1, 1.1008, 1.0992])
    grams = TraceSeries("dev", "balance.scale.weight", [0.0, 1.0, 2.0], [0.0, 12.5, 25.0])
    assert [draws_as_steps(s) for s in (wifi, target, unknown_enum, volts, grams)] == [True, True, True, False, False]

    ax = Figure().subplots()
    _draw_series(ax, wifi)
    _draw_series(ax, volts)
    assert [line.get_drawstyle() for line in ax.lines] == ["steps-post", "default"]
