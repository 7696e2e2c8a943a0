"""The one place that knows whether the app drives the robot or the simulator.

On the OT-2 the context comes from ``opentrons.execute``; in the twin from
``opentrons.simulate``. Everything else in the app receives a ``ProtocolContext`` and
cannot tell which. opentrons is imported here, on demand: its import alone takes ~1 s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentrons.protocol_api import ProtocolContext

__all__ = ["API_LEVEL", "open_protocol_context"]

API_LEVEL = "2.20"
"""Python Protocol API level the app is written against (opentrons 9.0.0 supports up to 2.28)."""


def open_protocol_context(*, simulate: bool) -> ProtocolContext:
    """A protocol context for the OT-2: the real robot, or opentrons' simulator of an OT-2."""
    if simulate:
        import opentrons.simulate

        return opentrons.simulate.get_protocol_api(API_LEVEL, robot_type="OT-2")
    import opentrons.execute

    return opentrons.execute.get_protocol_api(API_LEVEL)
