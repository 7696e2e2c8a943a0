"""Lab time: one clock for a whole twin lab, running at real time, N times faster, or event-driven.

:class:`Speed` says how fast (``--speed 10``, ``--speed max``); :class:`LabClock` is the lab's clock;
:class:`LabEventLoop` is an asyncio loop whose time is that clock, so every timer, sleep and timeout
on it (the broker's, the network twin's, the orchestrator's) is lab time; the boards' VMs read the
same clock through their lab-time shims. See docs/time.md.
"""

from labtwin.twin.lab_time.clock import LabClock
from labtwin.twin.lab_time.event_loop import (
    LabEventLoop,
    lab_clock_of,
    lab_loop_factory,
    released,
    run_on_lab_time,
    speed_factor,
)
from labtwin.twin.lab_time.speed import Speed

__all__ = ["LabClock", "LabEventLoop", "Speed", "lab_clock_of", "lab_loop_factory", "released", "run_on_lab_time",
           "speed_factor"]
