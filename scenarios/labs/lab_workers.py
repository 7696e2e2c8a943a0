"""Worker processes that boot a twin lab's boards, so a big lab uses every core (``TwinLab(workers=N)``).

A twin lab runs its boards' hardware buses and board models in its own process, beside the
orchestrator clients (and amqtt, when embedded): on a 2-core machine that one process is the limit
near 1,000 boards while the other core waits (docs/reliability.md). With ``workers=N`` the lab
process keeps the broker and the orchestrator clients and deals the boards out round robin to N
worker processes. Each worker is a twin lab of its share that logs in to the lab's broker, each
board as its own broker user (the lab's ACL holds), and boots the boards without clients of its own.

A worker is ``python -m labtwin.scenarios.labs.lab_workers SPEC.json``: the spec (readable by its
owner only, it holds the boards' broker passwords) says which boards, with which seeds, firmware
and settings. It prints :data:`READY_LINE` once its boards are started and runs until SIGTERM or
SIGINT; its other output goes to ``worker-K.log`` in the lab's work dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtwin.errors import LabtwinError
from labtwin.scenarios.labs.broker_url import BrokerAddress
from labtwin.scenarios.labs.twin_lab_options import BoardSetup, TwinLabOptions

__all__ = ["READY_LINE", "LabWorkers", "main", "worker_spec"]

READY_LINE = "labtwin lab worker: ready"
_STOP_GRACE_S = 30.0


def worker_spec(options: TwinLabOptions, devices: list[str], *, broker: tuple[str, int],
                passwords: Mapping[str, str]) -> dict[str, Any]:
    """What a worker needs to boot ``devices`` of the lab ``options`` describes (JSON-ready)."""
    boards = {}
    for device_id in devices:
        setup = options.boards.get(device_id, BoardSetup())
        firmware, overlay = options.firmware_of(device_id)
        seed = setup.seed if setup.seed is not None else options.seed + list(options.devices).index(device_id)
        boards[device_id] = {"seed": seed,
                             "password": passwords[device_id], "board": options.profile_of(device_id).name,
                             "firmware_dir": str(firmware), "firmware_overlay": str(overlay) if overlay else None,
                             "settings": dict(setup.settings), "mpy": setup.mpy}
    return {"broker": list(broker), "topic_prefix": options.topic_prefix, "heap_bytes": options.heap_bytes,
            "timeout": options.timeout, "boot_timeout": options.boot_timeout,
            "boot_concurrency": options.boot_concurrency, "boards": boards}


def _options_of(spec: Mapping[str, Any], work_dir: Path) -> TwinLabOptions:
    host, port = spec["broker"]
    boards = {device_id: BoardSetup(board=board["board"], firmware_dir=Path(board["firmware_dir"]),
                                    firmware_overlay=Path(board["firmware_overlay"]) if board["firmware_overlay"]
                                    else None, settings=board["settings"], mpy=board["mpy"], seed=board["seed"],
                                    login=(device_id, board["password"]))
              for device_id, board in spec["boards"].items()}
    return TwinLabOptions(devices=list(boards), broker=BrokerAddress(host, port), boards=boards,
                          topic_prefix=spec["topic_prefix"], heap_bytes=spec["heap_bytes"], timeout=spec["timeout"],
                          boot_timeout=spec["boot_timeout"], boot_concurrency=spec["boot_concurrency"],
                          work_dir=work_dir, orchestrator_clients=False)


class LabWorkers:
    """The worker processes of a lab: started by :meth:`start`, stopped (SIGTERM, then SIGKILL) by :meth:`stop`."""

    def __init__(self, options: TwinLabOptions, *, broker: tuple[str, int], passwords: Mapping[str, str],
                 work_dir: Path) -> None:
        self.options = options
        self.work_dir = work_dir
        self._specs = [worker_spec(options, list(options.devices[k::options.workers]), broker=broker,
                                   passwords=passwords) for k in range(options.workers)]
        self.processes: list[asyncio.subprocess.Process] = []
        self._drains: list[asyncio.Task[None]] = []

    @property
    def pids(self) -> list[int]:
        """The workers' process ids (their boards' VMs are their children)."""
        return [process.pid for process in self.processes]

    async def start(self) -> None:
        """Start every worker and wait until each has started its boards; LabtwinError if one fails."""
        for k, spec in enumerate(self._specs):
            folder = self.work_dir / f"worker-{k}"
            folder.mkdir(parents=True, exist_ok=True)
            spec_path = folder / "spec.json"
            descriptor = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                json.dump(spec, file)
            self.processes.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "labtwin.scenarios.labs.lab_workers", str(spec_path), str(folder),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True))  # a Ctrl-C reaches the lab, which stops its workers in order
        # Booting takes what the boards take, boot_concurrency at a time in each worker.
        per_worker = -(-len(self.options.devices) // self.options.workers)
        budget = self.options.boot_timeout * (1 + per_worker / self.options.boot_concurrency)
        try:
            async with asyncio.timeout(budget), asyncio.TaskGroup() as group:
                for k, process in enumerate(self.processes):
                    group.create_task(self._ready(k, process))
        except* LabtwinError as failed:
            raise failed.exceptions[0] from None
        except* TimeoutError:
            raise LabtwinError(f"the lab's worker processes did not start their boards within {budget:.0f} s; "
                               f"see {self.work_dir}/worker-*.log") from None

    async def _ready(self, k: int, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        log_path = self.work_dir / f"worker-{k}.log"
        with open(log_path, "ab") as log:
            while True:
                line = await process.stdout.readline()
                if not line:
                    code = await process.wait()
                    raise LabtwinError(f"lab worker {k} ended ({code}) before its boards started; see {log_path}")
                log.write(line)
                if line.decode(errors="replace").strip() == READY_LINE:
                    break
        self._drains.append(asyncio.get_running_loop().create_task(self._drain(process, log_path),
                                                                   name=f"lab-worker-{k}-output"))

    @staticmethod
    async def _drain(process: asyncio.subprocess.Process, log_path: Path) -> None:
        assert process.stdout is not None
        with open(log_path, "ab") as log:
            while line := await process.stdout.readline():
                log.write(line)

    async def ended(self) -> int:
        """Wait until a worker ends (it should not while the lab runs); its index."""
        waits = {asyncio.ensure_future(process.wait()): k for k, process in enumerate(self.processes)}
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        return waits[done.pop()]

    async def stop(self) -> None:
        """Stop every worker (its boards first), SIGKILL one that outstays its grace, and its boards' VMs."""
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), _STOP_GRACE_S)
            except TimeoutError:
                vms = _children(process.pid)  # each VM leads its own session: killpg would miss them
                for pid in [process.pid, *vms]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                await process.wait()
        for drain in self._drains:
            drain.cancel()
        await asyncio.gather(*self._drains, return_exceptions=True)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


async def _serve(options: TwinLabOptions) -> None:
    from labtwin.scenarios.labs.twin_lab import TwinLab

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with TwinLab(options):
        print(READY_LINE, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """A worker: ``SPEC.json WORK_DIR``."""
    spec_path, work_dir = (argv if argv is not None else sys.argv[1:])[:2]
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    Path(spec_path).unlink()  # it holds the boards' broker passwords: read once, then gone
    try:
        asyncio.run(_serve(_options_of(spec, Path(work_dir))))
    except LabtwinError as e:
        print(f"labtwin lab worker: error: {e}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
