"""Protocol delays at a chosen speed: ``protocol.delay(seconds=600)`` need not stall a scenario.

opentrons' engine sleeps for a ``waitForDuration`` command in real time (or not at all when its
``ignore_pause`` is set, which also skips ``protocol.pause()``). The twin wants delays *shortened*
and pauses kept, so it gives the engine's queue worker a run-control handler whose delay divides
by the speed-up. This reaches into one module of opentrons 9.0.0 (pinned exactly in pyproject);
:func:`install` fails loudly if that module ever changes shape.
"""

from __future__ import annotations

import asyncio
import importlib

from labtwin.errors import ConfigError

__all__ = ["install"]


def install(speedup: float) -> None:
    """Make every engine built from now on in this process run delays ``speedup`` times faster.

    Process-wide: the robot API twin serves one robot per process. ``speedup == 1`` restores
    opentrons' own handler.
    """
    # The submodule, not the function of the same name that the package re-exports.
    create_queue_worker = importlib.import_module("opentrons.protocol_engine.execution.create_queue_worker")
    run_control = importlib.import_module("opentrons.protocol_engine.execution.run_control")

    original = run_control.RunControlHandler
    if not hasattr(create_queue_worker, "RunControlHandler") or not hasattr(original, "wait_for_duration"):
        raise ConfigError("this opentrons version builds its run control differently; "
                          "delay_speedup needs opentrons 9.0.0")
    if speedup == 1:
        create_queue_worker.RunControlHandler = original
        return

    class SpedUpRunControl(original):  # type: ignore[misc, valid-type]
        """opentrons' run control, with delays divided by the twin's speed-up."""

        async def wait_for_duration(self, seconds: float) -> None:
            if not self._state_store.config.ignore_pause:
                await asyncio.sleep(seconds / speedup)

    create_queue_worker.RunControlHandler = SpedUpRunControl
