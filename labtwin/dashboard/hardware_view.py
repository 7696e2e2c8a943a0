"""What a twin lab's board models say: the part of the dashboard only a twin has.

Read from the models as they are (no request reaches a board): power, the LED, pin levels, servo
angles, every part's readings (a pump's flow, a balance's weight, a display's frame buffer) and the
hazards the firmware caused. Plots come from the model's own :class:`~labtwin.twin.models.trace.Trace`,
which records every sample the firmware caused, so the page shows the history, not what a poll caught.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from labtwin.twin.board.model import BoardModel
from labtwin.twin.parts.balance import Balance
from labtwin.twin.parts.pump import Pump
from labtwin.twin.parts.ssd1306 import Ssd1306

__all__ = ["board_hardware", "new_trace_samples"]

_HAZARDS_SHOWN = 5


def board_hardware(model: BoardModel, now: float) -> dict[str, Any]:
    """A board model's state at lab time ``now`` for the page (JSON-ready, values rounded for display)."""
    trace = model.trace
    pins = {signal[len("pin."):]: int(last[1]) for signal in trace.signals()
            if signal.startswith("pin.") and (last := trace.last(signal)) is not None}
    servos = {servo.name if servo.name != "servo" else f"GPIO{gpio}": round(servo.angle_at(now), 1)
              for gpio, servo in sorted(model.servos.items())}
    hazards = model.hazards
    newest = trace_last(model)
    return {
        "powered": model.powered,
        "boot_count": model.boot_count,
        "led": model.led if model.powered else False,
        "pins": pins,
        "servos": servos,
        "parts": [_part(part, newest, now) for part in model.parts],
        "hazards": [f"{h.pin_name}: {h.message}" for h in hazards[-_HAZARDS_SHOWN:]],
        "hazard_count": len(hazards),
    }


def trace_last(model: BoardModel) -> dict[str, float]:
    """The newest value of every signal the board's trace holds."""
    trace = model.trace
    return {signal: last[1] for signal in trace.signals() if (last := trace.last(signal)) is not None}


def new_trace_samples(model: BoardModel, after: dict[str, float]) -> dict[str, list[tuple[float, float]]]:
    """Samples of every trace signal newer than ``after[signal]`` (all retained ones for a new signal);
    ``after`` is moved on to the newest sample sent."""
    new: dict[str, list[tuple[float, float]]] = {}
    for signal in model.trace.signals():
        samples = model.trace.after(signal, after.get(signal, float("-inf")))
        if samples:
            new[signal] = samples
            after[signal] = samples[-1][0]
    return new


def _part(part: object, last: dict[str, float], now: float) -> dict[str, Any]:
    name = str(getattr(part, "name", type(part).__name__))
    readings: dict[str, Any] = {}
    entry: dict[str, Any] = {"kind": type(part).__name__, "name": name, "readings": readings}
    if isinstance(part, Pump):
        readings["flow_ml_s"] = round(part.flow(now), 4)
        readings["dispensed_ml"] = round(part.dispensed_ml(now), 3)
        readings["stalled"] = part.stalled
    elif isinstance(part, Balance):
        readings["weight_g"] = round(part.net(now), 4)
        readings["stable"] = part.stable(now)
    elif isinstance(part, Ssd1306):
        readings["display_on"] = bool(part.display_on)
        entry["display"] = _frame(part)
    # Every part's own trace signals (``bme280.air.temperature``, ``pump.feed.flow_ml_s``...) as its readings.
    marker = f".{name}."
    for signal, value in last.items():
        if marker in f".{signal}" and signal.rsplit(".", 1)[-1] not in readings:
            readings[signal.rsplit(".", 1)[-1]] = round(value, 4)
    return entry


def _frame(display: Ssd1306) -> dict[str, Any]:
    """The display's frame buffer as rows of packed bits, base64 (128 x 64 is 1 KiB)."""
    frame = display.frame()
    height, width = frame.shape
    packed = np.packbits(frame.astype(np.uint8), axis=1)
    return {"width": int(width), "height": int(height), "bits": base64.b64encode(packed.tobytes()).decode()}
