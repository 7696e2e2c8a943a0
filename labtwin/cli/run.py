"""`labtwin run` and `labtwin list`: labtwin's scenarios and a lab's own, on a twin lab or a bench.

``--lab FILE`` builds the lab from a lab file: a twin lab (the file's boards, firmware and parts) or
the bench the file describes (``mode``, or ``--twin``/``--bench``); the file's ``scenarios`` are run
and listed beside labtwin's. ``labtwin run path/to/file.py::NAME`` runs one scenario from a file.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from labtwin import __version__
from labtwin.cli.dashboard_options import (
    DEFAULT_UI_PORT,
    add_ui_arguments,
    check_ui_arguments,
    dashboard_for,
    with_dashboards,
)
from labtwin.cli.run_log import RunLog
from labtwin.errors import ConfigError, ExperimentFailed, LabtwinError
from labtwin.scenarios.engine.catalog import DEFAULT_SCENARIO, EXPERIMENTS, PROPERTY_SCENARIOS
from labtwin.scenarios.engine.discovery import ScenarioSet, load_scenario_file, load_scenarios, split_scenario_reference
from labtwin.scenarios.engine.experiment import Experiment
from labtwin.scenarios.engine.runner import DEFAULT_STATE_DIR, Budget, PropertyScenario, run_scenario
from labtwin.scenarios.labs.broker_url import BrokerAddress, parse_broker_url
from labtwin.scenarios.labs.lab_file import LabConfig, load_lab_config
from labtwin.twin.lab_time.speed import REAL, Speed

if TYPE_CHECKING:
    from labtwin.scenarios.labs.lab import Lab
    from labtwin.scenarios.labs.twin_lab_options import TwinLabOptions
    from labtwin.twin.board.model import Hazard

__all__ = ["add_list_parser", "add_run_parser", "duration_seconds", "run_list", "run_run"]

# Where labtwin's own modules live (the package's folders: a wheel's labtwin/, or a checkout's mapped folders).
_LABTWIN_ROOTS = tuple({Path(module.__file__).resolve().parent.parent
                        for module in (sys.modules["labtwin.scenarios"], sys.modules["labtwin.errors"])
                        if module.__file__})


def _broker_choice(value: str) -> str | BrokerAddress:
    if value in ("amqtt", "mosquitto"):
        return value
    return parse_broker_url(value)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _speed(text: str) -> Speed:
    try:
        return Speed.parse(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


_DURATION_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def duration_seconds(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``1.5h``, ``1d`` as seconds."""
    value = text.strip().lower()
    unit = next((u for u in sorted(_DURATION_UNITS, key=len, reverse=True) if value.endswith(u)), "")
    try:
        seconds = float(value[: len(value) - len(unit)]) * _DURATION_UNITS.get(unit, 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: a number of seconds, or with a unit "
                                         "(90s, 10m, 1h, 1d)") from None
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"a duration must be positive, got {text!r}")
    return seconds


