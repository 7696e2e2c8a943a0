"""A logging experiment: a sensor reading every 10 s and a servo move every minute, for a set lab time.

``labtwin run logger --duration 1h --speed max`` logs an hour in seconds of wall time. Written against
the orchestrator client and the lab's clock, so it runs unchanged on a bench (in real time).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from labtwin.errors import ExperimentFailed
from labtwin.orchestrator.task_client import AsyncTaskClient
from labtwin.twin.clock import Clock

__all__ = ["DEFAULT_DURATION_S", "MOVE_EVERY_S", "READ_EVERY_S", "LoggerReport", "run_logger_experiment"]

READ_EVERY_S = 10.0
MOVE_EVERY_S = 60.0
DEFAULT_DURATION_S = 600.0
SERVO_ANGLES = (0, 90, 180, 90)
MAX_LAG_S = 1.0
"""How far behind its schedule a reading may start (lab seconds) before the log is not trusted."""


@dataclass
class LoggerReport:
    """What the logger logged: (lab seconds since its start, value) pairs."""

    device_id: str
    duration_s: float
    readings: list[tuple[float, float]] = field(default_factory=list)  # (t, volts)
    moves: list[tuple[float, int]] = field(default_factory=list)  # (t, angle)
    max_lag_s: float = 0.0

    def summary_lines(self) -> list[str]:
        volts = [v for _, v in self.readings]
        return [f"Logged on {self.device_id} over {self.duration_s:g} s of lab time: {len(self.readings)} readings "
                f"(mean {statistics.fmean(volts):.3f} V, min {min(volts):.3f}, max {max(volts):.3f}), "
                f"{len(self.moves)} servo moves; largest lag behind schedule {self.max_lag_s * 1000:.0f} ms"]


async def run_logger_experiment(device: AsyncTaskClient, clock: Clock, *, duration: float = DEFAULT_DURATION_S,
                                sensor_pin: int = 26, servo_pin: int = 15,
                                report: Callable[[str], None] = print) -> LoggerReport:
    """Log for ``duration`` lab seconds: ``read_sensor`` every READ_EVERY_S, ``move_servo`` every MOVE_EVERY_S.

    Raises:
        ExperimentFailed: a reading started more than MAX_LAG_S behind its schedule.
        TaskError, TaskTimeout, DeviceOffline: a call failed (the log stops there).
    """
    result = LoggerReport(device.device_id, duration)
    schedule = sorted([(k * READ_EVERY_S, "a-read") for k in range(int(duration // READ_EVERY_S))]
                      + [(k * MOVE_EVERY_S, "b-move") for k in range(int(duration // MOVE_EVERY_S))])
    report(f"Logger on {device.device_id}: a reading every {READ_EVERY_S:g} s, a servo move every "
           f"{MOVE_EVERY_S:g} s, for {duration:g} s of lab time")
    start = clock.now()
    next_progress = duration / 10
    for at, what in schedule:
        await clock.sleep(start + at - clock.now())
        lag = clock.now() - start - at
        result.max_lag_s = max(result.max_lag_s, lag)
        if what == "a-read":  # at the same time as a move, the reading first
            if lag > MAX_LAG_S:
                raise ExperimentFailed(f"the reading due at {at:g} s started {lag:.2f} s late (more than "
                                       f"{MAX_LAG_S:g} s): the log has gaps")
            value = await device.call("read_sensor", {"sensor_pin": sensor_pin})
            result.readings.append((at, float(value["voltage"])))
        else:
            angle = SERVO_ANGLES[len(result.moves) % len(SERVO_ANGLES)]
            await device.call("move_servo", {"pin": servo_pin, "angle": angle})
            result.moves.append((at, angle))
        if at >= next_progress and result.readings:
            report(f"  {at:>8.0f} s: {len(result.readings)} readings, {len(result.moves)} moves, "
                   f"last {result.readings[-1][1]:.3f} V")
            next_progress += duration / 10
    await clock.sleep(start + duration - clock.now())
    for line in result.summary_lines():
        report(line)
    return result
