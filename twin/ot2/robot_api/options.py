"""The robot API twin's command-line options.

Shared by the twin's own process (``python -m labtwin.twin.ot2.robot_api``) and ``labtwin serve ot2``.

Kept free of FastAPI, uvicorn and opentrons so that building a parser stays instant.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from labtwin.twin.ot2.robot_api.robot import DEFAULT_PIPETTES, RobotSettings

__all__ = ["DEFAULT_PORT", "NO_PIPETTE", "add_arguments", "settings_from"]

DEFAULT_PORT = 31950
"""The port the real robot serves its HTTP API on."""
NO_PIPETTE = "none"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the twin's options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to serve on; 0 picks a free one (default: {DEFAULT_PORT}, the robot's)")
    parser.add_argument("--robot-name", default="labtwin-ot2", help="name reported by GET /health")
    for mount in ("left", "right"):
        parser.add_argument(f"--{mount}-pipette", default=DEFAULT_PIPETTES[mount], metavar="MODEL",
                            help=f"pipette model on the {mount} mount, or '{NO_PIPETTE}' "
                                 f"(default: {DEFAULT_PIPETTES[mount]})")
    parser.add_argument("--delay-speedup", type=float, default=1.0, metavar="FACTOR",
                        help="run protocol delays FACTOR times faster (default: 1, real time)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep uploaded protocols and opentrons' config here (default: a temporary directory)")


def settings_from(args: argparse.Namespace) -> RobotSettings:
    """The robot settings the parsed options ask for.

    Raises:
        ConfigError: an option is out of range (e.g. a speed-up <= 0).
    """
    pipettes = {mount: model for mount, model in (("left", args.left_pipette), ("right", args.right_pipette))
                if model.lower() != NO_PIPETTE}
    return RobotSettings(pipettes=pipettes, delay_speedup=args.delay_speedup)
