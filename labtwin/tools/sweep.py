"""Seed sweeps on Dask distributed: one property-scenario run per seed, in parallel, gathered as one result.

::

    with dask_client(workers=2) as client:
        sweep = run_sweep(client, task, range(0, 100), scenario="chaos", on_result=print)

Dask does the distributing: its scheduler places one task per seed on its workers (one thread each, so
one twin lab per worker process at a time), its object store carries the small per-seed records back,
and its dashboard shows the tasks. labtwin adds no scheduler: this module opens a cluster (a
LocalCluster, or the scheduler at an address), submits the tasks, and gathers what they return as they
finish. ``task`` is any picklable callable of a seed (``labtwin.cli.sweep_seed.SeedTask`` runs the
scenario); each run already shrinks its own failure (Hypothesis, in ``run_scenario``), and the result
groups the failures by what broke, each with its shortest minimal example.

``distributed`` is an optional extra (``pip install 'labtwin[sweep]'``): it is imported only here, only
when a sweep starts.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labtwin.errors import ConfigError

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["CONNECT_TIMEOUT_S", "INSTALL_HINT", "SeedResult", "SweepResult", "check_workers", "dashboard_link",
           "dask_client", "parse_seed_range", "run_sweep"]

INSTALL_HINT = "pip install 'labtwin[sweep]'"
CONNECT_TIMEOUT_S = 10.0
"""How long to try a scheduler's address, and to wait for its first worker."""
DASHBOARD_ADDRESS = ":8787"  # Dask's own default; it takes another port when that one is taken
QUEUED_PER_THREAD = 4
"""Seeds handed to the scheduler at a time, per worker thread: enough that no worker waits for its next
seed, few enough that a sweep of a million seeds is not a million futures, and a Ctrl-C cancels a
handful (cancelling twenty thousand queued keys took Dask's scheduler half a minute)."""


def parse_seed_range(text: str) -> range:
    """``A:B`` as the seeds A, A+1, ..., B-1 (like a Python slice: ``0:1000`` is a thousand seeds).

    Raises:
        ConfigError: not two whole numbers, or B is not above A.
    """
    first, colon, stop = text.partition(":")
    try:
        start, end = int(first), int(stop)
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: give a range A:B of whole numbers, e.g. 0:1000 "
                          "(seeds 0 to 999)") from None
    if not colon or end <= start:
        raise ConfigError(f"--seeds {text!r}: the end must be above the start (A:B runs seeds A to B-1)")
    if start < 0:
        raise ConfigError(f"--seeds {text!r}: seeds are not negative")
    return range(start, end)


@dataclass(frozen=True)
class SeedResult:
    """What one seed's run returned to the client: small and picklable (the full run record stays on the worker).

    ``wall_s`` is the whole task on its worker (the scenario's examples plus finding and loading it);
    ``lab_time_s`` is the lab time its examples ran. ``log`` and ``report`` are paths on the worker's machine.
    """

    seed: int
    passed: bool
    examples: int = 0
    steps: int = 0
    lab_time_s: float = 0.0
    wall_s: float = 0.0
    worker: str = ""
    failure: str | None = None
    minimal_example: tuple[str, ...] = ()
    reproduce_blob: str | None = None
    replay_command: str | None = None
    log: str | None = None
    report: str | None = None
    crashed: bool = False
    """The run did not finish (the lab would not start, a worker died): ``failure`` says why."""

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        return {"seed": self.seed, "passed": self.passed, "examples": self.examples, "steps": self.steps,
                "lab_time_s": round(self.lab_time_s, 3), "wall_s": round(self.wall_s, 3), "worker": self.worker,
                "failure": self.failure, "minimal_example": list(self.minimal_example),
                "reproduce_blob": self.reproduce_blob, "replay_command": self.replay_command, "log": self.log,
                "report": self.report, "crashed": self.crashed}


