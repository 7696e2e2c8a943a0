"""``labtwin watch [DEVICE]``: a lab's MQTT traffic as readable lines, commands and results paired (issue #17).

Statuses (the retained one first), commands and results of one board or of all, as the lab's
orchestrator user sees them on the broker of a lab file (by default the one ``labtwin serve lab``
writes). A result shows how long after its command it came, when the command was seen.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from labtwin.cli.serve import DEFAULT_LAB_FILE_OUT
from labtwin.errors import ConfigError, ProtocolError
from labtwin.orchestrator.protocol import DeviceStatus, Result

if TYPE_CHECKING:
    from labtwin.scenarios.labs.lab_file import LabConfig

__all__ = ["TrafficLines", "add_watch_parser", "run_watch"]

_KINDS = ("status", "command", "result")
_SHORT = 80


def add_watch_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``labtwin watch``."""
    watch = commands.add_parser(
        "watch", help="show a lab's statuses, commands and results as they happen",
        description="Print every status, command and result of DEVICE (default: every board) on the lab's "
                    "broker, one line each, until Ctrl-C.")
    watch.add_argument("device", metavar="DEVICE", nargs="?", help="one board's device id (default: all)")
    watch.add_argument("--lab", type=Path, default=None, metavar="LAB.toml",
                       help=f"the lab file that reaches the broker (default: {DEFAULT_LAB_FILE_OUT}, "
                            "written by `labtwin serve lab`)")
    watch.add_argument("--count", type=int, default=None, help="stop after this many lines")


def run_watch(args: argparse.Namespace) -> int:
    """``labtwin watch``: streams until Ctrl-C (exit 0) or ``--count`` lines."""
    from labtwin.scenarios.labs.lab_file import load_lab_config

    if args.count is not None and args.count <= 0:
        raise ConfigError(f"--count must be positive, got {args.count}")
    path = args.lab if args.lab is not None else DEFAULT_LAB_FILE_OUT
    if args.lab is None and not path.exists():
        raise ConfigError(f"no lab to watch: give --lab LAB.toml, or start a twin lab with `labtwin serve lab` "
                          f"(it writes {DEFAULT_LAB_FILE_OUT})")
    config = load_lab_config(path)
    if args.device is not None and args.device not in config.device_ids:
        raise ConfigError(f"{config.source} has no board {args.device!r} (boards: {', '.join(config.device_ids)})")
    try:
        asyncio.run(_watch(config, args.device, args.count))
    except KeyboardInterrupt:
        pass
    return 0


async def _watch(config: LabConfig, device: str | None, count: int | None) -> None:
    import aiomqtt

    from labtwin.errors import BrokerUnavailable

    address = config.broker_address()
    lines = TrafficLines()
    try:
        async with aiomqtt.Client(address.host, address.port, username=address.username,
                                  password=address.password, identifier=f"labtwin-watch-{uuid.uuid4().hex[:8]}",
                                  clean_session=True) as client:
            # One SUBSCRIBE: a broker sends the retained status once per subscription request.
            await client.subscribe([(f"{config.topic_prefix}/{device or '+'}/{kind}", 1) for kind in _KINDS])
            shown = 0
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, (bytes, str)) else b""
                line = lines.line(message.topic.value, payload, time.time(), retained=message.retain)
                if line is None:
                    continue
                print(line, flush=True)
                shown += 1
                if count is not None and shown >= count:
                    return
    except aiomqtt.MqttError as e:
        raise BrokerUnavailable(f"cannot watch MQTT broker {address.host}:{address.port}: {e}") from None


class TrafficLines:
    """Turns the lab's MQTT messages into one line each; remembers commands to pair their results."""

    def __init__(self) -> None:
        self._sent: dict[str, float] = {}  # request id -> when its command was seen
        self._retained: dict[str, bytes | str] = {}  # topic -> the retained payload last shown

    def line(self, topic: str, payload: bytes | str, now: float, *, retained: bool = False) -> str | None:
        """The line for one message on ``topic`` seen at ``now`` (Unix seconds).

        None for a retained message shown already (amqtt hands a new subscriber the same retained status twice).
        """
        if retained:
            if self._retained.get(topic) == payload:
                return None
            self._retained[topic] = payload
        parts = topic.split("/")
        device, kind = (parts[-2], parts[-1]) if len(parts) >= 3 else (topic, "")
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
        head = f"{stamp}  {device}  "
        try:
            if kind == "status":
                return head + self._status(payload, retained)
            if kind == "command":
                return head + self._command(payload, now)
            if kind == "result":
                return head + self._result(payload, now)
        except (ProtocolError, ValueError, TypeError) as e:
            return head + f"{kind or topic}: not a valid message ({e}): {_short(payload)}"
        return head + f"{topic}: {_short(payload)}"

    @staticmethod
    def _status(payload: bytes | str, retained: bool) -> str:
        status = DeviceStatus.decode(payload)
        details = [f"firmware {status.firmware}" if status.firmware else "",
                   f"board {status.board}" if status.board else "",
                   f"{len(status.tasks)} tasks" if status.tasks else ""]
        said = ", ".join(d for d in details if d)
        line = ("status online" if status.online else "status OFFLINE") + (f": {said}" if said else "")
        return line + (" (retained)" if retained else "")

    def _command(self, payload: bytes | str, now: float) -> str:
        message = json.loads(payload)
        if not isinstance(message, dict) or not isinstance(message.get("task"), str):
            raise ValueError("a command names its task")
        request_id = str(message.get("request_id", ""))
        self._sent[request_id] = now
        parameters = message.get("parameters") or {}
        arguments = ", ".join(f"{k}={v!r}" for k, v in parameters.items()) if isinstance(parameters, dict) else ""
        return f"-> {message['task']}({arguments})  [{request_id[:8]}]"

    def _result(self, payload: bytes | str, now: float) -> str:
        result = Result.decode(payload)
        sent = self._sent.pop(result.request_id, None)
        after = f"  {(now - sent) * 1000:.0f} ms" if sent is not None else ""
        if result.ok:
            outcome = f"ok: {_short(json.dumps(result.result))}"
        else:
            outcome = f"ERROR [{result.error_code}]: {result.error_message}"
        return f"<- {result.task} {outcome}{after}  [{result.request_id[:8]}]"


def _short(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return text if len(text) <= _SHORT else text[:_SHORT - 3] + "..."
