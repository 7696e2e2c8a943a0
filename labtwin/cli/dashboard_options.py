"""The dashboard's command-line options (``labtwin serve lab``, ``labtwin run --ui``) and starting it for a lab."""

from __future__ import annotations

import argparse
import contextlib
import errno
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from labtwin.errors import ConfigError
from labtwin.scenarios.labs.bench_lab import BenchLab
from labtwin.scenarios.labs.lab import Lab
from labtwin.scenarios.labs.twin_lab import TwinLab

if TYPE_CHECKING:
    from labtwin.dashboard.server import DashboardServer

__all__ = ["DEFAULT_UI_PORT", "add_ui_arguments", "dashboard_for"]

DEFAULT_UI_PORT = 8742


def add_ui_arguments(parser: argparse.ArgumentParser, *, default_port: int, opt_in: bool = False) -> None:
    """Add the dashboard's options: ``--ui`` (``opt_in``) or ``--no-ui``, ``--ui-host``, ``--ui-port``."""
    if opt_in:
        parser.add_argument("--ui", action="store_true", help="serve the live dashboard while it runs")
    else:
        parser.add_argument("--no-ui", dest="ui", action="store_false", help="do not serve the live dashboard")
    parser.add_argument("--ui-host", default="127.0.0.1", metavar="HOST",
                        help="the dashboard's address (default: 127.0.0.1; its fault controls act on the lab)")
    parser.add_argument("--ui-port", type=int, default=default_port, metavar="PORT",
                        help=f"the dashboard's port (default: {default_port}; 0 picks a free one)")


@contextlib.asynccontextmanager
async def dashboard_for(lab: Lab, args: argparse.Namespace) -> AsyncIterator[DashboardServer | None]:
    """The dashboard of an entered ``lab`` while the block runs, or None when ``args`` turn it off."""
    if not getattr(args, "ui", False):
        yield None
        return
    from labtwin.dashboard.live_lab import LiveLab
    from labtwin.dashboard.server import DashboardServer

    if not 0 <= args.ui_port <= 65535:
        raise ConfigError(f"--ui-port must be 0..65535, got {args.ui_port}")
    server = DashboardServer(LiveLab(lab, topic_prefix=topic_prefix_of(lab)), host=args.ui_host, port=args.ui_port)
    try:
        await server.__aenter__()
    except OSError as e:
        taken = e.errno == errno.EADDRINUSE
        raise ConfigError(f"the dashboard cannot listen on {args.ui_host}:{args.ui_port}: "
                          + ("the port is in use; pass --ui-port 0 (any free port) or another" if taken else str(e))
                          ) from None
    try:
        yield server
    finally:
        await server.__aexit__(None, None, None)


def topic_prefix_of(lab: Lab) -> str:
    """The first topic segment of ``lab``'s devices."""
    if isinstance(lab, TwinLab):
        return lab.topic_prefix
    if isinstance(lab, BenchLab):
        return lab.config.topic_prefix
    return "ot2"

