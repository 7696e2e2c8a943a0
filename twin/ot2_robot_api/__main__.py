"""Serve the OT-2 robot API twin: ``python -m twin.ot2_robot_api [--host 127.0.0.1] [--port 31950]``.

Prints ``labtwin-ot2-robot-api listening on http://HOST:PORT`` once it accepts requests
(``--port 0`` picks a free port; the line names the real one). Stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

import uvicorn

from twin.ot2_robot_api.app import create_app

__all__ = ["READY_LINE_PREFIX", "main"]

READY_LINE_PREFIX = "labtwin-ot2-robot-api listening on "
DEFAULT_PORT = 31950
"""The port the real robot serves its HTTP API on."""


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m twin.ot2_robot_api", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to serve on; 0 picks a free one (default: {DEFAULT_PORT})")
    parser.add_argument("--robot-name", default="labtwin-ot2", help="name reported by GET /health")
    return parser.parse_args(argv)


async def _serve(host: str, port: int, robot_name: str) -> None:
    # Bind first so that with --port 0 we know the real port before announcing it.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family)
    bound_host, bound_port = sock.getsockname()[:2]
    url = f"http://[{bound_host}]:{bound_port}" if family == socket.AF_INET6 else f"http://{bound_host}:{bound_port}"
    server = uvicorn.Server(uvicorn.Config(create_app(robot_name=robot_name), log_config=None, access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[sock]), name=f"robot API {url}")
    # Announce only once uvicorn has started (or give up if it stopped first, e.g. on a startup error).
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started:
        print(READY_LINE_PREFIX + url, flush=True)
    await serving


def main(argv: list[str] | None = None) -> int:
    """Run the robot API twin until interrupted; returns the exit status."""
    args = _parse_args(argv)
    try:
        asyncio.run(_serve(args.host, args.port, args.robot_name))
    except OSError as exc:
        print(f"labtwin-ot2-robot-api: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
