"""The `labtwin` command line: run scenarios on a twin lab, list them, serve a twin."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from labtwin import __version__
from labtwin.cli.check import add_check_parser, run_check
from labtwin.cli.serve import add_serve_parser, run_serve
from labtwin.errors import ConfigError, LabtwinError
from labtwin.scenarios.engine.catalog import DEFAULT_SCENARIO, EXPERIMENTS, PROPERTY_SCENARIOS, Experiment
from labtwin.scenarios.engine.runner import DEFAULT_STATE_DIR, Budget, PropertyScenario, run_scenario
from labtwin.scenarios.labs.broker_url import BrokerAddress, parse_broker_url
from labtwin.scenarios.labs.lab_file import load_lab_config

if TYPE_CHECKING:
    from labtwin.twin.board.model import Hazard

__all__ = ["main"]


def _broker_choice(value: str) -> str | BrokerAddress:
    if value in ("amqtt", "mosquitto"):
        return value
    return parse_broker_url(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labtwin", description="Digital-twin testbed for lab automation.")
    parser.add_argument("--version", action="version", version=f"labtwin {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run a scenario on a twin lab (default: the sensor experiment)")
    run.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO,
                     help=f"scenario name (default: {DEFAULT_SCENARIO})")
    run.add_argument("--broker", default="amqtt", metavar="amqtt|mosquitto|mqtt://HOST:PORT",
                     help="embedded amqtt (default), a Mosquitto started for the run, or an external broker "
                          "(credentials from $LABTWIN_BROKER_USERNAME / $LABTWIN_BROKER_PASSWORD)")
    run.add_argument("--seed", type=int, default=0,
                     help="seed for simulated sensors and for property scenarios; replays a failure (default: 0)")
    run.add_argument("--lab", type=Path, metavar="LAB.toml",
                     help="run against the bench this lab file describes (hardware in the loop) instead of a "
                          "twin lab; twin-only rules are skipped and listed (docs/lab-config.md)")
    run.add_argument("--work-dir", type=Path, help="keep board flash dirs and logs here (default: a temp dir)")
    run.add_argument("-v", "--verbose", action="store_true", help="show firmware output and client logs")
    budget = run.add_argument_group("property scenarios")
    budget.add_argument("--examples", type=_positive_int, help="Hypothesis examples (default: per scenario)")
    budget.add_argument("--steps", type=_positive_int, help="steps per example (default: per scenario)")
    budget.add_argument("--max-time", type=float, metavar="SECONDS", help="stop starting new examples after this")
    budget.add_argument("--report-dir", type=Path, default=DEFAULT_STATE_DIR / "reports",
                        help="where JUnit XML and HTML reports go (default: .labtwin/reports)")
    budget.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help="Hypothesis example database and other state (default: .labtwin)")

    commands.add_parser("list", help="list the scenarios")

    add_serve_parser(commands)  # `labtwin serve ot2|lab` (labtwin/cli/serve.py)
    add_check_parser(commands)  # `labtwin check firmware` (labtwin/cli/check.py)

    flash = commands.add_parser("flash", help="flash validated firmware to a board with mpremote",
                                description="Copy the firmware and a device config to a board, verify every "
                                            "file by SHA-256, reset it, and wait until it is online on the "
                                            "broker. Refuses firmware no scenario has validated (--force).")
    flash.add_argument("--port", required=True, help="the board's serial port (/dev/ttyACM0) or socket://HOST:PORT")
    flash.add_argument("--device-id", required=True, help="the device id the board will use")
    flash.add_argument("--board", choices=("pico_w", "esp32"),
                       help="board kind (default: the lab file's entry for the device, else pico_w)")
    flash.add_argument("--lab", type=Path, required=True, metavar="LAB.toml",
                       help="the bench file: broker, credentials and WiFi (by environment variable)")
    flash.add_argument("--firmware-dir", type=Path, default=None, help="firmware to flash (default: firmware/)")
    flash.add_argument("--mpy", action="store_true",
                       help="precompile every module but main.py with mpy-cross (needed on an ESP32's heap)")
    flash.add_argument("--force", action="store_true", help="flash even if no scenario validated this firmware")
    flash.add_argument("--timeout", type=float, default=60.0, help="seconds for each step (default: 60)")
    flash.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                       help="where validation records are (default: .labtwin)")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _print_hazard(device_id: str, hazard: Hazard) -> None:
    print(f"!! HAZARD on {device_id}: {hazard.pin_name}: {hazard.message}", file=sys.stderr, flush=True)


async def _run(args: argparse.Namespace) -> None:
    from labtwin.scenarios.labs.twin_lab import TwinLab  # keeps `labtwin list` and `--help` fast
    from labtwin.scenarios.labs.twin_lab_options import TwinLabOptions, twin_lab_keywords

    scenario = EXPERIMENTS[args.scenario]
    if args.lab is not None:
        await _run_on_bench(scenario, args)
        return
    broker = _broker_choice(args.broker)

    def show_output(device_id: str, line: str) -> None:
        print(f"  [{device_id}] {line}", flush=True)

    started = time.perf_counter()
    broker_label = broker.url if isinstance(broker, BrokerAddress) else f"embedded {broker}"
    print(f"labtwin {__version__}: starting twin lab (broker: {broker_label}, seed {args.seed})", flush=True)
    options = TwinLabOptions(broker=broker, seed=args.seed, work_dir=args.work_dir,
                             on_output=show_output if args.verbose else None, on_hazard=_print_hazard,
                             ot2=scenario.needs_ot2, ot2_robot_api=scenario.needs_ot2_robot_api)
    lab = TwinLab(options.replace(**twin_lab_keywords(scenario.lab_options)))
    async with lab:
        assert lab.broker_address is not None
        ot2 = f", OT-2 twin {lab.ot2_url}" if lab.ot2_url else ""
        ot2 += f", OT-2 robot API twin {lab.ot2_robot_api_url}" if lab.ot2_robot_api_url else ""
        print(f"lab up in {time.perf_counter() - started:.2f} s: broker {lab.broker_address.url}, "
              f"devices {', '.join(lab.device_ids)}{ot2}", flush=True)
        await scenario.run(lab, lambda line: print(line, flush=True))
        _record_validation(lab.firmware_dir, scenario.name, args)  # in the lab: its firmware dir may be its own
    print(f"scenario {scenario.name!r} passed; lab stopped ({time.perf_counter() - started:.2f} s total)")


async def _run_on_bench(scenario: Experiment, args: argparse.Namespace) -> None:
    from labtwin.scenarios.labs.bench_lab import BenchLab

    if scenario.needs_ot2_robot_api:
        raise ConfigError(f"scenario {scenario.name!r} injects robot faults, which only a twin lab can do; "
                          "run it without --lab")
    config = load_lab_config(args.lab)
    started = time.perf_counter()
    print(f"labtwin {__version__}: connecting to bench {args.lab} (broker {config.broker_url})", flush=True)
    async with BenchLab(config) as lab:
        print(f"bench connected in {time.perf_counter() - started:.2f} s: devices {', '.join(lab.device_ids)}",
              flush=True)
        await scenario.run(lab, lambda line: print(line, flush=True))
    print(f"scenario {scenario.name!r} passed on the bench ({time.perf_counter() - started:.2f} s total)")


def _flash(args: argparse.Namespace) -> int:
    from labtwin.board_firmware import STOCK_FIRMWARE_DIR, firmware_hash
    from labtwin.tools.flash import flash_board
    from labtwin.tools.validation import require_validated

    firmware_dir = args.firmware_dir or STOCK_FIRMWARE_DIR
    config = load_lab_config(args.lab)
    kind = args.board or next((b.kind for b in config.boards if b.id == args.device_id), "pico_w")
    if args.force:
        digest = firmware_hash(firmware_dir)
        print(f"labtwin: --force: flashing firmware {digest[:12]} without a validation record", file=sys.stderr)
    else:
        digest, records = require_validated(args.state_dir, firmware_dir)
        print(f"firmware {digest[:12]} validated by {', '.join(sorted({r['scenario'] for r in records}))}")
    started = time.perf_counter()
    result = flash_board(port=args.port, device_id=args.device_id, kind=kind, config=config,
                         firmware_dir=firmware_dir, firmware_hash=digest, mpy=args.mpy, timeout=args.timeout,
                         progress=lambda line: print(line, flush=True))
    print(f"flashed {result.device_id}: firmware {result.version} ({digest[:12]}), {result.files} files, "
          f"{result.bytes_copied} bytes; online {result.online_s:.2f} s after reset; get_device_status "
          f"{result.round_trip_ms:.1f} ms; {time.perf_counter() - started:.1f} s in all")
    return 0


def _record_validation(firmware_dir: Path, scenario: str, args: argparse.Namespace, *,
                       overlay: Path | None = None) -> None:
    """Note that ``scenario`` passed on a twin lab with this exact firmware (the flash gate reads it)."""
    from labtwin.tools.validation import record_pass

    digest = record_pass(args.state_dir, firmware_dir, scenario, args.seed, str(args.broker), overlay=overlay)
    print(f"firmware {digest[:12]} validated by {scenario!r} (record in {args.state_dir / 'validated'})")


def _run_property(spec: PropertyScenario, args: argparse.Namespace) -> bool:
    from labtwin.scenarios.engine.reports import write_reports
    from labtwin.scenarios.labs.twin_lab import twin_lab_factory
    from labtwin.scenarios.labs.twin_lab_options import TwinLabOptions

    default = spec.default_budget
    budget = Budget(examples=args.examples or default.examples, steps=args.steps or default.steps,
                    max_time=args.max_time if args.max_time is not None else default.max_time)
    if budget.max_time is not None and budget.max_time <= 0:
        raise ConfigError(f"--max-time must be positive, got {budget.max_time:g}")
    broker = _broker_choice(args.broker)
    where = f"bench {args.lab}" if args.lab is not None else "a twin lab"
    print(f"labtwin {__version__}: scenario {spec.name!r} on {where}, seed {args.seed}, up to {budget.examples} "
          f"examples x {budget.steps} steps" + (f", max {budget.max_time:g} s" if budget.max_time else ""),
          flush=True)
    if args.lab is not None:
        from labtwin.scenarios.labs.bench_lab import bench_lab_factory

        factory = bench_lab_factory(load_lab_config(args.lab))
    else:
        factory = twin_lab_factory(TwinLabOptions(broker=broker, seed=args.seed))
    run = run_scenario(spec, lab_factory=factory, seed_value=args.seed, budget=budget,
                       state_dir=args.state_dir, progress=lambda line: print(line, flush=True))
    reports = write_reports(run, args.report_dir)
    rate = f"{run.examples_run / run.duration_s:.2f} examples/s, {run.steps_run / run.duration_s:.1f} steps/s"
    if run.passed:
        print(f"scenario {spec.name!r} passed: {run.examples_run} examples, {run.steps_run} steps in "
              f"{run.duration_s:.1f} s ({rate})")
        if factory.firmware_dir is not None:
            _record_validation(factory.firmware_dir, spec.name, args, overlay=factory.firmware_overlay)
    else:
        print(f"scenario {spec.name!r} FAILED after {run.examples_run} examples: {run.failure}")
        for line in run.minimal_example:
            print(f"  {line}")
        if run.reproduce_blob:
            print(f"  reproduction blob: {run.reproduce_blob}")
        print(f"  replay: {run.replay_command}")
    for rule, capability in sorted(run.skipped_rules.items()):
        print(f"  skipped rule {rule}: this lab has no {capability!r} capability")
    print(f"reports: {reports['html']}  {reports['junit']}")
    return run.passed


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `labtwin` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    if args.command == "list":
        for scenario in EXPERIMENTS.values():
            print(f"{scenario.name:16} experiment  {scenario.summary}")
        for spec in PROPERTY_SCENARIOS.values():
            print(f"{spec.name:16} property    {spec.description}")
        return 0
    if args.command == "serve":
        return run_serve(args)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "check":
            return run_check(args)
        if args.command == "flash":
            return _flash(args)
        if args.scenario in PROPERTY_SCENARIOS:
            return 0 if _run_property(PROPERTY_SCENARIOS[args.scenario], args) else 1
        if args.scenario not in EXPERIMENTS:
            raise ConfigError(f"unknown scenario {args.scenario!r}; `labtwin list` shows the scenarios")
        asyncio.run(_run(args))
    except LabtwinError as e:
        print(f"labtwin: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("labtwin: interrupted; lab stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
