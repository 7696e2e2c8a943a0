"""How steady a machine.Timer callback runs in the twin: the periods a 100 Hz Timer keeps in the VM.

A board's soft Timer runs its callback from the scheduler; the twin's runs it at the shims' safe
points (docs/hardware-bus.md, "Soft IRQs"). One simulated Pico W's VM records, with
``time.ticks_us()``, every callback of a periodic Timer while the firmware

  * sleeps (``time.sleep``), and
  * awaits asyncio (``asyncio.sleep``),

and, as the baseline measured in the same run, every pass of a plain ``time.sleep_ms(period)``
loop (the VM's own sleep, no Timer). For each it prints the mean period, its ratio to the nominal
one, the median and 99th-percentile deviation of single periods, and the share of periods within
±5 % of nominal. On an idle machine the Timer's periods stay within 5 % of nominal.

    python benchmarks/timer_period.py [--hz 100] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labtwin.twin.board.bus import HardwareBus
from labtwin.twin.board.model import BoardModel
from labtwin.twin.board.profiles import PICO_W
from labtwin.twin.board.vm_launch import BOARD_PROFILE_ENV, SHIM_DIR, vm_command

# The VM side: N callbacks (or loop passes) stamped into a preallocated list, then the gaps printed.
VM_SCRIPT = """\
import asyncio
import sys
import time
from machine import Timer

mode, hz, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
stamps = [0] * n
count = [0]


def stamp(t=None):
    k = count[0]
    if k < n:
        stamps[k] = time.ticks_us()
        count[0] = k + 1


if mode == "baseline":
    while count[0] < n:
        time.sleep_ms(1000 // hz)
        stamp()
else:
    timer = Timer(freq=hz, callback=stamp)
    if mode == "sleep":
        while count[0] < n:
            time.sleep(0.1)
    else:
        async def main():
            while count[0] < n:
                await asyncio.sleep(0.1)

        asyncio.run(main())
    timer.deinit()
print("gaps", " ".join(str(time.ticks_diff(stamps[i + 1], stamps[i])) for i in range(n - 1)))
"""

MODES = ("sleep", "asyncio", "baseline")


@dataclass(frozen=True)
class PeriodStats:
    """Single periods of one mode, in microseconds, against the nominal period."""

    mode: str
    nominal_us: float
    gaps_us: list[int]

    @property
    def mean_us(self) -> float:
        return statistics.fmean(self.gaps_us)

    def deviation_quantile(self, q: float) -> float:
        """The ``q`` quantile of |period - nominal| / nominal, in %."""
        deviations = sorted(abs(g - self.nominal_us) / self.nominal_us * 100 for g in self.gaps_us)
        return deviations[min(len(deviations) - 1, int(q * len(deviations)))]

    @property
    def within_5_percent(self) -> float:
        """Share of single periods within ±5 % of nominal, in %."""
        inside = sum(1 for g in self.gaps_us if abs(g - self.nominal_us) <= 0.05 * self.nominal_us)
        return 100.0 * inside / len(self.gaps_us)


async def measure(mode: str, hz: int, samples: int, work: Path) -> PeriodStats:
    """Run the VM script in ``mode`` against a fresh Pico W model; the periods it recorded."""
    script = work / "timer_period_vm.py"
    script.write_text(VM_SCRIPT)
    model = BoardModel(PICO_W, seed=1)
    model.power_on()
    async with HardwareBus(model) as bus:
        env = dict(os.environ, MICROPYPATH=f"{SHIM_DIR}:.frozen", **bus.env)
        env[BOARD_PROFILE_ENV] = PICO_W.name
        proc = await asyncio.create_subprocess_exec(
            *vm_command(str(script), PICO_W.heap_bytes), mode, str(hz), str(samples), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
    text = out.decode()
    if proc.returncode != 0 or "gaps " not in text:
        sys.exit(f"timer_period: the VM failed in mode {mode} (exit code {proc.returncode}):\n{text}")
    gaps = [int(x) for x in text.split("gaps ", 1)[1].split()]
    return PeriodStats(mode, 1e6 / hz, gaps)


async def run(args: argparse.Namespace) -> list[PeriodStats]:
    samples = max(3, round(args.seconds * args.hz))
    with tempfile.TemporaryDirectory(prefix="labtwin-timer-") as work:
        return [await measure(mode, args.hz, samples, Path(work)) for mode in MODES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hz", type=int, default=100, help="the Timer's frequency")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each mode runs")
    args = parser.parse_args()
    stats = asyncio.run(run(args))
    print(f"{args.hz} Hz, {len(stats[0].gaps_us)} periods per mode (nominal {1e6 / args.hz:.0f} us)")
    print()
    print("| mode | periods | mean period | mean / nominal | median deviation | p99 deviation | within 5 % |")
    print("|---|---|---|---|---|---|---|")
    for s in stats:
        print(f"| {s.mode} | {len(s.gaps_us)} | {s.mean_us / 1000:.3f} ms | {s.mean_us / s.nominal_us:.4f} | "
              f"{s.deviation_quantile(0.5):.2f} % | {s.deviation_quantile(0.99):.2f} % | "
              f"{s.within_5_percent:.1f} % |")


if __name__ == "__main__":
    main()
