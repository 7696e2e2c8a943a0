"""Serve the OT-2 robot API twin: ``python -m twin.ot2_robot_api [--host 127.0.0.1] [--port 31950]``.

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
from twin.ot2_robot_api.app import create_app
from twin.ot2_robot_api.faults import FaultInjectingApp
from twin.ot2_robot_api.robot import DEFAULT_PIPETTES, RobotSettings

__all__ = ["DEFAULT_PORT", "READY_LINE_PREFIX", "add_arguments", "main"]

READY_LINE_PREFIX = "labtwin-ot2-robot-api listening on "
DEFAULT_PORT = 31950
"""The port the real robot serves its HTTP API on."""
NO_PIPETTE = "none"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The twin's options (shared with ``labtwin serve ot2``)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to serve on; 0 picks a free one (default: {DEFAULT_PORT})")
    parser.add_argument("--robot-name", default="labtwin-ot2", help="name reported by GET /health")
    for mount in ("left", "right"):
        parser.add_argument(f"--{mount}-pipette", default=DEFAULT_PIPETTES[mount], metavar="MODEL",
                            help=f"pipette model on the {mount} mount, or '{NO_PIPETTE}' "
                                 f"(default: {DEFAULT_PIPETTES[mount]})")
    parser.add_argument("--delay-speedup", type=float, default=1.0, metavar="FACTOR",
                        help="run protocol delays FACTOR times faster (default: 1, real time)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep uploaded protocols and opentrons' config here (default: a temporary directory)")


def _settings(args: argparse.Namespace) -> RobotSettings:
    pipettes = {mount: model for mount, model in (("left", args.left_pipette), ("right", args.right_pipette))
                if model.lower() != NO_PIPETTE}
    return RobotSettings(pipettes=pipettes, delay_speedup=args.delay_speedup)


async def _serve(args: argparse.Namespace, data_dir: Path) -> None:
    # Bind first so that with --port 0 we know the real port before announcing it.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.create_server((args.host, args.port), family=family)
    # Accepted connections inherit it: uvicorn writes a response's head and body separately, and
    # with Nagle the body waits for the client's delayed ACK (~40 ms per keep-alive request).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    bound_host, bound_port = sock.getsockname()[:2]
    url = f"http://[{bound_host}]:{bound_port}" if family == socket.AF_INET6 else f"http://{bound_host}:{bound_port}"
    app = create_app(robot_name=args.robot_name, settings=_settings(args), data_dir=data_dir)
    app.state.robot_hardware.preflight()  # a bad setting is a clear error here, not a failed startup
    server = uvicorn.Server(uvicorn.Config(FaultInjectingApp(app, app.state.faults), log_config=None,
                                           access_log=False, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]), name=f"robot API {url}")
    # Announce only once uvicorn has started (or give up if it stopped first, e.g. on a startup error).
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started:
        print(READY_LINE_PREFIX + url, flush=True)
    await serving


def main(argv: list[str] | None = None, prog: str = "python -m twin.ot2_robot_api") -> int:
    """Run the robot API twin until interrupted; returns the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
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
