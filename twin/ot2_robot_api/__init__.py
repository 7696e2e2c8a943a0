"""The OT-2 robot API twin: the Opentrons robot's own HTTP API (port 31950), served by labtwin.

This first slice serves only versioning, ``GET /health`` and the rail lights; see
docs/ot2-robot-api.md for what is implemented and what is not yet. Nothing here imports
opentrons, so building the app stays cheap.
"""

from __future__ import annotations

from twin.ot2_robot_api.app import create_app

__all__ = ["create_app"]