@dataclass
class SweepResult:
    """A whole sweep: every seed's result (by seed), the wall time, and the cluster it ran on."""

    scenario: str
    seeds: range
    results: list[SeedResult]
    wall_s: float
    cores: int
    """Worker threads when the sweep ended: the cores it used (one lab per thread)."""
    cluster: str
    dashboard: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    """The runs' speed and budgets, as given (for the report)."""
    interrupted: bool = False
    """Stopped (Ctrl-C) before every seed ran: ``results`` holds the seeds that finished."""

    @property
    def failed(self) -> list[SeedResult]:
        """The failing seeds, in seed order."""
        return [r for r in self.results if not r.passed]

    @property
    def passed(self) -> bool:
        """Every seed ran, and passed."""
        return not self.failed and len(self.results) == len(self.seeds)

    @property
    def seeds_per_hour_per_core(self) -> float:
        """Finished seeds per wall-clock hour, per worker thread."""
        if self.wall_s <= 0 or self.cores <= 0:
            return 0.0
        return len(self.results) / (self.wall_s / 3600.0) / self.cores

    @property
    def slowest(self) -> SeedResult | None:
        """The seed whose task took longest on its worker."""
        return max(self.results, key=lambda r: r.wall_s, default=None)

    def failure_groups(self) -> list[tuple[str, list[SeedResult]]]:
        """Failures grouped by what broke (the exception and its message's first line), biggest group first.

        Each group's seeds are ordered shortest minimal example first: the first is the one to replay.
        """
        groups: dict[str, list[SeedResult]] = {}
        for result in self.failed:
            kind = (result.failure or "unknown failure").splitlines()[0]
            groups.setdefault(kind, []).append(result)
        for seeds in groups.values():
            seeds.sort(key=lambda r: (len(r.minimal_example) or 1_000_000, r.seed))
        return sorted(groups.items(), key=lambda item: (-len(item[1]), item[1][0].seed))


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ConfigError(f"seed sweeps run on Dask distributed, which is not installed: {INSTALL_HINT}") from None
    return distributed


@contextmanager
def _quiet_dask() -> Iterator[None]:
    """Keep Dask's INFO records (cluster start, and its tracebacks of connections closed at shutdown) off the
    terminal: the scheduler of a local cluster runs in this process, and its records reach the root logger."""
    logger = logging.getLogger("distributed")
    saved = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(saved)