def add_run_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run`` to the labtwin command line."""
    run = commands.add_parser("run", help="run a scenario on a twin lab (default: the sensor experiment)")
    run.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO,
                     help=f"scenario name, or path/to/file.py::NAME (default: {DEFAULT_SCENARIO})")
    run.add_argument("--broker", default=None, metavar="amqtt|mosquitto|mqtt://HOST:PORT",
                     help="a twin lab's broker: embedded amqtt (default; a lab file's [broker] twin), a Mosquitto "
                          "started for the run, or an external broker (credentials from $LABTWIN_BROKER_USERNAME "
                          "/ $LABTWIN_BROKER_PASSWORD)")
    run.add_argument("--seed", type=int, default=0,
                     help="seed for simulated sensors and for property scenarios; replays a failure (default: 0)")
    run.add_argument("--lab", type=Path, metavar="LAB.toml",
                     help="the lab file: its boards, firmware and parts as a twin lab, or its bench "
                          "(docs/lab-files.md)")
    target = run.add_mutually_exclusive_group()
    target.add_argument("--twin", action="store_true", help="run on the twin of the --lab file, whatever its mode")
    target.add_argument("--bench", action="store_true",
                        help="run on the bench the --lab file describes (hardware in the loop); twin-only rules "
                             "are skipped and listed")
    run.add_argument("--speed", type=_speed, default=REAL, metavar="N|max",
                     help="how fast a twin lab's time runs: N times real time (1 to 1000), or `max` (the clock "
                          "jumps whenever the whole lab waits); default 1 (docs/time.md)")
    run.add_argument("--duration", type=duration_seconds, metavar="TIME",
                     help="how long an experiment that takes one runs, in lab time: 90s, 10m, 1h, 1d (logger)")
    run.add_argument("--work-dir", type=Path, help="keep board flash dirs and logs here (default: a temp dir)")
    run.add_argument("-v", "--verbose", action="store_true", help="show firmware output and client logs")
    add_ui_arguments(run, default_port=DEFAULT_UI_PORT, opt_in=True)
    budget = run.add_argument_group("property scenarios")
    budget.add_argument("--examples", type=_positive_int, help="Hypothesis examples (default: per scenario)")
    budget.add_argument("--steps", type=_positive_int, help="steps per example (default: per scenario)")
    budget.add_argument("--max-time", type=float, metavar="SECONDS", help="stop starting new examples after this")
    budget.add_argument("--report-dir", type=Path, default=DEFAULT_STATE_DIR / "reports",
                        help="where JUnit XML and HTML reports go (default: .labtwin/reports)")
    budget.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help="validation records, logs and other state (default: .labtwin)")


def add_list_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``list`` to the labtwin command line."""
    listing = commands.add_parser("list", help="list the scenarios (labtwin's, and a lab file's own with --lab)")
    listing.add_argument("--lab", type=Path, metavar="LAB.toml", help="also list the scenarios this lab file names")


def run_list(args: argparse.Namespace) -> int:
    """``labtwin list``: every scenario, ours then the lab's."""
    for experiment in EXPERIMENTS.values():
        print(f"{experiment.name:16} experiment  {experiment.summary}")
    for spec in PROPERTY_SCENARIOS.values():
        print(f"{spec.name:16} property    {spec.description}")
    if args.lab is not None:
        config = load_lab_config(args.lab)
        lab_set = _lab_scenarios(config)
        print(f"\nfrom {args.lab}:" if lab_set.names() else f"\n{args.lab} names no scenarios (scenarios = [...])")
        for experiment in lab_set.experiments.values():
            print(f"{experiment.name:16} experiment  {experiment.summary}  ({lab_set.origins[experiment.name]})")
        for spec in lab_set.properties.values():
            print(f"{spec.name:16} property    {spec.description}  ({lab_set.origins[spec.name]})")
    return 0


def _lab_scenarios(config: LabConfig) -> ScenarioSet:
    found = load_scenarios(list(config.scenarios))
    for name in found.names():
        if name in EXPERIMENTS or name in PROPERTY_SCENARIOS:
            raise ConfigError(f"{found.origins[name]}: scenario {name!r} is one of labtwin's; give it another name")
    return found


def _find(args: argparse.Namespace, config: LabConfig | None) -> Experiment | PropertyScenario:
    reference = split_scenario_reference(args.scenario)
    if reference is not None:
        path, name = reference
        found = load_scenario_file(path)
        scenario = found.experiments.get(name) or found.properties.get(name)
        if scenario is None:
            raise ConfigError(f"{path} defines no scenario {name!r}; it defines: {', '.join(found.names()) or 'none'}")
        return scenario
    if args.scenario in EXPERIMENTS:
        return EXPERIMENTS[args.scenario]
    if args.scenario in PROPERTY_SCENARIOS:
        return PROPERTY_SCENARIOS[args.scenario]
    if config is not None:
        lab_set = _lab_scenarios(config)
        scenario = lab_set.experiments.get(args.scenario) or lab_set.properties.get(args.scenario)
        if scenario is not None:
            return scenario
    if config is not None:
        raise ConfigError(f"unknown scenario {args.scenario!r}: neither labtwin's nor one of {config.source}'s "
                          f"scenarios; `labtwin list --lab {config.source}` shows them")
    raise ConfigError(f"unknown scenario {args.scenario!r}; `labtwin list` shows the scenarios (a lab's own: "
                      "add --lab LAB.toml)")


