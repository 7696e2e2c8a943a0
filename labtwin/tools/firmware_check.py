"""The firmware check: does the board firmware compile, and does it fit each board's heap?

Two steps (docs/firmware-check.md):

1. **Compile.** Every firmware module (``firmware/**/*.py`` except the OT-2's
   ``ot2_app/``, which is CPython) is compiled with mpy-cross, MicroPython's own
   compiler. A file that does not compile fails the check, by name and line.
2. **Fit.** For each board profile and each form of the firmware -- *source* (the ``.py``
   files, compiled by the board at import, as the twin flashes them today) and *mpy*
   (every module but ``main.py`` precompiled to ``.mpy``) -- the firmware is booted in the
   MicroPython unix VM against a broker and driven through the stock tasks over MQTT (the
   sensor experiment: LED on, three ADC reads, LED off, servo, device status). Searching
   over ``-X heapsize`` finds the heap from which on every size boots and serves all of
   that: the firmware's **peak** heap demand (live data, garbage and fragmentation at the
   worst moment, to :data:`RESOLUTION_BYTES`). Near the peak, success is not monotonic in
   the heap size -- fragmentation makes some sizes fail above sizes that work -- so the
   peak is taken just above the largest failing size found, not at the smallest size that
   happened to work. The **margin** is the profile's heap minus the peak. The check fails when
   the margin of the judged form
   (``--form``, default mpy) is below ``--min-margin`` (default
   :data:`DEFAULT_MIN_MARGIN_PERCENT` % of the heap) on any board.

The VM is 64-bit while the boards are 32-bit, so objects take more room in the twin than
on the board: the measured peaks are pessimistic bounds.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from labtwin.errors import BrokerUnavailable, ConfigError, LabtwinError
from labtwin.mpy_form import CompileFailure, compile_firmware
from labtwin.twin.board.profiles import BOARD_PROFILES, BoardProfile

if TYPE_CHECKING:
    from labtwin.twin.board.model import BoardModel

__all__ = [
    "DEFAULT_MIN_MARGIN_PERCENT", "FORMS", "RESOLUTION_BYTES", "WORKLOADS", "CheckReport", "CompileFailure",
    "FitResult", "StockWorkload", "compile_firmware", "run_firmware_check",
]

DEFAULT_MIN_MARGIN_PERCENT = 12.0
"""Default ``--min-margin``: heap a board must keep free at the firmware's peak, in % of its heap.

The margin absorbs what the check does not exercise (a longer command queue, bigger
payloads, reconnect storms, new tasks). The peak it is taken from is already conservative
twice over: it is the top of the band in which fragmentation makes some heap sizes fail,
and it is measured in a 64-bit VM, whose objects are larger than on the 32-bit boards. So
12% of the heap on top of it: the ESP32's margin is about 15% and the peak moves by ~1 KB
between runs, so 15% would fail at random; docs/firmware-check.md has the figures.
"""

RESOLUTION_BYTES = 1024
"""The peak search stops when the passing and failing heap sizes are this close."""

FORMS = ("mpy", "source")
"""Firmware forms the check measures: precompiled ``.mpy`` modules, or ``.py`` sources."""

_PROBES_PER_ROUND = 3  # heap sizes tried at once per search round: the range shrinks 4x a round
_BAND_PROBES = 8  # sizes (RESOLUTION_BYTES apart) checked above the bracket for fragmentation failures
_MAX_CONCURRENT_BOOTS = 8  # simulated boards alive at once (most of a probe is the servo's 500 ms settle)
_UPWARD_FACTOR = 2  # a form that does not fit its board's heap is searched up to this multiple of it
_MIN_HEAP = 16_384  # TwinLab's floor
_T = TypeVar("_T")

# Run as main.py on a board of its own: what importing the twin's own modules leaves allocated.
_TWIN_HEAP_PROBE = """\
import gc
gc.collect()
before = gc.mem_alloc()
import machine, network, time
gc.collect()
print("twin heap", gc.mem_alloc() - before)
while True:
    time.sleep_ms(100)
