"""The dashboard's command-line options (``labtwin serve lab``, ``labtwin run --ui``) and starting it for a lab."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING

from labtwin.errors import ConfigError
from labtwin.twin.lab_time.speed import REAL, Speed

if TYPE_CHECKING:  # the CLI's --help stays fast: the engine and labs load when a command runs
    from labtwin.dashboard.server import DashboardServer
    from labtwin.scenarios.engine.runner import LabFactory
    from labtwin.scenarios.labs.lab import Lab

__all__ = ["DEFAULT_UI_HOST", "DEFAULT_UI_PORT", "FRAME_INTERVAL_S", "add_ui_arguments", "check_ui_arguments",
           "dashboard_for", "with_dashboards"]

DEFAULT_UI_HOST = "127.0.0.1"
DEFAULT_UI_PORT = 8742
FRAME_INTERVAL_S = 0.25


def add_ui_arguments(parser: argparse.ArgumentParser, *, default_port: int, opt_in: bool = False) -> None:
    """Add the dashboard's options: ``--ui`` (``opt_in``) or ``--no-ui``, ``--ui-host``, ``--ui-port``."""
    if opt_in:
        parser.add_argument("--ui", action="store_true", help="serve the live dashboard while it runs")
    else:
        parser.add_argument("--no-ui", dest="ui", action="store_false", help="do not serve the live dashboard")
    # None when not given, so a command can pick its own default (a fleet shard: the shard's address).
    parser.add_argument("--ui-host", default=None, metavar="HOST",
                        help=f"the dashboard's address (default: {DEFAULT_UI_HOST}, a shard's own loopback address "
                             "for `serve lab --shard`; its fault controls act on the lab)")
    parser.add_argument("--ui-port", type=int, default=default_port, metavar="PORT",
                        help=f"the dashboard's port (default: {default_port}; 0 picks a free one)")


def check_ui_arguments(args: argparse.Namespace) -> None:
    """Refuse what cannot be served: a port out of range, a dashboard on a clock that jumps."""
    if not getattr(args, "ui", False):
        return
    if not 0 <= args.ui_port <= 65535:
        raise ConfigError(f"--ui-port must be 0..65535, got {args.ui_port}")
    speed: Speed = getattr(args, "speed", REAL)
    if speed.jumps:
        raise ConfigError("--ui needs time to pass for the page: use --speed N (frames stay 4 a second), not max")


@contextlib.asynccontextmanager
async def dashboard_for(lab: Lab, args: argparse.Namespace, *,
                        default_host: str = DEFAULT_UI_HOST) -> AsyncIterator[DashboardServer | None]:
    """The dashboard of an entered ``lab`` while the block runs, or None when ``args`` turn it off.

    It listens on ``--ui-host`` if given, else on ``default_host``.
    """
    if not getattr(args, "ui", False):
        yield None
        return
    from labtwin.dashboard.live_lab import LiveLab
    from labtwin.dashboard.server import DashboardServer

    check_ui_arguments(args)
    speed: Speed = getattr(args, "speed", REAL)
    # Frames are 4 a second of the watcher's time: the lab's clock runs ``factor`` times faster.
    live = LiveLab(lab, topic_prefix=topic_prefix_of(lab), interval=FRAME_INTERVAL_S * speed.factor)
    given: str | None = getattr(args, "ui_host", None)
    host = default_host if given is None else given
    server = DashboardServer(live, host=host, port=args.ui_port)
    try:
        await server.__aenter__()
    except OSError as e:
        taken = e.errno == errno.EADDRINUSE
        raise ConfigError(f"the dashboard cannot listen on {host}:{args.ui_port}: "
                          + ("the port is in use; pass --ui-port 0 (any free port) or another" if taken else str(e))
                          ) from None
    try:
        yield server
    finally:
        await server.__aexit__(None, None, None)


def with_dashboards(factory: LabFactory, args: argparse.Namespace) -> LabFactory:
    """``factory``, each lab it opens served on the dashboard while it is open (a property run's examples).

    Each example's lab is a new lab on the same address: the page's event stream reconnects to it.
    """
    if not getattr(args, "ui", False):
        return factory
    check_ui_arguments(args)
    serving: dict[int, contextlib.AbstractAsyncContextManager[DashboardServer | None]] = {}
    shown: list[str] = []

    async def open_lab(options: Mapping[str, object]) -> Lab:
        lab = await factory.open(options)
        served = dashboard_for(lab, args)
        try:
            server = await served.__aenter__()
        except BaseException:
            await factory.close(lab)
            raise
        serving[id(lab)] = served
        if server is not None and server.url not in shown:
            shown.append(str(server.url))
            print(f"  dashboard: {server.url} (each example's lab in turn)", flush=True)
        return lab

    async def close_lab(lab: Lab) -> None:
        served = serving.pop(id(lab), None)
        try:
            if served is not None:
                await served.__aexit__(None, None, None)
        finally:
            await factory.close(lab)

    return dataclasses.replace(factory, open=open_lab, close=close_lab)


def topic_prefix_of(lab: Lab) -> str:
    """The first topic segment of ``lab``'s devices."""
    from labtwin.scenarios.labs.bench_lab import BenchLab
    from labtwin.scenarios.labs.twin_lab import TwinLab

    if isinstance(lab, TwinLab):
        return lab.topic_prefix
    if isinstance(lab, BenchLab):
        return lab.config.topic_prefix
    return "ot2"

