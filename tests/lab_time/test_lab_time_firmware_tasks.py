"""The default firmware's timed behaviours give the same lab-time outcomes at speeds 1, 10, 100 and max.

- Servo settle: ``move_servo`` sets the PWM duty, waits ``SERVO_SETTLE_MS`` (500 ms) and only then
  reports done; the result reaches the orchestrator at least 0.5 lab seconds after the board model
  saw the duty change (its servo trace), and the servo model's shaft is at the target by then.
- Dedup: the firmware remembers the results of the last ``dedup_size`` request ids (a window counted in
  commands, not in seconds: firmware/device_service.py). A duplicate arriving while its command is
  pending (inside the 0.5 s settle) is dropped; one arriving after it finished gets the stored result
  without a second move; once ``dedup_size`` newer commands pushed it out, it runs again (a second
  move, 0.5 lab seconds of settle again).
- Watchdog: a ``machine.WDT`` fed every fifth of its timeout for three timeouts does not bite; once the
  firmware stops feeding it (still running, sleeping), it bites ``timeout`` lab seconds after the last
  feed, and the board reboots with ``reset_cause() == WDT_RESET``. (The default firmware starts no
  watchdog; this is the board twin's watchdog under a one-file firmware.)

Lower bounds are exact (lab time is one clock for host and VMs). Upper bounds allow the real time the
lab's own work takes (a VM's CPU time, a socket round trip), which is N lab seconds per real second at
speed N (:func:`real_slack`).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from lab_time_testkit import SPEEDS, host_clock, one_file_board, real_slack, run_lab, vm_seconds
from testkit import lab_mqtt_client

from labtwin.orchestrator.protocol import Command, Result, Topics
from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.scenarios.labs.twin_lab_options import BENCH_SERVO_PIN, BoardSetup
from labtwin.twin.board.model import WDT_RESET
from labtwin.twin.lab_time import Speed

DEV = "pico-lab-time"
SETTLE_S = 0.5  # firmware/stock_tasks.py SERVO_SETTLE_MS
SERVO_SIGNAL = f"servo.GPIO{BENCH_SERVO_PIN}.target"


def _moves(lab: TwinLab) -> list[tuple[float, float]]:
    """(lab time, target angle) of every servo move the board model saw."""
    return lab.board(DEV).model.trace.samples(SERVO_SIGNAL)


# ------------------------------------------------------------------ servo settle


@pytest.mark.parametrize("speed", SPEEDS)
def test_move_servo_reports_done_after_its_settle_time_in_lab_seconds(speed: str) -> None:
    async def main(lab_speed: Speed) -> None:
        async with TwinLab(devices=[DEV], speed=lab_speed) as lab:
            clock, servo = lab.clock, lab.board(DEV).model.servos[BENCH_SERVO_PIN]
            for angle in (120, 30):
                sent = clock.now()
                reply = await lab.client(DEV).execute_task("move_servo", pin=BENCH_SERVO_PIN, angle=angle)
                done = clock.now()
                assert reply == f"Servo on pin {BENCH_SERVO_PIN} moved to {angle} degrees"
                moved_at, target = _moves(lab)[-1]
                assert target == pytest.approx(angle, abs=0.5)
                assert sent <= moved_at <= done
                # Done no sooner than the settle after the duty changed; not much later either.
                assert SETTLE_S <= done - moved_at <= SETTLE_S + 0.05 + real_slack(lab_speed, 0.1), (
                    speed, done - moved_at)
                assert servo.angle_at(done) == pytest.approx(angle, abs=0.5)  # the horn got there meanwhile

    run_lab(speed, main)


# ------------------------------------------------------------------ dedup


@pytest.mark.parametrize("speed", SPEEDS)
def test_a_duplicate_command_runs_once_inside_the_dedup_window_and_again_outside_it(speed: str) -> None:
    async def main(lab_speed: Speed) -> None:
        boards = {DEV: BoardSetup(settings={"dedup_size": 2})}
        async with TwinLab(devices=[DEV], speed=lab_speed, boards=boards) as lab:
            clock, board = lab.clock, lab.board(DEV)
            topics = Topics(DEV, lab.topic_prefix)
            results: asyncio.Queue[tuple[float, Result]] = asyncio.Queue()
            async with lab_mqtt_client(lab, "lab-time-dedup") as mqtt:
                await mqtt.subscribe(topics.result, qos=1)

                async def read() -> None:
                    async for message in mqtt.messages:
                        if message.topic.matches(topics.result):  # amqtt also hands out the retained status
                            assert isinstance(message.payload, bytes)
                            results.put_nowait((clock.now(), Result.decode(message.payload)))

                reader = asyncio.create_task(read())
                try:
                    def command(request_id: str, angle: int) -> Command:
                        return Command("move_servo", {"pin": BENCH_SERVO_PIN, "angle": angle}, request_id=request_id)

                    async def send(cmd: Command) -> float:
                        at = clock.now()
                        await mqtt.publish(topics.command, cmd.encode(), qos=1)
                        return at

                    async def next_result() -> tuple[float, Result]:
                        return await asyncio.wait_for(results.get(), 30)

                    a, b, c = command("req-a", 30), command("req-b", 60), command("req-c", 90)
                    # A, and A again while it is still settling: one run, one result.
                    await send(a)
                    dup_sent = await send(a)
                    t_a, result_a = await next_result()
                    assert result_a.request_id == "req-a" and result_a.ok
                    moved_a = [t for t, angle in _moves(lab) if angle == pytest.approx(30, abs=0.5)]
                    # one move, and the duplicate came inside its settle
                    assert len(moved_a) == 1 and dup_sent < moved_a[0] + SETTLE_S
                    assert t_a - moved_a[0] >= SETTLE_S
                    # B: the next result is B's, so the pending duplicate of A was not queued to run again.
                    await send(b)
                    _, result_b = await next_result()
                    assert result_b.request_id == "req-b"
                    # A after it finished, still among the last two: its stored result, no second move.
                    moves_before = len(_moves(lab))
                    await send(a)
                    _, again = await next_result()
                    assert again.request_id == "req-a" and again.result == result_a.result
                    # C pushes A out of the two-command window; then A runs again: a move back to 30 degrees,
                    # and its result no sooner than the settle after it.
                    await send(c)
                    _, result_c = await next_result()
                    assert result_c.request_id == "req-c"
                    assert len(_moves(lab)) == moves_before + 1  # C's move only: the resent A did not move
                    await send(a)
                    t_rerun, rerun = await next_result()
                    assert rerun.request_id == "req-a" and rerun.ok
                    rerun_move, angle = _moves(lab)[-1]
                    assert angle == pytest.approx(30, abs=0.5) and len(_moves(lab)) == moves_before + 2
                    assert SETTLE_S <= t_rerun - rerun_move <= SETTLE_S + 0.1 + real_slack(lab_speed, 0.2)
                finally:
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
            log = "\n".join(board.log_lines)
            assert len(re.findall(r"duplicate req-a while it is pending: dropped", log)) == 1, log
            assert len(re.findall(r"duplicate req-a: re-sending stored result", log)) == 1, log

    run_lab(speed, main)


# ------------------------------------------------------------------ watchdog

WDT_TIMEOUT_MS = 300


def wdt_timeout_ms(speed: Speed) -> int:
    """300 lab ms, or 30 real ms at a scaled speed: the VM's feeds (every fifth of it) are real work, which
    a busy CI core delays by milliseconds, N times that in lab time."""
    return WDT_TIMEOUT_MS if speed.jumps else max(WDT_TIMEOUT_MS, int(30 * speed.factor))
WATCHDOG_MAIN = """\
import machine
import time