"""


@dataclass(frozen=True)
class StockWorkload:
    """The stock tasks a board is driven through, on pins that board has."""

    sensor_pins: tuple[int, ...]
    sensor_volts: tuple[float, ...]
    servo_pin: int

    def led_pin(self, profile: BoardProfile) -> int | str:
        if profile.led_pin is None:
            raise ConfigError(f"board profile {profile.name!r} has no led_pin; the stock workload switches an LED")
        return profile.led_pin

    def wire(self, model: BoardModel) -> None:
        """Sensors on the ADC pins, a servo on the servo pin."""
        channels = model.profile.adc_gpio_channels
        for pin, volts in zip(self.sensor_pins, self.sensor_volts, strict=True):
            model.adc.set_voltage(channels[pin], volts)
        model.attach_servo(self.servo_pin)


WORKLOADS: dict[str, StockWorkload] = {
    # The default bench of the twin lab (labtwin.scenarios.labs.twin_lab.wire_default_bench): GP26-28, servo on GP15.
    "pico_w": StockWorkload(sensor_pins=(26, 27, 28), sensor_volts=(1.10, 2.05, 0.65), servo_pin=15),
    # ADC1 pins on the DevKitC header (ADC2 is unusable while WiFi is on); volts inside the
    # ~1.1 V full scale of the default 0 dB attenuation; servo on GPIO18.
    "esp32": StockWorkload(sensor_pins=(36, 39, 34), sensor_volts=(0.40, 0.75, 0.20), servo_pin=18),
}
"""Stock workload per board profile name (the LED pin comes from the profile)."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class _Probe:
    heap: int
    ok: bool
    in_use: int | None = None
    memory_error: bool = False
    detail: str = ""
    hazards: frozenset[str] = frozenset()


@dataclass
class FitResult:
    """How one form of the firmware fits one board.

    Attributes:
        board: profile name.
        form: ``"mpy"`` or ``"source"``.
        heap: the profile's heap, bytes.
        peak: heap (bytes) from which on the firmware boots and serves the workload: just
            above the largest size found to fail, within :data:`RESOLUTION_BYTES`; None when
            not measured.
        peak_at_least: set instead of ``peak`` when the search was skipped because even the
            data live after the workload leaves less than the required margin.
        needs_more_than: when ``peak`` is None because nothing up to this heap worked.
        in_use: ``gc.mem_alloc()`` after the workload at the profile's heap (None if it did not run).
        error: the workload failed at the full heap for a reason other than memory.
        boots: VM boots the search took.
        hazards: hazard messages the board model recorded (pins the firmware must not drive).
        twin_heap: heap the twin's own MicroPython modules hold on this board (the ``machine``,
            ``time`` and ``network`` shims, which a real port keeps in flash as C): deducted from
            the peak and the in-use figure before the margin is judged.
    """

    board: str
    form: str
    heap: int
    peak: int | None = None
    peak_at_least: int | None = None
    needs_more_than: int | None = None
    in_use: int | None = None
    error: str | None = None
    boots: int = 0
    hazards: set[str] = field(default_factory=set)
    twin_heap: int = 0

    @property
    def firmware_peak(self) -> int | None:
        """The firmware's own peak: :attr:`peak` (or ``peak_at_least``) less the twin's modules' heap."""
        peak = self.peak if self.peak is not None else self.peak_at_least
        return None if peak is None else peak - self.twin_heap

    @property
    def margin(self) -> int | None:
        """Heap left at the firmware's peak, bytes (negative: it does not fit); at most this with ``peak_at_least``."""
        peak = self.firmware_peak
        return None if peak is None else self.heap - peak

    @property
    def margin_percent(self) -> float | None:
        """:attr:`margin` in % of the heap."""
        return None if self.margin is None else 100.0 * self.margin / self.heap

    def shortfall(self, min_margin_percent: float) -> str | None:
        """Why this result fails ``min_margin_percent``, or None if it passes."""
        if self.error is not None:
            return f"the stock workload failed: {self.error}"
        if self.hazards:
            return f"the firmware drove a pin it must not: {min(self.hazards)}"
        if self.peak_at_least is not None:
            assert self.margin is not None and self.margin_percent is not None
            return (f"margin at most {self.margin:,} B ({self.margin_percent:.1f}% of {self.heap:,} B; "
                    f"{self.peak_at_least - self.twin_heap:,} B of firmware stay in use after the stock tasks), below "
                    "the required "
                    f"{min_margin_percent:g}%")
        if self.peak is None:
            return (f"does not boot and serve in its {self.heap:,} B heap "
                    f"(still failing at {self.needs_more_than or self.heap:,} B)")
        assert self.margin_percent is not None and self.margin is not None and self.firmware_peak is not None
        if self.firmware_peak > self.heap:
            return f"does not fit its {self.heap:,} B heap: needs ~{self.firmware_peak:,} B"
        if self.margin_percent < min_margin_percent:
            return (f"margin {self.margin:,} B ({self.margin_percent:.1f}% of {self.heap:,} B) is below "
                    f"the required {min_margin_percent:g}%")
        return None


