"""`labtwin schema lab` (the lab file's JSON Schema) and `labtwin import wokwi` (a diagram as lab-file TOML)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from labtwin.scenarios.labs.lab_file import lab_file_schema

__all__ = ["add_lab_file_parsers", "run_lab_file_tool"]


def add_lab_file_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``schema lab`` and ``import wokwi`` to the labtwin command line."""
    schema = commands.add_parser("schema", help="print a JSON Schema (for editors that complete and check files)")
    what = schema.add_subparsers(dest="schema", metavar="WHAT", required=True)
    what.add_parser("lab", help="the lab file's JSON Schema (docs/lab-files.md)",
                    description="Print the JSON Schema of a lab file: point an editor's TOML support (Taplo, "
                                "Even Better TOML) at it to complete and check lab files.")
    importer = commands.add_parser("import", help="turn another tool's files into lab-file entries")
    source = importer.add_subparsers(dest="source", metavar="SOURCE", required=True)
    wokwi = source.add_parser("wokwi", help="a Wokwi diagram.json as a [[boards]] entry with its parts (docs/wokwi.md)")
    wokwi.add_argument("diagram", type=Path, help="the diagram.json")
    wokwi.add_argument("--board-id", default="board-1", help="the board's device id (default: board-1)")


def run_lab_file_tool(args: argparse.Namespace) -> int:
    """Run ``schema lab`` or ``import wokwi``; returns the exit code."""
    if args.command == "schema":
        print(json.dumps(lab_file_schema(), indent=2))
        return 0
    from labtwin.twin.wiring.wokwi import load_wokwi_diagram, wiring_toml

    wiring = load_wokwi_diagram(args.diagram)
    for note in wiring.notes:
        print(f"# note: {note}")
    print(wiring_toml(wiring, args.board_id), end="")
    return 0