def run_run(args: argparse.Namespace) -> int:
    """``labtwin run``: returns the exit code (0 passed, 1 failed)."""
    if (args.twin or args.bench) and args.lab is None:
        raise ConfigError("--twin and --bench choose between the two sides of a lab file: give --lab LAB.toml")
    config = load_lab_config(args.lab) if args.lab is not None else None
    scenario = _find(args, config)
    if config is None and isinstance(scenario, Experiment) and scenario.lab_file is not None:
        config = load_lab_config(scenario.lab_file)  # an example's own lab: its twin
    on_bench = config is not None and (args.bench or (config.mode == "bench" and not args.twin))
    if on_bench and args.broker is not None:
        raise ConfigError("--broker chooses a twin lab's broker; a bench's is the lab file's [broker] url")
    if args.duration is not None and not (isinstance(scenario, Experiment) and scenario.takes_duration):
        raise ConfigError(f"scenario {scenario.name!r} runs until it is done; --duration is for experiments that "
                          "take a duration (like `logger`)")
    if on_bench and not args.speed.real:
        raise ConfigError("--speed runs a twin lab's time faster; a bench runs in real time")
    check_ui_arguments(args)
    run_log = RunLog(args.state_dir / "logs" / f"{scenario.name}-{args.seed}.log", verbose=args.verbose)
    try:
        with run_log:
            if isinstance(scenario, PropertyScenario):
                return 0 if _run_property(scenario, args, config, on_bench) else 1
            from labtwin.twin.lab_time import run_on_lab_time

            run_on_lab_time(_run_experiment(scenario, args, config, on_bench), args.speed)
            return 0
    finally:
        summary = run_log.summary()
        if summary is not None:
            print(summary, flush=True)


def _print_hazard(device_id: str, hazard: Hazard) -> None:
    import sys

    print(f"!! HAZARD on {device_id}: {hazard.pin_name}: {hazard.message}", file=sys.stderr, flush=True)


def _twin_options(scenario: Experiment | PropertyScenario, args: argparse.Namespace, config: LabConfig | None,
                  ) -> TwinLabOptions:
    """The twin lab of this run: the lab file's (with the experiment's needs checked), or labtwin's default."""
    from labtwin.scenarios.labs.lab_file_twin import twin_lab_options
    from labtwin.scenarios.labs.twin_lab_options import TwinLabKeywords, TwinLabOptions, twin_lab_keywords

    def show_output(device_id: str, line: str) -> None:
        print(f"  [{device_id}] {line}", flush=True)

    common: TwinLabKeywords = {"seed": args.seed, "work_dir": args.work_dir, "on_hazard": _print_hazard,
                               "on_output": show_output if args.verbose else None, "speed": args.speed}
    broker = _broker_choice(args.broker) if args.broker is not None else None
    if config is not None:
        options = twin_lab_options(config, **common)
        if broker is not None:
            options = options.replace(broker=broker)
        if isinstance(scenario, Experiment):
            for needed, present, what in ((scenario.needs_ot2, options.ot2, "the OT-2 task app ([ot2])"),
                                          (scenario.needs_ot2_robot_api, options.ot2_robot_api,
                                           "the OT-2 robot API twin ([ot2] robot_api = true)")):
                if needed and not present:
                    raise ConfigError(f"scenario {scenario.name!r} needs {what}; {config.source} has none")
        return options
    common["broker"] = broker or "amqtt"
    options = TwinLabOptions(**common)
    if isinstance(scenario, Experiment):
        wanted = twin_lab_keywords(scenario.lab_options)
        wanted["ot2"], wanted["ot2_robot_api"] = scenario.needs_ot2, scenario.needs_ot2_robot_api
        options = options.replace(**wanted)
    return options


