"""`labtwin serve ot2` and `labtwin serve lab`: a twin kept up for other processes until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from labtwin import __version__
from labtwin.cli.dashboard_options import DEFAULT_UI_PORT, add_ui_arguments, dashboard_for
from labtwin.errors import ConfigError, LabtwinError
from labtwin.twin.ot2.robot_api.options import add_arguments as add_robot_api_arguments

__all__ = ["READY_LINE", "add_serve_parser", "run_serve"]

READY_LINE = "labtwin serve lab: ready"
DEFAULT_LAB_FILE_OUT = Path(".labtwin") / "bench.toml"


def add_serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve ot2`` and ``serve lab`` to the labtwin command line."""
    serve = commands.add_parser("serve", help="serve a twin on its own, for your own clients")
    twins = serve.add_subparsers(dest="twin", metavar="TWIN", required=True)
    ot2 = twins.add_parser("ot2", help="the OT-2 robot's HTTP API (port 31950) on the opentrons engine",
                           description="Serve the OT-2 robot API twin until Ctrl-C. Clients that drive a real "
                                       "OT-2 over HTTP (curl, the Opentrons HTTP API clients, PyLabRobot) work "
                                       "against it unchanged.")
    # The same options as the twin's own process (python -m labtwin.twin.ot2.robot_api).
    add_robot_api_arguments(ot2)
    lab = twins.add_parser(
        "lab", help="a twin lab kept up for other processes (a bench lab file reaches it)",
        description="Start a twin lab and keep it up until Ctrl-C: prints (and writes) the lab file that "
                    "reaches it, and each board's serial console URL.")
    lab.add_argument("--lab", type=Path, metavar="LAB.toml",
                     help="simulate the boards this lab file lists (default: one Pico W, pico-w-lab-001)")
    lab.add_argument("--bench", action="store_true",
                     help="start nothing: serve the dashboard of the lab --lab reaches (a bench, or a lab another "
                          "`labtwin serve lab` serves), read-only, from its MQTT traffic alone")
    lab.add_argument("--shard", metavar="HOST",
                     help="simulate only the --lab file's boards placed on HOST ([hosts] HOST = address), against "
                          "its [broker] url, serving on HOST's address: one host's share of a fleet (docs/fleets.md)")
    lab.add_argument("--broker", choices=("amqtt", "mosquitto"), default="amqtt",
                     help="the twin lab's broker (default: embedded amqtt)")
    lab.add_argument("--ot2", action="store_true", help="also run the OT-2 twin (task server)")
    lab.add_argument("--ot2-robot-api", action="store_true", help="also run the OT-2 robot API twin")
    lab.add_argument("--bench-out", type=Path, default=DEFAULT_LAB_FILE_OUT, metavar="PATH",
                     help=f"write the lab file that reaches this lab here (default: {DEFAULT_LAB_FILE_OUT}); "
                          "its secrets go to PATH with .env appended")
    lab.add_argument("--work-dir", type=Path, help="keep board flash dirs and logs here (default: a temp dir)")
    lab.add_argument("--seed", type=int, default=0, help="seed for simulated sensors (default: 0)")
    add_ui_arguments(lab, default_port=DEFAULT_UI_PORT)


