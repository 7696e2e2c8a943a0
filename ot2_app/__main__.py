"""Command line of the OT-2 task app: set up the deck, then serve its tasks over HTTP.

    python -m labtwin.ot2_app [--simulate] [--host 127.0.0.1] [--port 8000] [--run-log FILE]

The bearer token comes from ``$LABTWIN_OT2_TOKEN`` (never the command line, which ``ps``
shows to everyone); without one the app serves loopback addresses only. Once requests are
accepted it prints one line, ``device server ready at http://HOST:PORT``, which the twin
waits for (``--port 0`` picks a free port).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from pathlib import Path

from labtwin.errors import LabtwinError
from labtwin.orchestrator.device_server import DeviceServer
from labtwin.ot2_app.color_mixing import ColorMixingRobot, build_task_registry
from labtwin.ot2_app.protocol_context import open_protocol_context
from labtwin.ot2_app.run_log import RunLog

TOKEN_ENV = "LABTWIN_OT2_TOKEN"
READY_LINE_PREFIX = "device server ready at "
"""Printed before the URL once the server accepts requests; twin/ot2/task_twin.py matches it."""


def build_parser() -> argparse.ArgumentParser:
    """The app's command-line options."""
    parser = argparse.ArgumentParser(prog="python -m labtwin.ot2_app", description="OT-2 colour-mixing task server")
    parser.add_argument("--simulate", action="store_true", help="run on opentrons.simulate instead of the robot")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to serve on; 0 picks a free one (default: 8000)")
    parser.add_argument("--run-log", type=Path, help="also append every task's run-log entry to this JSON-lines file")
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    return parser


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Run the app; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = os.environ.get(TOKEN_ENV) or None
    if token is None and not _is_loopback(args.host):
        print(f"ot2: refusing to serve {args.host} without a token: set ${TOKEN_ENV}", file=sys.stderr)
        return 2
    try:
        context = open_protocol_context(simulate=args.simulate)
        run_log = RunLog(args.run_log)
        run_log.attach(context)
        robot = ColorMixingRobot(context, run_log)
        server = DeviceServer(build_task_registry(robot), title="OT-2 colour mixing",
                              description=ColorMixingRobot.__doc__ or "", auth_token=token)
        server.run(args.host, args.port, on_ready=lambda url: print(READY_LINE_PREFIX + url, flush=True))
    except LabtwinError as e:
        print(f"ot2: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