async def _run_experiment(scenario: Experiment, args: argparse.Namespace, config: LabConfig | None,
                          on_bench: bool) -> None:
    if on_bench:
        assert config is not None
        await _run_on_bench(scenario, args, config)
        return
    from labtwin.scenarios.labs.twin_lab import TwinLab  # keeps `labtwin list` and `--help` fast

    options = _twin_options(scenario, args, config)
    started = time.perf_counter()
    broker = options.broker
    broker_label = broker.url if isinstance(broker, BrokerAddress) else f"embedded {broker}"
    source = f" from {config.source}" if config is not None else ""
    speed = "" if options.speed.real else f", --speed {options.speed}"
    print(f"labtwin {__version__}: starting twin lab{source} (broker: {broker_label}, seed {args.seed}{speed})",
          flush=True)
    lab = TwinLab(options)
    async with lab, dashboard_for(lab, args) as dashboard:
        assert lab.broker_address is not None
        ot2 = f", OT-2 twin {lab.ot2_url}" if lab.ot2_url else ""
        ot2 += f", OT-2 robot API twin {lab.ot2_robot_api_url}" if lab.ot2_robot_api_url else ""
        print(f"lab up in {time.perf_counter() - started:.2f} s: broker {lab.broker_address.url}, "
              f"devices {', '.join(lab.device_ids)}{ot2}", flush=True)
        if dashboard is not None:
            print(f"  dashboard: {dashboard.url}", flush=True)
        lab_started, wall_started = lab.clock.now(), time.perf_counter()
        await _experiment_run(scenario, lab, args.duration)
        lab_s, wall_s = lab.clock.now() - lab_started, time.perf_counter() - wall_started
        # The same seed at --speed max gives the same events on every board (docs/time.md).
        print("board events: " + ", ".join(f"{device} {lab.board(device).model.trace.events_digest()[:12]}"
                                           for device in lab.device_ids))
        _record_validation(lab.options, scenario.name, args, per_board=config is not None)
    timing = "" if options.speed.real else (
        f"; the experiment: lab time {lab_s:.1f} s, wall time {wall_s:.2f} s, {lab_s / wall_s:.1f}x")
    print(f"scenario {scenario.name!r} passed; lab stopped ({time.perf_counter() - started:.2f} s total{timing})")


async def _experiment_run(scenario: Experiment, lab: Lab, duration: float | None = None) -> None:
    """Run the experiment; an exception from its own code is a failed scenario, shown where it was raised."""
    try:
        await scenario.start(lab, lambda line: print(line, flush=True), duration)
    except LabtwinError:
        raise
    except Exception as exc:
        frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if not _is_labtwin_file(frame.filename)]
        if not frames:
            raise  # labtwin's own code: a bug of ours, with its traceback
        print("".join(traceback.format_list(frames)), end="", file=sys.stderr)
        raise ExperimentFailed(f"scenario {scenario.name!r} FAILED: {type(exc).__name__}: {exc} "
                               f"({Path(frames[-1].filename).name}:{frames[-1].lineno})") from None


def _is_labtwin_file(filename: str) -> bool:
    path = Path(filename).resolve()
    return any(path.is_relative_to(root) for root in _LABTWIN_ROOTS) or "site-packages" in path.parts


async def _run_on_bench(scenario: Experiment, args: argparse.Namespace, config: LabConfig) -> None:
    from labtwin.scenarios.labs.bench_lab import BenchLab

    if scenario.needs_ot2_robot_api:
        raise ConfigError(f"scenario {scenario.name!r} injects robot faults, which only a twin lab can do; "
                          "run it on the twin")
    started = time.perf_counter()
    print(f"labtwin {__version__}: connecting to bench {config.source} (broker {config.bench_broker_url()})",
          flush=True)
    async with BenchLab(config) as lab, dashboard_for(lab, args) as dashboard:
        print(f"bench connected in {time.perf_counter() - started:.2f} s: devices {', '.join(lab.device_ids)}",
              flush=True)
        if dashboard is not None:
            print(f"  dashboard: {dashboard.url}", flush=True)
        await _experiment_run(scenario, lab, args.duration)
    print(f"scenario {scenario.name!r} passed on the bench ({time.perf_counter() - started:.2f} s total)")


