"""Serve the OT-2 robot API twin: ``python -m labtwin.twin.ot2.robot_api [--host 127.0.0.1] [--port 31950]``.

Prints ``labtwin-ot2-robot-api listening on http://HOST:PORT`` once it accepts requests
(``--port 0`` picks a free port; the line names the real one). Stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
from pathlib import Path

import uvicorn

from labtwin.errors import ConfigError
from labtwin.twin.ot2.robot_api.app import create_app
from labtwin.twin.ot2.robot_api.faults import FaultInjectingApp
from labtwin.twin.ot2.robot_api.options import add_arguments, settings_from

__all__ = ["READY_LINE_PREFIX", "main", "serve"]

READY_LINE_PREFIX = "labtwin-ot2-robot-api listening on "


async def _serve(args: argparse.Namespace, data_dir: Path) -> None:
    app = create_app(robot_name=args.robot_name, settings=settings_from(args), data_dir=data_dir)
    app.state.robot_hardware.preflight()  # a bad setting is a clear error here, not a failed startup
    # Bind first so that with --port 0 we know the real port before announcing it.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.create_server((args.host, args.port), family=family)
    # Accepted connections inherit it: uvicorn writes a response's head and body separately, and
    # with Nagle the body waits for the client's delayed ACK (~40 ms per keep-alive request).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    bound_host, bound_port = sock.getsockname()[:2]
    url = f"http://[{bound_host}]:{bound_port}" if family == socket.AF_INET6 else f"http://{bound_host}:{bound_port}"
    server = uvicorn.Server(uvicorn.Config(FaultInjectingApp(app, app.state.faults), log_config=None,
                                           access_log=False, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]), name=f"robot API {url}")
    # Announce only once uvicorn has started (or give up if it stopped first, e.g. on a startup error).
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started:
        print(READY_LINE_PREFIX + url, flush=True)
    await serving


def main(argv: list[str] | None = None) -> int:
    """Run the robot API twin until interrupted; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m labtwin.twin.ot2.robot_api", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return serve(parser.parse_args(argv))


def serve(args: argparse.Namespace) -> int:
    """Serve with the options of :func:`~labtwin.twin.ot2.robot_api.options.add_arguments` until interrupted.

    Returns the exit status: 0 after SIGINT/SIGTERM, 2 for a bad option or a port in use.
    """
    with tempfile.TemporaryDirectory(prefix="labtwin-ot2-robot-") as scratch:
        data_dir = args.data_dir or Path(scratch)
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            # opentrons writes its config on import; keep it out of ~/.opentrons unless the user chose.
            config_dir = data_dir / "opentrons-config"
            config_dir.mkdir(exist_ok=True)
            os.environ.setdefault("OT_API_CONFIG_DIR", str(config_dir))
            asyncio.run(_serve(args, data_dir))
        except ConfigError as exc:
            print(f"labtwin-ot2-robot-api: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"labtwin-ot2-robot-api: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