@contextmanager
def _workers_spared_ctrl_c() -> Iterator[None]:
    """Worker processes started in the block ignore SIGINT: a Ctrl-C reaches only this process, which stops
    the sweep and then the cluster (the workers would otherwise each print a KeyboardInterrupt traceback)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


_POLL_S = 0.1  # how often the sweep looks for a finished seed (as_completed's own wait is as long)


@contextmanager
def _ctrl_c_sets() -> Iterator[threading.Event]:
    """An event a Ctrl-C sets while the block runs, instead of raising KeyboardInterrupt wherever it lands.

    Raised inside a Dask client call, a KeyboardInterrupt trips a bug of distributed's (its ``sync``
    logs a NameError traceback); the sweep's loop checks the event between calls instead. Outside the
    main thread (no signals there) the event is never set.
    """
    pressed = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.set())
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def dask_client(*, workers: int | None = None, address: str | None = None,
                dashboard: bool = True) -> Iterator[Client]:
    """A Dask client: on a LocalCluster of ``workers`` processes (one thread each), or on the scheduler at ``address``.

    The local cluster's dashboard is Dask's own, on :8787 when ``dashboard`` and bokeh is installed (else
    Dask's HTTP server takes a free port). Leaving the block closes the client, and the local cluster
    with its worker processes.

    Raises:
        ConfigError: distributed is not installed, the address is not a scheduler's, or it has no worker.
    """
    distributed = _import_distributed()
    with _quiet_dask():
        if address is None:
            with_dashboard = dashboard and importlib.util.find_spec("bokeh") is not None
            with _workers_spared_ctrl_c():
                cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                   dashboard_address=DASHBOARD_ADDRESS if with_dashboard else ":0",
                                                   silence_logs=logging.ERROR)
            try:
                client = distributed.Client(cluster)
                try:
                    yield client
                finally:
                    client.close()
            finally:
                cluster.close()
            return
        try:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, ValueError, TypeError) as e:  # refused, timed out (an OSError), or not an address at all
            raise ConfigError(f"--cluster {address!r}: no Dask scheduler there ({_first_line(e)}); start one with "
                              "`dask scheduler` and give its tcp://HOST:8786 address") from None
        try:
            try:
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
            except TimeoutError:
                raise ConfigError(f"--cluster {address!r}: the scheduler has no workers; start them with "
                                  f"`dask worker {address}` on machines with labtwin installed") from None
            yield client
        finally:
            client.close()


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def dashboard_link(client: Client) -> str | None:
    """The scheduler's dashboard address, or None when it serves none (a local cluster without bokeh)."""
    if client.cluster is not None and importlib.util.find_spec("bokeh") is None:
        return None  # Dask's HTTP server only says to install bokeh
    if "dashboard" not in client.scheduler_info(n_workers=0).get("services", {}):
        return None
    link = client.dashboard_link
    return str(link) if link else None


def _labtwin_version() -> str:
    from labtwin import __version__

    return __version__


def check_workers(client: Client) -> int:
    """Every worker can import labtwin (the version of this one); returns the worker threads.

    Raises:
        ConfigError: a worker cannot import labtwin, or has another version of it.
    """
    from labtwin import __version__

    try:
        versions: dict[str, str] = client.run(_labtwin_version)
    except Exception as e:  # the worker could not unpickle or run it: labtwin is not installed there
        raise ConfigError(f"a Dask worker cannot run labtwin ({_first_line(e)}); install labtwin {__version__} "
                          "with its sweep extra on every worker machine") from None
    others = {worker: version for worker, version in versions.items() if version != __version__}
    if others:
        raise ConfigError(f"Dask workers run another labtwin than {__version__}: "
                          + ", ".join(f"{worker} has {version}" for worker, version in sorted(others.items())))
    return _threads(client)


def _threads(client: Any) -> int:  # Any: distributed leaves nthreads untyped
    return sum(client.nthreads().values())


def run_sweep(client: Client, task: Callable[[int], SeedResult], seeds: range, *, scenario: str,
              on_result: Callable[[SeedResult], None] = lambda result: None,
              on_interrupt: Callable[[int], None] = lambda finished: None) -> SweepResult:
    """Run ``task`` for every seed on the client's cluster; ``on_result`` gets each result as it arrives.

    A task whose worker died under it (or that could not run at all) is a crashed seed, not a stopped
    sweep. Interrupting (Ctrl-C) calls ``on_interrupt`` with the seeds finished so far, cancels the
    others and returns what finished, marked ``interrupted``.

    Dask places every seed; this only meters how many wait in its queue (QUEUED_PER_THREAD per worker
    thread, counting workers that join during the sweep), submitting the next as one finishes.
    """
    distributed = _import_distributed()
    untyped: Any = client  # distributed leaves cancel (and the scheduler's rpc) untyped
    cores = check_workers(client)
    started = time.perf_counter()
    token = secrets.token_hex(4)  # keys unique per sweep: Dask would hand back an earlier sweep's results
    unsubmitted = iter(seeds)
    seed_of: dict[object, int] = {}  # by Dask key

    def submit(count: int) -> list[Any]:
        submitted = []
        for seed in itertools.islice(unsubmitted, max(0, count)):
            future = client.submit(task, seed, key=f"{scenario}-seed-{seed}-{token}", pure=False)
            seed_of[future.key] = seed
            submitted.append(future)
        return submitted

    running = distributed.as_completed(submit(QUEUED_PER_THREAD * cores))
    results: list[SeedResult] = []
    try:
        with _ctrl_c_sets() as ctrl_c:
            while not running.is_empty() and not ctrl_c.is_set():
                if not running.has_ready():
                    ctrl_c.wait(_POLL_S)
                    continue
                future = next(running)
                seed = seed_of.pop(future.key)
                try:
                    result: SeedResult = future.result()
                except Exception as e:  # KilledWorker, or the task could not be unpickled on the worker
                    result = SeedResult(seed=seed, passed=False, crashed=True,
                                        failure=f"{type(e).__name__}: {_first_line(e)}")
                future.release()
                results.append(result)
                on_result(result)
                cores = max(cores, _threads(client))  # workers may join a cluster during the sweep
                running.update(submit(QUEUED_PER_THREAD * cores - running.count()))
            interrupted = ctrl_c.is_set()
        if interrupted:
            on_interrupt(len(results))
    finally:
        untyped.cancel(list(running.futures))  # after a Ctrl-C: the seeds still queued or running
    wall_s = time.perf_counter() - started
    cores = max(cores, _threads(client))  # workers may join a cluster during the sweep
    where = "a local cluster" if client.cluster is not None else f"the scheduler at {untyped.scheduler.address}"
    return SweepResult(scenario=scenario, seeds=seeds, results=sorted(results, key=lambda r: r.seed),
                       wall_s=wall_s, cores=cores, cluster=where, dashboard=dashboard_link(client),
                       interrupted=interrupted)