def _run_property(spec: PropertyScenario, args: argparse.Namespace, config: LabConfig | None,
                  on_bench: bool) -> bool:
    from labtwin.scenarios.engine.progress import ProgressLine
    from labtwin.scenarios.engine.reports import write_reports

    default = spec.default_budget
    budget = Budget(examples=args.examples or default.examples, steps=args.steps or default.steps,
                    max_time=args.max_time if args.max_time is not None else default.max_time)
    if budget.max_time is not None and budget.max_time <= 0:
        raise ConfigError(f"--max-time must be positive, got {budget.max_time:g}")
    where = f"bench {config.source}" if on_bench and config is not None else (
        f"the twin of {config.source}" if config is not None else "a twin lab")
    print(f"labtwin {__version__}: scenario {spec.name!r} on {where}, seed {args.seed}, up to {budget.examples} "
          f"examples x {budget.steps} steps" + (f", max {budget.max_time:g} s" if budget.max_time else ""),
          flush=True)
    options: TwinLabOptions | None = None
    if on_bench:
        from labtwin.scenarios.labs.bench_lab import bench_lab_factory

        assert config is not None
        factory = bench_lab_factory(config)
    else:
        from labtwin.scenarios.labs.twin_lab import twin_lab_factory

        options = _twin_options(spec, args, config)
        # A lab file decides the boards; a scenario's own devices are for labtwin's default lab.
        factory = twin_lab_factory(options, file_decides_boards=config is not None)
    # A live line on a terminal; a plain line every ~10 s of a long example in a log or a pipe.
    run = run_scenario(spec, lab_factory=with_dashboards(factory, args), seed_value=args.seed, budget=budget,
                       progress=lambda line: print(line, flush=True),
                       status=ProgressLine(sys.stdout), replay=_replay(args))
    reports = write_reports(run, args.report_dir)
    rate = f"{run.examples_run / run.duration_s:.2f} examples/s, {run.steps_run / run.duration_s:.1f} steps/s"
    if run.passed:
        print(f"scenario {spec.name!r} passed: {run.examples_run} examples, {run.steps_run} steps in "
              f"{run.duration_s:.1f} s ({rate}; {run.timing()})")
        if options is not None:
            _record_validation(options, spec.name, args, per_board=config is not None)
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


def _replay(args: argparse.Namespace) -> str:
    """The command that runs this scenario again on this lab (the seed and budget are added to it)."""
    words = ["labtwin", "run", args.scenario]
    if args.lab is not None:
        words += ["--lab", str(args.lab)]
    if args.twin or args.bench:
        words.append("--twin" if args.twin else "--bench")
    if args.broker is not None:
        words += ["--broker", args.broker]
    if not args.speed.real:
        words += ["--speed", str(args.speed)]
    return " ".join(shlex.quote(word) for word in words)


def _record_validation(options: TwinLabOptions, scenario: str, args: argparse.Namespace, *,
                       per_board: bool) -> None:
    """Record the pass for each board's firmware (a lab file's boards), or for the lab's one firmware.

    The record is of the firmware as written (its overlay laid over it), whatever form the board
    booted: ``labtwin flash`` hashes the same files before it compiles them.
    """
    from labtwin.tools.validation import record_pass

    if not per_board:  # labtwin's default lab: the scenario chose the devices, all on one firmware
        digest = record_pass(args.state_dir, options.firmware_dir, scenario, args.seed, str(options.broker),
                             overlay=options.firmware_overlay)
        print(f"firmware {digest[:12]} validated by {scenario!r} (record in {args.state_dir / 'validated'})")
        return
    digests: dict[str, list[str]] = {}
    for device_id in options.devices:
        firmware, overlay = options.firmware_of(device_id)
        digest = record_pass(args.state_dir, firmware, scenario, args.seed, str(options.broker), overlay=overlay,
                             device_id=device_id, board=options.profile_of(device_id).name)
        digests.setdefault(digest, []).append(device_id)
    for digest, boards in digests.items():
        print(f"firmware {digest[:12]} validated by {scenario!r} on {', '.join(boards)} "
              f"(record in {args.state_dir / 'validated'})")