T = {timeout}
cause = machine.reset_cause()
print("boot", cause, time.ticks_us())
if cause == machine.WDT_RESET:
    while True:
        time.sleep(1)
wdt = machine.WDT(timeout=T)
t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < 3 * T:  # three timeouts, fed every fifth of one
    wdt.feed()
    time.sleep_ms(T // 5)
before = time.ticks_us()
wdt.feed()
after = time.ticks_us()
print("last_feed", before, after)
while True:  # alive and waiting, never feeding again
    time.sleep_ms(T // 5)
"""


# At max a rebooting board holds the clock from its old VM's exit to its new VM's first report.
@pytest.mark.parametrize("speed", SPEEDS)
def test_a_watchdog_not_fed_bites_its_timeout_after_the_last_feed_in_lab_seconds(speed: str, tmp_path: Path) -> None:
    async def main(lab_speed: Speed) -> None:
        clock = host_clock()
        board = one_file_board(tmp_path, WATCHDOG_MAIN.format(timeout=wdt_timeout_ms(lab_speed)), clock)
        bites: list[tuple[str, float]] = []
        on_reset = board.model.on_reset
        assert on_reset is not None

        def spy(kind: str) -> None:  # when the host's watchdog bit, on the lab clock
            bites.append((kind, clock.now()))
            on_reset(kind)

        board.model.on_reset = spy
        async with board:
            last_feed = await board.wait_for_output("^last_feed ", timeout=60 + real_slack(lab_speed, 5.0))
            # A host deadline stays pending while the board reboots (60 lab s): at max the clock must not jump to it.
            reboot = await board.wait_for_output(f"^boot {WDT_RESET} ", timeout=60 + real_slack(lab_speed, 5.0))
            assert [kind for kind, _ in bites] == ["watchdog"]  # one bite, none while it was fed
            assert board.model.timekeeping.expirations == 1 and board.reboots == 1
            assert board.model.reset_cause == WDT_RESET
            before, after = (vm_seconds(clock, int(x)) for x in last_feed.split()[1:])
            bite = bites[0][1]
            timeout = wdt_timeout_ms(lab_speed) / 1000
            # The host fed it between the VM's two reads; it bit the timeout after that, in lab seconds.
            assert before + timeout <= bite <= after + timeout + 0.005 + real_slack(lab_speed, 0.01), (
                speed, bite - before)
            # The rebooted VM came after the bite, within the real time a VM takes to start (N times that at speed N).
            rebooted = vm_seconds(clock, int(reboot.split()[2]))
            assert bite <= rebooted <= bite + real_slack(lab_speed, 1.0), (speed, rebooted - bite)

    run_lab(speed, main)


RESET_MAIN = """\
import machine
import time

print("boot", machine.reset_cause(), time.ticks_us())
if machine.reset_cause() == machine.PWRON_RESET:
    time.sleep_ms(100)
    print("resetting", time.ticks_us())
    machine.reset()
while True:
    time.sleep(1)
"""


@pytest.mark.parametrize("speed", [*SPEEDS[1:]])
def test_a_reboot_takes_the_real_time_of_a_vm_start_in_lab_time(speed: str, tmp_path: Path) -> None:
    """machine.reset(): the new VM boots within the real time a VM start takes, N times that at speed N."""

    async def main(lab_speed: Speed) -> None:
        clock = host_clock()
        async with one_file_board(tmp_path, RESET_MAIN, clock) as board:
            resetting = await board.wait_for_output("^resetting ", timeout=60)
            try:
                again = await board.wait_for_output("^boot [^1]", timeout=600)  # a host deadline 600 lab s away
            except TimeoutError:
                pytest.fail(f"no reboot within 600 lab s: the clock jumped over it ({list(board.log_lines)})")
            took = vm_seconds(clock, int(again.split()[2])) - vm_seconds(clock, int(resetting.split()[1]))
            assert 0 < took <= real_slack(lab_speed, 1.0), (speed, took)

    run_lab(speed, main)
