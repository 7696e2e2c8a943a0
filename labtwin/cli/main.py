"""The `labtwin` command line: run and list scenarios, serve a twin, check and flash firmware, lab-file tools."""

from __future__ import annotations

import argparse
import itertools
import logging
import re
import sys
import time
from pathlib import Path

from labtwin import __version__
from labtwin.cli.call import add_call_parser, run_call
from labtwin.cli.check import add_check_parser, run_check
from labtwin.cli.docs import add_docs_parser, run_docs
from labtwin.cli.init import add_init_parser, run_init
from labtwin.cli.lab_file_tools import add_lab_file_parsers, run_lab_file_tool
from labtwin.cli.run import add_list_parser, add_run_parser, run_list, run_run
from labtwin.cli.serve import add_serve_parser, run_serve
from labtwin.cli.sweep import add_sweep_parser, run_sweep_command
from labtwin.cli.watch import add_watch_parser, run_watch
from labtwin.errors import ConfigError, LabtwinError
from labtwin.scenarios.engine.runner import DEFAULT_STATE_DIR
from labtwin.scenarios.labs.lab_file import load_lab_config

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labtwin", description="Digital-twin testbed for lab automation.")
    parser.add_argument("--version", action="version", version=f"labtwin {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    add_run_parser(commands)  # `labtwin run` (labtwin/cli/run.py)
    add_list_parser(commands)
    add_sweep_parser(commands)  # `labtwin sweep SCENARIO --seeds A:B` on Dask (labtwin/cli/sweep.py)
    add_lab_file_parsers(commands)  # `labtwin schema lab`, `labtwin import wokwi` (labtwin/cli/lab_file_tools.py)

    add_serve_parser(commands)  # `labtwin serve ot2|lab` (labtwin/cli/serve.py)
    add_call_parser(commands)  # `labtwin call DEVICE TASK key=value` (labtwin/cli/call.py)
    add_watch_parser(commands)  # `labtwin watch [DEVICE]` (labtwin/cli/watch.py)
    add_docs_parser(commands)  # `labtwin docs` (labtwin/cli/docs.py)
    add_check_parser(commands)  # `labtwin check firmware` (labtwin/cli/check.py)
    add_init_parser(commands)  # `labtwin init DIR` (labtwin/cli/init.py)

    flash = commands.add_parser("flash", help="flash validated firmware to a board with mpremote",
                                description="Copy the firmware and a device config to a board, verify every "
                                            "file by SHA-256, reset it, and wait until it is online on the "
                                            "broker. Refuses firmware no scenario has validated (--force).")
    flash.add_argument("--port", help="the board's serial port (/dev/ttyACM0) or socket://HOST:PORT (default: the "
                                      "lab file's serial_port for the device)")
    flash.add_argument("--device-id", required=True, help="the device id the board will use (its lab file entry)")
    flash.add_argument("--board", choices=("pico_w", "esp32"),
                       help="board kind (default: the lab file's entry for the device)")
    flash.add_argument("--lab", type=Path, required=True, metavar="LAB.toml",
                       help="the bench file: broker, credentials and WiFi (by environment variable)")
    flash.add_argument("--firmware-dir", type=Path, default=None,
                       help="firmware to flash (default: the firmware the device's lab file entry names, with its "
                            "overlay; labtwin's stock firmware for an entry that names none)")
    flash.add_argument("--mpy", action="store_true",
                       help="precompile every module but main.py with mpy-cross (needed on an ESP32's heap; "
                            "default: the lab file entry's mpy, true for an esp32)")
    flash.add_argument("--force", action="store_true", help="flash even if no scenario validated this firmware")
    flash.add_argument("--timeout", type=float, default=60.0, help="seconds for each step (default: 60)")
    flash.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                       help="where validation records are (default: .labtwin)")
    return parser


def _flash(args: argparse.Namespace) -> int:
    import tempfile

    from labtwin.board_firmware import STOCK_FIRMWARE_DIR, copy_firmware, firmware_hash
    from labtwin.tools.flash import flash_board
    from labtwin.tools.validation import require_validated

    config = load_lab_config(args.lab)
    entry = config.board(args.device_id)  # a board the file does not list is a mistake, not the stock firmware
    overlay = None
    if args.firmware_dir is not None:
        firmware_dir = args.firmware_dir
    else:  # the firmware that board's entry names: what its scenarios validated
        firmware_dir, overlay = entry.firmware_dir or STOCK_FIRMWARE_DIR, entry.firmware_overlay
    port = args.port or entry.serial_port
    if port is None:
        raise ConfigError(f"no --port, and {config.source} gives no serial_port for board {args.device_id!r}")
    kind = args.board or entry.kind
    if args.force:
        digest = firmware_hash(firmware_dir, overlay)
        print(f"labtwin: --force: flashing firmware {digest[:12]} without a validation record", file=sys.stderr)
    else:
        digest, records = require_validated(args.state_dir, firmware_dir, overlay)
        print(f"firmware {digest[:12]} validated by {', '.join(sorted({r['scenario'] for r in records}))}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="labtwin-flash-") as scratch:
        if overlay is not None:  # flashed as the one directory the twin booted
            composed = Path(scratch) / "firmware"
            copy_firmware(firmware_dir, composed, overlay)
            firmware_dir = composed
        mpy = args.mpy or entry.mpy  # the form the board's twin booted
        result = flash_board(port=port, device_id=args.device_id, kind=kind, config=config,
                             firmware_dir=firmware_dir, firmware_hash=digest, mpy=mpy, timeout=args.timeout,
                             progress=lambda line: print(line, flush=True))
    print(f"flashed {result.device_id}: firmware {result.version} ({digest[:12]}), {result.files} files, "
          f"{result.bytes_copied} bytes; online {result.online_s:.2f} s after reset; get_device_status "
          f"{result.round_trip_ms:.1f} ms; {time.perf_counter() - started:.1f} s in all")
    return 0


def _refuse_dash_dash_values(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """``--option=--`` is a usage error: Python 3.11's argparse would hand the command an empty list as its value."""
    for arg in itertools.takewhile(lambda arg: arg != "--", argv):
        if re.fullmatch(r"--[\w-]+=--", arg):
            parser.error(f"{arg}: '--' is not a value for {arg.split('=', 1)[0]}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `labtwin` console script; returns the exit code."""
    parser = build_parser()
    _refuse_dash_dash_values(parser, sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    if args.command == "serve":
        return run_serve(args)
    if args.command != "run":  # a run sets up its own log (labtwin/cli/run_log.py)
        logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "check":
            return run_check(args)
        if args.command == "call":
            return run_call(args)
        if args.command == "watch":
            return run_watch(args)
        if args.command == "docs":
            return run_docs(args)
        if args.command == "init":
            return run_init(args)
        if args.command == "flash":
            return _flash(args)
        if args.command == "list":
            return run_list(args)
        if args.command == "sweep":
            return run_sweep_command(args)
        if args.command in ("schema", "import"):
            return run_lab_file_tool(args)
        return run_run(args)
    except LabtwinError as e:
        print(f"labtwin: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("labtwin: interrupted; lab stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
