"""Per-device trace plots of one example, rendered to PNG with matplotlib's Agg canvas.

matplotlib is imported inside the functions, so importing the reports package stays cheap; figures
are built from `matplotlib.figure.Figure` directly (no pyplot), which keeps no global figure state
and never touches an interactive backend.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING

from labtwin.scenarios.engine.reports._format import show_controls
from labtwin.scenarios.engine.run_record import ExampleRecord, FaultWindow, StepRecord, TraceSeries

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["BROKER_TARGET", "draws_as_steps", "example_devices", "render_device_plot", "render_example_plots"]

BROKER_TARGET = "broker"  # a broker fault affects every device, so it is shaded on every device's figure

FIG_WIDTH_IN = 10.0
PANEL_HEIGHT_IN = 1.9
STRIP_HEIGHT_IN = 0.3  # per distinct outcome row of the step strip
DPI = 100
PIN_SPACING = 1.5  # pins are stacked with a gap so overlapping 0/1 steps stay readable

# (signal prefix, panel y label); signals matching none of them go to an "other signals" panel
# rather than being dropped silently.
PANELS = (("adc.", "ADC (V)"), ("servo.", "servo angle (°)"), ("pin.", "pin state"))


def example_devices(example: ExampleRecord) -> list[str]:
    """The devices an example gets a figure for: those with traces or with faults aimed at them."""
    devices = {series.device_id for series in example.traces}
    devices.update(fault.target for fault in example.faults if fault.target != BROKER_TARGET)
    return sorted(devices)


def render_example_plots(example: ExampleRecord) -> dict[str, bytes]:
    """One PNG per device of `example` (see `example_devices`), keyed by device id."""
    return {device: render_device_plot(example, device) for device in example_devices(example)}


def render_device_plot(example: ExampleRecord, device_id: str) -> bytes:
    """A PNG of one device: stacked ADC / servo / pin panels, fault windows shaded, and a step-outcome strip."""
    from matplotlib.figure import Figure

    traces = [series for series in example.traces if series.device_id == device_id]
    # Colours follow a fault's place in the whole example, so one window looks the same on every figure.
    faults = [(position, fault) for position, fault in enumerate(example.faults)
              if fault.target in (device_id, BROKER_TARGET)]
    groups = _group_signals(traces)
    outcomes = _outcome_rows(example.steps)

    heights = [PANEL_HEIGHT_IN] * len(groups) + [STRIP_HEIGHT_IN * len(outcomes) + 0.4]
    fig = Figure(figsize=(FIG_WIDTH_IN, sum(heights) + 0.9), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(heights), 1, sharex=True, squeeze=False, height_ratios=heights)[:, 0]
    fig.suptitle(_label(f"{device_id} — example #{example.index}"), fontsize=11)

    for ax, (prefix, ylabel, series_list) in zip(axes, groups, strict=False):
        if prefix == "pin.":
            _draw_pins(ax, series_list)
        else:
            for series in series_list:
                _draw_series(ax, series)
        ax.set_ylabel(ylabel)
    _draw_steps(axes[-1], example.steps, outcomes)

    # Never None when there are faults: their starts count.
    span = _time_span(example, traces, [fault for _, fault in faults])
    for position, ax in enumerate(axes):
        if span is not None:
            # Label the windows once (top panel) so the legend does not repeat them per panel.
            _shade_faults(ax, faults, span[1], labelled=position == 0)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    axes[-1].set_xlabel("lab time (s)")
    if span and span[0] < span[1]:  # equal limits would make matplotlib warn about a singular axis
        axes[-1].set_xlim(*span)

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # Signal, fault and device names come from scenario data and may hold characters the bundled
        # DejaVu font lacks; a missing glyph must cost a box in the image, not the whole report.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _changes(series: TraceSeries) -> bool:
    return len(set(series.values)) > 1


def _group_signals(traces: list[TraceSeries]) -> list[tuple[str, str, list[TraceSeries]]]:
    """(prefix, y label, series) per non-empty panel, in PANELS order, then the unmatched signals."""
    # A board traces every pin at power-on; only pins that ever changed say anything.
    traces = [s for s in traces if not s.signal.startswith("pin.") or _changes(s)]
    groups: list[tuple[str, str, list[TraceSeries]]] = []
    claimed: set[int] = set()
    for prefix, ylabel in PANELS:
        members = [s for s in traces if s.signal.startswith(prefix)]
        claimed.update(id(s) for s in members)
        if members:
            groups.append((prefix, ylabel, sorted(members, key=lambda s: s.signal)))
    others = [s for s in traces if id(s) not in claimed]
    if others:
        groups.append(("", "other signals", sorted(others, key=lambda s: s.signal)))
    return groups


# Signals that hold a value until the next change (a state, a command, a count), drawn as steps; the rest
# are readings of something continuous (volts, degrees, grams), drawn as lines between the readings.
_STATE_NAMES = frozenset({"status", "target", "duty", "pressed", "on", "display_on", "pulse_us", "position",
                          "frames", "flow_ml_s"})
_ENUM_VALUES_MAX = 8


def draws_as_steps(series: TraceSeries) -> bool:
    """Whether ``series`` is a state (WiFi status, a servo's target, a pin...) rather than a reading.

    Known state names (the last part of the signal name), pins, and any signal whose values are a few
    whole numbers (an enum the report does not know) are states.
    """
    if series.signal.startswith("pin.") or series.signal.rsplit(".", 1)[-1] in _STATE_NAMES:
        return True
    values = set(series.values)
    return len(values) <= _ENUM_VALUES_MAX and all(float(value).is_integer() for value in values)


def _draw_series(ax: Axes, series: TraceSeries) -> None:
    if draws_as_steps(series):
        # A state holds from each change to the next: a ramp between two enum values would be a value it never had.
        ax.step(series.times, series.values, where="post", linewidth=1.0, label=_label(series.signal))
    else:
        ax.plot(series.times, series.values, linewidth=1.0, label=_label(series.signal))


def _draw_pins(ax: Axes, pins: list[TraceSeries]) -> None:
    ticks, names = [], []
    for offset, series in enumerate(pins):
        base = offset * PIN_SPACING
        ax.step(series.times, [base + value for value in series.values], where="post", linewidth=1.2,
                label=_label(series.signal))
        ticks.append(base + 0.5)
        names.append(_label(series.signal.removeprefix("pin.")))
    ax.set_yticks(ticks, names)


def _outcome_rows(steps: list[StepRecord]) -> list[str]:
    """Distinct outcomes, "ok" first, so the strip has one row per outcome kind."""
    others = sorted({step.outcome for step in steps if step.outcome != "ok"})
    return ["ok", *others]


def _draw_steps(ax: Axes, steps: list[StepRecord], rows: list[str]) -> None:
    row_of = {outcome: position for position, outcome in enumerate(rows)}
    ok = [step.started for step in steps if step.outcome == "ok"]
    if ok:
        ax.plot(ok, [row_of["ok"]] * len(ok), linestyle="none", marker="|", color="0.55", markersize=8)
    for outcome in rows[1:]:
        times = [step.started for step in steps if step.outcome == outcome]
        ax.plot(times, [row_of[outcome]] * len(times), linestyle="none", marker="x", markersize=7,
                markeredgewidth=1.6, color="#b58900" if outcome.startswith("fault") else "#c62828")
    ax.set_yticks(range(len(rows)), [_label(outcome) for outcome in rows], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_ylabel("steps")


def _shade_faults(ax: Axes, faults: list[tuple[int, FaultWindow]], end_of_example: float, *,
                  labelled: bool) -> None:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    for position, fault in faults:
        # An unfinished window lasts until the example's last recorded moment.
        end = fault.end if fault.end is not None else end_of_example
        still_active = " (still active)" if fault.end is None else ""
        label = _label(f"fault {fault.name} → {fault.target}{still_active}") if labelled else None
        ax.axvspan(fault.start, end, color=palette(position % 10), alpha=0.18, label=label, linewidth=0)


def _times(example: ExampleRecord, traces: list[TraceSeries], faults: list[FaultWindow]) -> Iterable[float]:
    for series in traces:
        yield from series.times
    for step in example.steps:
        yield step.started
        yield step.finished
    for fault in faults:
        yield fault.start
        if fault.end is not None:
            yield fault.end


def _time_span(example: ExampleRecord, traces: list[TraceSeries],
               faults: list[FaultWindow]) -> tuple[float, float] | None:
    """First and last recorded moment of the example as this device's figure sees it (None: nothing recorded)."""
    times = list(_times(example, traces, faults))
    return (min(times), max(times)) if times else None


def _label(text: str) -> str:
    """Text as matplotlib shows it literally: `$` would start mathtext, a leading `_` hides a legend entry."""
    text = show_controls(text).replace("$", r"\$")
    return f" {text}" if text.startswith("_") else text