def run_serve(args: argparse.Namespace) -> int:
    """Serve what ``args.twin`` names until SIGINT/SIGTERM; returns the exit status."""
    if args.twin == "ot2":
        from labtwin.twin.ot2.robot_api.__main__ import serve  # FastAPI, uvicorn and opentrons only now

        print(f"labtwin {__version__}: serving the OT-2 robot API twin (Ctrl-C stops it)", flush=True)
        return serve(args)
    try:
        asyncio.run(_serve_lab(args))
    except LabtwinError as exc:
        print(f"labtwin: error: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve_lab(args: argparse.Namespace) -> None:
    if args.bench and args.shard is not None:
        raise ConfigError("serve lab: --bench (a dashboard of a running lab) and --shard (a host's boards of a "
                          "fleet) exclude each other")
    if args.bench:
        await _serve_bench_dashboard(args)
        return
    if args.shard is not None:
        await _serve_shard(args)
        return
    from labtwin.scenarios.labs.serve_lab import served_twin_lab, write_served_lab_file

    started = time.perf_counter()
    note = _whole_fleet_note(args.lab)
    if note is not None:
        print(f"labtwin: note: {note}", file=sys.stderr, flush=True)
    lab = served_twin_lab(args.lab, broker=args.broker, seed=args.seed, work_dir=args.work_dir, ot2=args.ot2,
                          ot2_robot_api=args.ot2_robot_api)
    async with _until_stopped() as stop, lab, dashboard_for(lab, args) as dashboard:
        written = write_served_lab_file(lab, args.bench_out)
        assert lab.broker_address is not None
        print(f"labtwin {__version__}: twin lab up in {time.perf_counter() - started:.2f} s "
              f"(broker {lab.broker_address.url}, devices {', '.join(lab.device_ids)})", flush=True)
        for device_id, url in written.consoles.items():
            print(f"  console {device_id}: {url}", flush=True)
        if dashboard is not None:
            print(f"  dashboard: {dashboard.url}", flush=True)
        print(f"lab file: {written.path}   secrets: {written.secrets_path} (source it)", flush=True)
        print(written.text, end="", flush=True)
        print(f"{READY_LINE}; Ctrl-C stops it", flush=True)
        await stop.wait()
        print("labtwin serve lab: stopping", flush=True)


@contextlib.asynccontextmanager
async def _until_stopped() -> AsyncIterator[asyncio.Event]:
    """An event SIGINT or SIGTERM sets while the block runs (Ctrl-C ends a served lab cleanly)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        yield stop
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _serve_bench_dashboard(args: argparse.Namespace) -> None:
    """``serve lab --bench``: the dashboard of a running lab, reached through its lab file's broker."""
    from labtwin.scenarios.labs.bench_lab import BenchLab
    from labtwin.scenarios.labs.lab_file import load_lab_config

    if args.lab is None:
        raise ConfigError("serve lab --bench needs --lab LAB.toml: the lab file that reaches the bench's broker")
    if not args.ui:
        raise ConfigError("serve lab --bench serves only the dashboard: drop --no-ui")
    async with _until_stopped() as stop, BenchLab(load_lab_config(args.lab)) as lab, \
            dashboard_for(lab, args) as dashboard:
        assert dashboard is not None
        print(f"labtwin {__version__}: dashboard of {lab.description} (read-only): {dashboard.url}", flush=True)
        print(f"{READY_LINE}; Ctrl-C stops it", flush=True)
        await stop.wait()
        print("labtwin serve lab: stopping", flush=True)


def _whole_fleet_note(lab_file: Path | None) -> str | None:
    """A note when plain ``serve lab`` (no ``--shard``) is given a fleet's file: it serves every host's boards."""
    from labtwin.scenarios.labs.lab_file import load_lab_config

    if lab_file is None:
        return None
    config = load_lab_config(lab_file)
    if not config.hosts:
        return None
    return (f"{config.source} places its boards on hosts ({', '.join(sorted(config.hosts))}): this serves all of "
            "them here, on a broker of its own; use --shard HOST to serve one host's share on the fleet's broker")


async def _serve_shard(args: argparse.Namespace) -> None:
    """``serve lab --shard HOST``: this host's boards of a fleet, on the fleet's shared broker."""
    from labtwin.scenarios.labs.fleet import is_local_address, refuse_if_served_elsewhere, shard_lab
    from labtwin.scenarios.labs.lab_file import load_lab_config

    if args.lab is None:
        raise ConfigError("serve lab --shard needs --lab LAB.toml: the fleet's lab file ([hosts] and boards' host)")
    ignored = [option for option, given in (("--ot2", args.ot2), ("--ot2-robot-api", args.ot2_robot_api),
                                            ("--broker", args.broker != "amqtt"),
                                            ("--bench-out", args.bench_out != DEFAULT_LAB_FILE_OUT)) if given]
    if ignored:
        raise ConfigError(f"serve lab --shard runs this host's boards on the fleet's [broker] url only: "
                          f"drop {', '.join(ignored)}")
    started = time.perf_counter()
    config = load_lab_config(args.lab)
    lab = shard_lab(config, args.shard, seed=args.seed, work_dir=args.work_dir)
    # Unset broker variables are allowed (an anonymous broker), but said up front: the boards' login fails later.
    note = config.broker_credentials_note()
    if note is not None:
        print(f"labtwin: note: {note}", file=sys.stderr, flush=True)
    # Nothing listens on a LAN address (see shard_lab), so another host's address works, but is likely a mix-up.
    address = config.hosts[args.shard]
    if not is_local_address(address):
        print(f"labtwin: note: {address} (hosts.{args.shard}) is not an address of this machine: is this "
              f"{args.shard}? Serving on {lab.options.host}", file=sys.stderr, flush=True)
    # The same boards served twice would flap (the broker drops one connection whenever the other reconnects).
    await refuse_if_served_elsewhere(config, args.shard)
    # The dashboard listens where the consoles do (the shard's own loopback address, else 127.0.0.1), so shards
    # side by side on one machine each get the default port; --ui-host still says otherwise.
    async with _until_stopped() as stop, lab, dashboard_for(lab, args, default_host=lab.options.host) as dashboard:
        assert lab.broker_address is not None
        print(f"labtwin {__version__}: shard {args.shard} up in {time.perf_counter() - started:.2f} s on "
              f"{lab.options.host} (broker {lab.broker_address.url}, devices {', '.join(lab.device_ids)})",
              flush=True)
        for device_id in lab.device_ids:
            console = lab.board(device_id).console
            if console is not None:
                print(f"  console {device_id}: {console.url}", flush=True)
        if dashboard is not None:
            print(f"  dashboard: {dashboard.url}", flush=True)
        print(f"{READY_LINE}; Ctrl-C stops it", flush=True)
        await stop.wait()
        print("labtwin serve lab: stopping", flush=True)
