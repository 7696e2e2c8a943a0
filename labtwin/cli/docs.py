"""``labtwin docs [--lab LAB.toml] [--out DIR]``: the lab's MQTT interface as an AsyncAPI 3.0 document (issue #17).

The document is generated from the task catalogues the boards publish (labtwin/tools/asyncapi.py): read
from the bench a lab file reaches, or from its twin lab, started for a few seconds. When the lab has an
OT-2 task server, its OpenAPI document is written beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from labtwin.errors import ConfigError

__all__ = ["DEFAULT_DOCS_DIR", "add_docs_parser", "run_docs"]

DEFAULT_DOCS_DIR = Path(".labtwin") / "docs"
ASYNCAPI_FILE = "asyncapi.json"
OPENAPI_FILE = "openapi-ot2.json"


def add_docs_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``labtwin docs``."""
    docs = commands.add_parser(
        "docs", help="write the lab's AsyncAPI document (and the OT-2 task server's OpenAPI one)",
        description=f"Write DIR/{ASYNCAPI_FILE}: the AsyncAPI 3.0 document of the lab's MQTT interface, generated "
                    "from the task catalogues its boards publish (a twin lab is started briefly to read them). "
                    f"With an OT-2 task server in the lab, its OpenAPI document goes to DIR/{OPENAPI_FILE}.")
    docs.add_argument("--lab", type=Path, default=None, metavar="LAB.toml",
                      help="the lab file: its twin (mode twin) or its bench (mode bench, or the file `labtwin "
                           "serve lab` writes); default: a twin lab of one Pico W")
    target = docs.add_mutually_exclusive_group()
    target.add_argument("--twin", action="store_true", help="read the twin of the --lab file, whatever its mode")
    target.add_argument("--bench", action="store_true",
                        help="read the boards on the --lab file's broker, whatever its mode")
    docs.add_argument("--out", type=Path, default=DEFAULT_DOCS_DIR, metavar="DIR",
                      help=f"where the documents go (default: {DEFAULT_DOCS_DIR})")
    docs.add_argument("--timeout", type=float, default=15.0,
                      help="seconds to wait for every board's retained status (default: 15)")


def run_docs(args: argparse.Namespace) -> int:
    """``labtwin docs``: 0 when the documents are written (a lab that cannot be read raises LabtwinError)."""
    from labtwin.scenarios.labs.lab_file import load_lab_config
    from labtwin.tools.asyncapi import asyncapi_document
    from labtwin.tools.lab_catalogues import bench_catalogues, twin_catalogues

    if args.timeout <= 0:
        raise ConfigError(f"--timeout must be positive, got {args.timeout:g}")
    if (args.twin or args.bench) and args.lab is None:
        raise ConfigError("--twin and --bench choose between the two sides of a lab file: give --lab LAB.toml")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a file, not a folder")
    config = load_lab_config(args.lab) if args.lab is not None else None
    on_bench = config is not None and (args.bench or (config.mode == "bench" and not args.twin))

    def progress(line: str) -> None:
        print(line, flush=True)

    if on_bench:
        assert config is not None
        lab = asyncio.run(bench_catalogues(config, timeout=args.timeout, progress=progress))
    else:
        lab = asyncio.run(twin_catalogues(config, timeout=args.timeout, progress=progress))
    title = f"labtwin lab {config.source}" if config is not None else "labtwin lab"
    document = asyncapi_document(lab.catalogues, topic_prefix=lab.topic_prefix, broker_url=lab.broker_url,
                                 title=title)
    args.out.mkdir(parents=True, exist_ok=True)
    asyncapi_path = args.out / ASYNCAPI_FILE
    _write_json(asyncapi_path, document)
    tasks = sum(len(catalogue) for catalogue in lab.catalogues.values())
    print(f"wrote {asyncapi_path}: AsyncAPI {document['asyncapi']}, {len(lab.catalogues)} board"
          f"{'s' if len(lab.catalogues) != 1 else ''}, {tasks} tasks, {len(document['channels'])} channels")
    openapi_path = args.out / OPENAPI_FILE
    if lab.openapi is not None:
        _write_json(openapi_path, lab.openapi)
        print(f"wrote {openapi_path}: the OT-2 task server's OpenAPI {lab.openapi.get('openapi', '')} document")
    else:
        stale = " (removed the one from an earlier run)" if openapi_path.exists() else ""
        openapi_path.unlink(missing_ok=True)
        print(f"no OT-2 task server in this lab, so no {OPENAPI_FILE}{stale}")
    return 0


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
