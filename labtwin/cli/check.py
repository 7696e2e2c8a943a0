"""`labtwin check firmware`: its options, progress lines and report (the check: labtwin.tools.firmware_check)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from labtwin import __version__
from labtwin.board_firmware import STOCK_FIRMWARE_DIR, copy_firmware
from labtwin.tools.firmware_check import (
    DEFAULT_MIN_MARGIN_PERCENT,
    FORMS,
    RESOLUTION_BYTES,
    CheckReport,
    run_firmware_check,
)
from labtwin.twin.board.profiles import BOARD_PROFILES

__all__ = ["add_check_parser", "format_report", "parse_margin", "run_check"]


def format_report(report: CheckReport) -> list[str]:
    """The summary table and the verdict."""
    if report.compile_failures:
        n = len(report.compile_failures)
        names = ", ".join(f.file for f in report.compile_failures)
        return [f"firmware check FAILED: {n} of {report.compiled} files do not compile with mpy-cross ({names})"]
    lines = ["", f"{'board':8} {'heap':>11} {'form':6} {'peak':>12} {'twin':>9} {'margin':>21} {'in use after':>13}"]
    for fit in report.fits or []:
        heap = f"{fit.heap:,} B"
        in_use = f"{fit.in_use:,} B" if fit.in_use is not None else "-"
        if fit.error is not None:
            peak, margin = "-", "workload failed"
        elif fit.peak_at_least is not None:
            assert fit.margin is not None and fit.margin_percent is not None
            peak = f">={fit.peak_at_least:,} B"
            margin = f"<={fit.margin:,} B ({fit.margin_percent:.1f}%)"
        elif fit.peak is None:
            peak, margin = f">{fit.needs_more_than or fit.heap:,} B", "does not fit"
        else:
            assert fit.margin is not None and fit.margin_percent is not None
            peak = f"{fit.peak:,} B"
            margin = f"{fit.margin:,} B ({fit.margin_percent:.1f}%)"
        judged = "*" if fit.form == report.form else " "
        twin = f"-{fit.twin_heap:,} B"
        lines.append(f"{fit.board:8} {heap:>11} {fit.form:5}{judged} {peak:>12} {twin:>9} {margin:>21} {in_use:>13}")
    lines.append(f"peak: the heap from which on every size boots and serves the stock tasks (within "
                 f"{RESOLUTION_BYTES:,} B; 64-bit VM, so pessimistic for 32-bit boards); twin: heap the twin's "
                 "machine/network shims hold (C in flash on a board), deducted before the margin; * = judged form")
    for fit in report.fits or []:
        if fit.form != report.form and fit.shortfall(report.min_margin_percent) is not None:
            lines.append(f"note: {fit.board} ({fit.form}) {fit.shortfall(report.min_margin_percent)}")
    failures = report.failures
    criterion = f"{report.form} form, min margin {report.min_margin_percent:g}%"
    if failures:
        lines.append(f"firmware check FAILED ({criterion}):")
        lines.extend(f"  {line}" for line in failures)
    else:
        lines.append(f"firmware check passed ({criterion}) on {', '.join(report.boards)}")
    return lines


def parse_margin(text: str) -> float:
    """``--min-margin`` value: a percentage of the heap, ``"20"`` or ``"20%"``."""
    value = text.strip().removesuffix("%").strip()
    try:
        percent = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage (e.g. 20%)") from None
    if not 0 <= percent < 100:
        raise argparse.ArgumentTypeError(f"must be at least 0% and below 100%, got {text}")
    return percent


def add_check_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``check firmware`` to the labtwin command line."""
    check = commands.add_parser("check", help="check the board firmware before it goes to a board")
    what = check.add_subparsers(dest="check", metavar="WHAT", required=True)
    firmware = what.add_parser(
        "firmware", help="compile it with mpy-cross, then measure its peak heap on every board profile",
        description="Compile every board firmware file with mpy-cross, boot the firmware in the MicroPython VM "
                    "under each board profile's heap, drive it through the stock tasks over MQTT, and find its "
                    "peak heap (the smallest heap that still works). Fails (exit 1) when a file does not compile "
                    "or a board's margin is below --min-margin. See docs/firmware-check.md.")
    firmware.add_argument("--firmware-dir", type=Path, default=STOCK_FIRMWARE_DIR,
                          help="board firmware to check (default: the repo's firmware/)")
    firmware.add_argument("--overlay", type=Path, metavar="DIR",
                          help="a directory laid over the firmware (a lab's main.py, task modules and lib/ drivers "
                               "over the stock framework, e.g. examples/environment/firmware)")
    firmware.add_argument("--board", action="append", choices=list(BOARD_PROFILES), metavar="BOARD",
                          help=f"board profile to check; repeat for more (default: all: {', '.join(BOARD_PROFILES)})")
    firmware.add_argument("--min-margin", type=parse_margin, default=DEFAULT_MIN_MARGIN_PERCENT, metavar="PERCENT",
                          help="heap that must stay free at the firmware's peak, in %% of the board's heap "
                               f"(default: {DEFAULT_MIN_MARGIN_PERCENT:g}%%)")
    firmware.add_argument("--form", choices=FORMS, default="mpy",
                          help="form the verdict is on: precompiled .mpy modules (default; how firmware should "
                               "ship to a board) or .py sources compiled by the board at import")
    firmware.add_argument("--only-judged-form", action="store_true",
                          help="measure only the judged form (faster; by default both forms are reported)")
    firmware.add_argument("--work-dir", type=Path,
                          help="keep the probes' flash dirs and logs here (default: a temp dir)")
    firmware.add_argument("-v", "--verbose", action="store_true", help="show every boot of the peak search")


def run_check(args: argparse.Namespace) -> int:
    """Run ``labtwin check firmware``; returns the exit code (0 pass, 1 fail)."""

    def say(line: str) -> None:
        print(line, flush=True)

    # Probes that run out of memory crash on purpose; the board runner's warnings about
    # those crashes (and hazards, which the report lists) would only repeat the report.
    logger = logging.getLogger("labtwin")
    level = logger.level
    if not args.verbose:
        logger.setLevel(logging.ERROR)
    try:
        return _run_check(args, say)
    finally:
        logger.setLevel(level)


def _run_check(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    what = args.firmware_dir if args.overlay is None else f"{args.overlay} over {args.firmware_dir}"
    print(f"labtwin {__version__}: firmware check of {what} (judged form: {args.form}, "
          f"min margin {args.min_margin:g}%)", flush=True)
    with tempfile.TemporaryDirectory(prefix="labtwin-overlay-") as scratch:
        firmware_dir = args.firmware_dir
        if args.overlay is not None:  # the check reads one directory: the two laid together, as a board boots them
            firmware_dir = Path(scratch) / "firmware"
            copy_firmware(args.firmware_dir, firmware_dir, args.overlay)
        return _check(firmware_dir, args, say)


def _check(firmware_dir: Path, args: argparse.Namespace, say: Callable[[str], None]) -> int:
    # LabtwinError and Ctrl-C are reported by the CLI's main(), like every other command's.
    report = asyncio.run(run_firmware_check(
        firmware_dir, boards=args.board, forms=[args.form] if args.only_judged_form else FORMS,
        form=args.form, min_margin_percent=args.min_margin, work_dir=args.work_dir, progress=say,
        verbose=say if args.verbose else None))
    for line in format_report(report):
        print(line)
    return 0 if report.passed else 1