@dataclass
class CheckReport:
    """Everything `labtwin check firmware` found."""

    firmware_dir: Path
    boards: list[str]
    form: str
    min_margin_percent: float
    compiled: int = 0
    compile_failures: list[CompileFailure] | None = None
    fits: list[FitResult] | None = None

    @property
    def failures(self) -> list[str]:
        """One line per reason the check fails (empty: it passes)."""
        if self.compile_failures:
            return [f"{f.file} does not compile with mpy-cross: {f.message}" for f in self.compile_failures]
        lines = []
        for fit in self.fits or []:
            if fit.form == self.form:
                why = fit.shortfall(self.min_margin_percent)
                if why is not None:
                    lines.append(f"{fit.board} ({fit.form}): {why}")
        return lines

    @property
    def passed(self) -> bool:
        return not self.failures


class _Prober:
    """Boots a firmware form on a board with a given heap and runs the stock workload once."""

    def __init__(self, work_dir: Path, *, timeout: float, boot_timeout: float,
                 verbose: Callable[[str], None] | None) -> None:
        self.work_dir = work_dir
        self.timeout = timeout
        self.boot_timeout = boot_timeout
        self.verbose = verbose
        self._ids = itertools.count(1)
        self._slots = asyncio.Semaphore(_MAX_CONCURRENT_BOOTS)
        self._twin_heaps: dict[str, asyncio.Task[int]] = {}

    async def twin_heap(self, profile: BoardProfile) -> int:
        """Heap the twin's ``machine``, ``time`` and ``network`` modules hold once imported on ``profile``
        (measured once per profile, on a board running nothing else)."""
        if profile.name not in self._twin_heaps:
            self._twin_heaps[profile.name] = asyncio.create_task(self._measure_twin_heap(profile))
        return await self._twin_heaps[profile.name]

    async def _measure_twin_heap(self, profile: BoardProfile) -> int:
        from labtwin.twin.board.process import SimulatedBoard

        firmware = self.work_dir / f"twin-heap-{profile.name}"
        firmware.mkdir(parents=True, exist_ok=True)
        (firmware / "main.py").write_text(_TWIN_HEAP_PROBE, encoding="utf-8")
        board = SimulatedBoard(device_id=f"twin-heap-{profile.name.replace('_', '-')}", profile=profile,
                               firmware_dir=firmware, device_config={}, work_dir=firmware / "board", seed=0)
        async with self._slots, board:
            line = await board.wait_for_output(r"^twin heap \d+$", timeout=self.boot_timeout)
        return int(line.split()[-1])

    async def probe(self, profile: BoardProfile, form: str, firmware_dir: Path, heap: int) -> _Probe:
        async with self._slots:
            result = await self._probe(profile, firmware_dir, heap)
        if self.verbose is not None:
            verdict = "ok" if result.ok else f"FAIL ({result.detail})"
            used = f", {result.in_use:,} B in use after" if result.in_use is not None else ""
            self.verbose(f"    {profile.name} {form} at {heap:,} B: {verdict}{used}")
        return result

    async def _probe(self, profile: BoardProfile, firmware_dir: Path, heap: int) -> _Probe:
        from labtwin.scenarios.experiments.sensor import run_sensor_experiment
        from labtwin.scenarios.labs.twin_lab import TwinLab

        workload = WORKLOADS[profile.name]
        device_id = f"fwcheck-{profile.name.replace('_', '-')}-{next(self._ids)}"
        out_of_memory = asyncio.Event()
        tail: deque[str] = deque(maxlen=3)
        hazards: set[str] = set()

        def on_output(_device: str, line: str) -> None:
            tail.append(line)
            if "MemoryError" in line:
                out_of_memory.set()

        # Each probe is a whole lab with its own embedded broker, so a probe that ran out of memory
        # leaves nothing (a retained status, a half-open session) behind for the next one.
        lab = TwinLab(devices=[device_id], board=profile.name, firmware_dir=firmware_dir,
                      work_dir=self.work_dir / device_id, timeout=self.timeout, boot_timeout=self.boot_timeout,
                      on_output=on_output, on_hazard=lambda _device, hazard: hazards.add(hazard.message),
                      wiring=workload.wire, heap_bytes=heap)

        async def run() -> dict[str, Any]:
            async with lab:
                report = await run_sensor_experiment(
                    lab.client(device_id), sensor_pins=workload.sensor_pins, led_pin=workload.led_pin(profile),
                    servo_pin=workload.servo_pin, report=lambda line: None)
                return report.device_status

        # A MemoryError on the console ends the probe at once: a board that printed one has
        # already failed (a dead worker or a failed connect would otherwise wait for a timeout).
        running = asyncio.create_task(run(), name=f"firmware check {device_id}")
        oom = asyncio.create_task(out_of_memory.wait(), name=f"firmware check {device_id} oom")
        try:
            await asyncio.wait({running, oom}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (running, oom):
                task.cancel()
            await asyncio.gather(running, oom, return_exceptions=True)
        if out_of_memory.is_set():
            line = next((ln for ln in reversed(tail) if "MemoryError" in ln), "MemoryError")
            return _Probe(heap, False, memory_error=True, detail=line.strip(), hazards=frozenset(hazards))
        if running.cancelled():
            return _Probe(heap, False, detail="cancelled")
        error = running.exception()
        if isinstance(error, BrokerUnavailable):
            raise error
        if isinstance(error, LabtwinError):
            return _Probe(heap, False, detail=str(error), hazards=frozenset(hazards))
        if error is not None:
            raise error
        status = running.result()
        return _Probe(heap, True, in_use=int(status["allocated_memory"]), hazards=frozenset(hazards))


async def _fit(prober: _Prober, profile: BoardProfile, form: str, firmware_dir: Path, min_margin_percent: float,
               progress: Callable[[str], None]) -> FitResult:
    heap = profile.heap_bytes
    result = FitResult(board=profile.name, form=form, heap=heap)
    label = f"{profile.name} {form}"
    seen: dict[int, bool] = {}

    async def probe(sizes: Iterable[int]) -> None:
        todo = sorted(set(sizes) - set(seen))
        result.boots += len(todo)
        for outcome in await _all(prober.probe(profile, form, firmware_dir, size) for size in todo):
            seen[outcome.heap] = outcome.ok
            result.hazards.update(outcome.hazards)

    result.twin_heap = await prober.twin_heap(profile)
    full = await prober.probe(profile, form, firmware_dir, heap)
    result.boots += 1
    result.hazards.update(full.hazards)
    if full.ok:
        assert full.in_use is not None
        result.in_use = full.in_use
        # The peak is at least what stays live after the workload: if even that leaves too
        # little, the verdict is known without a search.
        best = 100.0 * (heap - (full.in_use - result.twin_heap)) / heap
        if best < min_margin_percent:
            result.peak_at_least = full.in_use
            progress(f"  {label}: serves the stock tasks in {heap:,} B, but {full.in_use - result.twin_heap:,} B of "
                     "firmware stay in use after "
                     f"them: margin at most {best:.1f}%, below {min_margin_percent:g}%; no search needed")
            return result
        progress(f"  {label}: serves the stock tasks in {heap:,} B ({full.in_use:,} B in use after); "
                 "searching for the peak")
        floor, ceiling = max(_MIN_HEAP, full.in_use), heap  # the heap must at least hold what stays live
    elif full.memory_error:
        ceiling = heap * _UPWARD_FACTOR
        progress(f"  {label}: does NOT fit {heap:,} B ({full.detail}); searching up to {ceiling:,} B")
        await probe([ceiling])
        if not seen[ceiling]:
            result.needs_more_than = ceiling
            progress(f"  {label}: still failing at {ceiling:,} B")
            return result
        floor = heap
    else:
        result.error = full.detail
        progress(f"  {label}: the stock workload FAILED in the full {heap:,} B heap: {full.detail}")
        return result
    seen[floor], seen[ceiling] = False, True
    # Whether a heap works is not monotonic near the peak: fragmentation makes some sizes
    # fail above sizes that work. The peak reported is the conservative one -- just above
    # the largest failing size found -- so every size between it and the heap is expected
    # to work: narrow the bracket, then scan a band above it for failures, and repeat.
    while True:
        lo = max(size for size, ok in seen.items() if not ok)
        hi = min(size for size, ok in seen.items() if ok and size > lo)
        if hi - lo > RESOLUTION_BYTES:
            step = (hi - lo) / (_PROBES_PER_ROUND + 1)
            await probe(lo + round(step * i) for i in range(1, _PROBES_PER_ROUND + 1))
            continue
        band = [size for size in range(hi + RESOLUTION_BYTES, hi + _BAND_PROBES * RESOLUTION_BYTES + 1,
                                       RESOLUTION_BYTES) if size < ceiling]
        if all(size in seen for size in band):
            break
        await probe(band)
        if all(seen[size] for size in band):
            break
    result.peak = hi
    progress(f"  {label}: peak ~{hi:,} B ({result.boots} boots), {result.twin_heap:,} B of it the twin's modules; "
             f"margin {result.margin:,} B ({result.margin_percent:.1f}%)")
    return result


async def run_firmware_check(
    firmware_dir: Path,
    *,
    boards: Sequence[str] | None = None,
    forms: Sequence[str] = FORMS,
    form: str = "mpy",
    min_margin_percent: float = DEFAULT_MIN_MARGIN_PERCENT,
    work_dir: Path | None = None,
    progress: Callable[[str], None] = print,
    verbose: Callable[[str], None] | None = None,
    timeout: float = 10.0,
    boot_timeout: float = 15.0,
) -> CheckReport:
    """Compile the firmware, then measure how each form fits each board (see the module docstring).

    Raises:
        ConfigError: unknown board or form, no firmware, mpy-cross unusable.
    """
    firmware_dir = Path(firmware_dir)
    names = list(boards) if boards else list(BOARD_PROFILES)
    for name in names:
        if name not in BOARD_PROFILES:
            raise ConfigError(f"unknown board {name!r}; known boards: {', '.join(BOARD_PROFILES)}")
        if name not in WORKLOADS:
            raise ConfigError(f"board {name!r} has no stock workload in labtwin.tools.firmware_check.WORKLOADS")
    if form not in FORMS or any(f not in FORMS for f in forms):
        raise ConfigError(f"firmware forms are {' and '.join(FORMS)}")
    forms = [f for f in FORMS if f in forms or f == form]
    if not 0 <= min_margin_percent < 100:
        raise ConfigError(f"--min-margin must be at least 0% and below 100%, got {min_margin_percent:g}%")
    if not (firmware_dir / "main.py").is_file():
        raise ConfigError(f"no board firmware at {firmware_dir} (main.py missing)")
    report = CheckReport(firmware_dir, names, form, min_margin_percent)

    with tempfile.TemporaryDirectory(prefix="labtwin-check-") as tmp:
        mpy_dir = Path(tmp) / "mpy"
        started = time.perf_counter()
        report.compiled, report.compile_failures = await compile_firmware(firmware_dir, mpy_dir)
        if report.compile_failures:
            for failure in report.compile_failures:
                progress(f"  FAIL {failure}")
            return report
        size = sum(p.stat().st_size for p in mpy_dir.rglob("*.mpy"))
        progress(f"compiled {report.compiled} files with mpy-cross in {time.perf_counter() - started:.2f} s "
                 f"({size:,} B of .mpy)")
        await _fit_all(report, {"source": firmware_dir, "mpy": mpy_dir}, forms,
                       work_dir or Path(tmp) / "boards", progress, verbose, timeout, boot_timeout)
    return report


async def _fit_all(report: CheckReport, dirs: dict[str, Path], forms: Sequence[str], work_dir: Path,
                   progress: Callable[[str], None], verbose: Callable[[str], None] | None,
                   timeout: float, boot_timeout: float) -> None:
    started = time.perf_counter()
    progress(f"booting the firmware on {', '.join(report.boards)} with the stock tasks over MQTT "
             f"(forms: {', '.join(forms)}; a peak search takes a few seconds)")
    prober = _Prober(work_dir, timeout=timeout, boot_timeout=boot_timeout, verbose=verbose)
    jobs = [(BOARD_PROFILES[name], f) for name in report.boards for f in forms]
    report.fits = await _all(_fit(prober, profile, f, dirs[f], report.min_margin_percent, progress)
                             for profile, f in jobs)
    progress(f"measured {len(jobs)} board/form pairs in {time.perf_counter() - started:.1f} s")


async def _all(coros: Iterable[Coroutine[Any, Any, _T]]) -> list[_T]:
    """Run coroutines concurrently; the first error cancels the rest and is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coro) for coro in coros]
    except BaseExceptionGroup as group_error:
        raise _first_leaf(group_error) from None
    return [task.result() for task in tasks]


def _first_leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
