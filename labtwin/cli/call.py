"""``labtwin call DEVICE TASK key=value ...``: curl for a lab's MQTT boards (issue #17).

The lab is a lab file (``--lab``; by default the one ``labtwin serve lab`` writes, so a served twin lab
answers). The parameters are typed from the task catalogue the device publishes in its retained status
(``"pin": ["int", "str"]``), so ``pin=15`` is the number 15 and ``pin=LED`` the string; a value that fits
none of the parameter's types, an unknown parameter or a missing one is a one-line error that names it.
The result is printed as JSON; an error result is printed too, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labtwin.cli.serve import DEFAULT_LAB_FILE_OUT
from labtwin.errors import ConfigError, DeviceOffline, TaskError

if TYPE_CHECKING:
    from labtwin.scenarios.labs.lab_file import LabConfig

__all__ = ["add_call_parser", "run_call", "typed_parameters"]


def add_call_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``labtwin call``."""
    call = commands.add_parser(
        "call", help="run one task on a board and print its result as JSON",
        description="Run TASK on DEVICE through the lab's MQTT broker and print the result as JSON. "
                    "Parameters are key=value; their types come from the task catalogue the device publishes. "
                    "Exits 1 on an error result.")
    call.add_argument("device", metavar="DEVICE", help="the board's device id")
    call.add_argument("task", metavar="TASK", help="the task's name (the device's catalogue lists them)")
    call.add_argument("parameters", nargs="*", metavar="key=value", help="the task's parameters")
    call.add_argument("--lab", type=Path, default=None, metavar="LAB.toml",
                      help=f"the lab file that reaches the boards (default: {DEFAULT_LAB_FILE_OUT}, "
                           "written by `labtwin serve lab`)")
    call.add_argument("--timeout", type=float, default=10.0,
                      help="seconds to wait for the device to be online and for the result (default: 10)")


def run_call(args: argparse.Namespace) -> int:
    """``labtwin call``: 0 on a result, 1 on an error result (user mistakes raise ConfigError)."""
    from labtwin.scenarios.labs.lab_file import load_lab_config

    if args.timeout <= 0:
        raise ConfigError(f"--timeout must be positive, got {args.timeout:g}")
    raw = _assignments(args.parameters)
    path = args.lab if args.lab is not None else DEFAULT_LAB_FILE_OUT
    if args.lab is None and not path.exists():
        raise ConfigError(f"no lab to call: give --lab LAB.toml, or start a twin lab with `labtwin serve lab` "
                          f"(it writes {DEFAULT_LAB_FILE_OUT})")
    config = load_lab_config(path)
    if args.device not in config.device_ids:
        raise ConfigError(f"{config.source} has no board {args.device!r} (boards: {', '.join(config.device_ids)})")
    return asyncio.run(_call(config, args.device, args.task, raw, args.timeout))


async def _call(config: LabConfig, device_id: str, task: str, raw: Mapping[str, str], timeout: float) -> int:
    from labtwin.scenarios.labs.bench_lab import BenchLab

    async with BenchLab(config, timeout=timeout) as lab:
        client = lab.client(device_id)
        try:
            status = await client.wait_for_status("online", timeout=timeout)
        except TimeoutError:
            raise DeviceOffline(device_id, f"no online status within {timeout:g} s") from None
        parameters = typed_parameters(task, status.tasks, raw)
        try:
            result = await client.call(task, parameters, timeout=timeout)
        except TaskError as e:
            print(json.dumps({"status": "error", "task": task, "device_id": device_id, "code": e.code,
                              "error": e.message}, indent=2))
            return 1
    print(json.dumps(result, indent=2))
    return 0


def _assignments(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"parameter {item!r} is not key=value")
        if key in out:
            raise ConfigError(f"parameter {key!r} given twice")
        out[key] = value
    return out


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "on", "yes"):
        return True
    if lowered in ("false", "0", "off", "no"):
        return False
    raise ValueError(text)


def _json_of(kind: type) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        value = json.loads(text)
        if not isinstance(value, kind):
            raise ValueError(text)
        return value
    return convert


def _anything(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "int": int, "float": float, "bool": _bool, "list": _json_of(list), "dict": _json_of(dict), "str": str,
}


def typed_parameters(task: str, catalogue: Mapping[str, Any], raw: Mapping[str, str]) -> dict[str, Any]:
    """``raw`` (text values) typed by ``task``'s entry in a device's catalogue (its retained status's ``tasks``).

    Raises:
        ConfigError: an unknown task or parameter, a missing one, or a value none of its types accepts.
    """
    entry = catalogue.get(task)
    if not isinstance(entry, Mapping):
        known = ", ".join(sorted(catalogue)) or "none published"
        raise ConfigError(f"the device has no task {task!r} (its tasks: {known})")
    declared: Mapping[str, Any] = entry.get("params") or {}
    optional = set(entry.get("optional") or ())
    unknown = [name for name in raw if name not in declared]
    if unknown:
        names = ", ".join(declared) or "none"
        raise ConfigError(f"task {task!r} has no parameter {unknown[0]!r} (its parameters: {names})")
    missing = [name for name in declared if name not in raw and name not in optional]
    if missing:
        raise ConfigError(f"task {task!r} needs {', '.join(f'{name}=...' for name in missing)}")
    typed: dict[str, Any] = {}
    for name, text in raw.items():
        kinds = declared[name] if isinstance(declared[name], list) else [declared[name]]
        # A string takes anything, so it is tried last: pin=15 is the number, pin=LED the name.
        for kind in sorted(kinds, key=lambda k: k == "str"):
            try:
                typed[name] = _CONVERTERS.get(kind, _anything)(text)
                break
            except ValueError:
                continue
        else:
            raise ConfigError(f"task {task!r}: parameter {name!r} takes {' or '.join(kinds)}, got {text!r}")
    return typed
