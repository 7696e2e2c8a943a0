"""Lab time on the host alone (no VM): Speed, LabClock, LabEventLoop and the helpers around them.

Timing here is measured against ``time.monotonic`` over real waits of a fifth of a second or so, and
judged by a ratio with a tolerance; what must happen in order (an executor job before a jump) is judged
by the order of events, never by a sleep.
"""

from __future__ import annotations

import asyncio
import math
import os
import selectors
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from labtwin.errors import ConfigError
from labtwin.twin.clock import WallClock
from labtwin.twin.lab_time import LabClock, LabEventLoop, Speed, lab_clock_of, released, run_on_lab_time, speed_factor
from labtwin.twin.lab_time.max_tuning import (
    HAND_OVER_SPIN_S,
    SLACK_VARIABLE,
    SPIN_VARIABLE,
    WAKE_SLACK,
    hand_over_spin,
    wake_slack,
)
from labtwin.twin.lab_time.speed import MAX, REAL
from labtwin.twin.lab_time.vm_clocks import VmClocks

# ------------------------------------------------------------------ Speed


@pytest.mark.parametrize(("text", "factor"), [("1", 1.0), ("10", 10.0), ("100", 100.0), ("1000", 1000.0),
                                              (" 2.5 ", 2.5), (7, 7.0), (1000.0, 1000.0)])
def test_speed_parse_accepts_1_to_1000_times_real_time(text: str | float, factor: float) -> None:
    speed = Speed.parse(text)
    assert speed.factor == factor and not speed.jumps
    assert speed.real is (factor == 1.0)


@pytest.mark.parametrize("text", ["max", "MAX", " Max "])
def test_speed_parse_max_jumps(text: str) -> None:
    speed = Speed.parse(text)
    assert speed is MAX and speed.jumps and not speed.real and str(speed) == "max"


@pytest.mark.parametrize("text", ["0", "-1", "1001", "0.5", "fast", "", "nan", "inf", -1, 0, 1001, float("nan")])
def test_speed_parse_refuses_what_is_neither_1_to_1000_nor_max(text: str | float) -> None:
    with pytest.raises(ConfigError, match="speed"):
        Speed.parse(text)


def test_speed_round_trips_through_its_text() -> None:
    for text in ("1", "10", "2.5", "1000", "max"):
        assert str(Speed.parse(text)) == text
        assert Speed.parse(str(Speed.parse(text))) == Speed.parse(text)
    assert Speed.parse(REAL) is REAL


# ------------------------------------------------------------------ LabClock


def _rate(clock: LabClock, real_seconds: float) -> float:
    """Lab seconds per real second over a real wait of ``real_seconds``."""
    lab0, real0 = clock.now(), time.monotonic()
    time.sleep(real_seconds)
    lab1, real1 = clock.now(), time.monotonic()
    return (lab1 - lab0) / (real1 - real0)


@pytest.mark.parametrize("factor", [1.0, 10.0, 250.0])
def test_lab_clock_runs_factor_times_real_time(factor: float) -> None:
    clock = LabClock(Speed(factor))
    try:
        rate = _rate(clock, 0.2)
        # The two reads of each pair are microseconds apart: 1 % is plenty, and far from a wrong factor.
        assert rate == pytest.approx(factor, rel=0.01)
        assert clock.now() >= 0.2 * factor * 0.99  # counted from the clock's creation
        assert clock.real_seconds(10.0) == pytest.approx(10.0 / factor)
    finally:
        clock.close()


def test_lab_clock_jump_to_moves_forward_never_back_and_tells_the_vms(tmp_path: Path) -> None:
    clock = LabClock(MAX)
    try:
        env = clock.vm_environment()
        offset_file = Path(env["LABTWIN_LAB_OFFSET_FILE"])
        assert int(offset_file.read_text()) == 0 and clock.jumped == 0
        start = clock.now()
        clock.jump_to(start + 3600)
        after = clock.now()
        assert 3600 <= after - start < 3600 + 0.5  # there, and running on at real rate from there
        assert clock.jumped == pytest.approx(3600, abs=0.5)
        # The VMs read the offset (microseconds) from the file: it is what the host added.
        assert int(offset_file.read_text()) == pytest.approx(clock.jumped * 1e6, abs=1)
        jumped = clock.jumped
        clock.jump_to(start + 10)  # the past: nothing
        clock.jump_to(after - 1)
        assert clock.jumped == jumped and clock.now() >= after
        assert int(offset_file.read_text()) == pytest.approx(jumped * 1e6, abs=1)
        # Its rate between jumps is real time (1 lab second per second).
        assert _rate(clock, 0.2) == pytest.approx(1.0, rel=0.01)
    finally:
        clock.close()
    assert not offset_file.exists()


def test_a_scaled_lab_clock_does_not_jump_forward_but_ignores_the_past() -> None:
    clock = LabClock(Speed(10))
    try:
        assert "LABTWIN_LAB_OFFSET_FILE" not in clock.vm_environment()
        assert clock.vm_environment()["LABTWIN_LAB_SPEED"] == "10"
        clock.jump_to(clock.now() - 1)  # backwards: a no-op at every speed
        with pytest.raises(RuntimeError, match="does not jump"):
            clock.jump_to(clock.now() + 60)
        assert clock.jumped == 0
    finally:
        clock.close()
    assert LabClock(Speed(2.5)).vm_environment()["LABTWIN_LAB_SPEED"] == "2.5"


def test_speed_factor_and_lab_clock_of() -> None:
    scaled, jumping = LabClock(Speed(10)), LabClock(MAX)
    try:
        assert speed_factor(scaled) == 10 and speed_factor(jumping) == 1 and speed_factor(WallClock()) == 1
    finally:
        scaled.close()
        jumping.close()
    plain = asyncio.new_event_loop()
    lab = LabEventLoop(Speed(10))
    try:
        assert lab_clock_of(plain) is None
        assert lab_clock_of(lab) is lab.clock and lab.clock.speed == Speed(10)
    finally:
        plain.close()
        lab.close()


# ------------------------------------------------------------------ LabEventLoop


def lab_and_real_seconds(wait: Callable[[], Awaitable[object]], speed: Speed) -> tuple[float, float]:
    """How long ``wait()`` lasts on a lab loop of ``speed``: in its lab seconds, and in real seconds."""
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        lab0, real0 = loop.time(), time.monotonic()
        await wait()
        return loop.time() - lab0, time.monotonic() - real0

    return run_on_lab_time(main(), speed)


def test_a_lab_loop_at_speed_10_sleeps_ten_times_faster() -> None:
    lab, real = lab_and_real_seconds(lambda: asyncio.sleep(2.0), Speed(10))
    assert 2.0 <= lab < 2.0 + 0.5  # never short; a late wake-up of a few real ms is tens of lab ms
    assert lab / real == pytest.approx(10, rel=0.01)  # the loop's time is the clock's
    assert 0.2 <= real < 0.25 + 0.25  # ...and the wait is a tenth as long in real time


def test_asyncio_timeouts_count_lab_seconds() -> None:
    async def times_out() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), 30.0)

    lab, real = lab_and_real_seconds(times_out, Speed(100))
    assert 30.0 <= lab < 31.0 and real < 1.0


def test_an_idle_hour_at_max_takes_no_time() -> None:
    lab, real = lab_and_real_seconds(lambda: asyncio.sleep(3600), MAX)
    assert lab >= 3600
    assert lab < 3600 + 1  # it jumped to the deadline, not past it
    assert real < 2.0


def test_timers_at_max_fire_in_lab_time_order() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        fired: list[tuple[str, float]] = []

        async def after(name: str, seconds: float) -> None:
            await asyncio.sleep(seconds)
            fired.append((name, loop.time()))

        t0 = loop.time()
        await asyncio.gather(after("c", 300), after("a", 100), after("b", 200))
        return [(name, t - t0) for name, t in fired]

    fired = run_on_lab_time(main(), MAX)
    assert [name for name, _ in fired] == ["a", "b", "c"]
    for (_, t), want in zip(fired, (100, 200, 300), strict=True):
        assert want <= t < want + 0.5


def test_an_executor_job_holds_the_clock_at_max() -> None:
    """A thread's work is in flight: the clock must not jump past it, so a lab sleep ends after the job."""

    async def main() -> tuple[list[str], float, float]:
        loop = asyncio.get_running_loop()
        events: list[str] = []
        job_started = threading.Event()
        lab_at_job_end: list[float] = []

        def job() -> None:
            job_started.set()
            time.sleep(0.2)
            lab_at_job_end.append(loop.time())  # the lab clock, read from the job's thread
            events.append("job done")

        async def sleeper() -> None:
            await asyncio.sleep(1000)
            events.append("sleep done")

        t0 = loop.time()
        future = loop.run_in_executor(None, job)
        sleeping = asyncio.create_task(sleeper())
        await future
        await sleeping
        assert job_started.is_set()
        return events, lab_at_job_end[0] - t0, loop.time() - t0

    events, lab_at_job_end, lab_total = run_on_lab_time(main(), MAX)
    assert events == ["job done", "sleep done"]
    assert 0.2 <= lab_at_job_end < 0.2 + 0.5  # lab time ran at real rate while the job ran: no jump
    assert lab_total >= 1000  # then it jumped


def test_a_driven_loop_jumps_only_inside_released() -> None:
    loop = LabEventLoop(MAX, driven=True)
    try:
        async def held() -> tuple[float, float]:
            lab0, real0 = loop.time(), time.monotonic()
            await asyncio.sleep(0.2)  # between a driver's steps: the clock holds, so this is 0.2 s of real time
            return loop.time() - lab0, time.monotonic() - real0

        lab, real = loop.run_until_complete(held())
        assert 0.2 <= lab < 0.7 and real >= 0.19

        async def freed() -> tuple[float, float]:
            lab0, real0 = loop.time(), time.monotonic()
            await released(asyncio.sleep(3600))
            return loop.time() - lab0, time.monotonic() - real0

        lab, real = loop.run_until_complete(freed())
        assert 3600 <= lab < 3601 and real < 2.0
    finally:
        loop.close()


def test_released_on_a_plain_loop_just_awaits() -> None:
    async def main() -> int:
        async def answer() -> int:
            await asyncio.sleep(0)
            return 42

        return await released(answer())

    assert asyncio.run(main()) == 42


@pytest.mark.parametrize("speed", ["10", "max"])
def test_a_lab_loop_watches_tcp_sockets_without_nagle_and_leaves_pipes_alone(speed: str) -> None:
    """A small write held by Nagle waits for the peer's delayed ACK: real time no lab clock sees.

    asyncio's transports set TCP_NODELAY themselves; a library that drives its own socket through
    add_reader/add_writer (paho under aiomqtt, by file descriptor) gets it from the lab loop.
    """
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        read_end, write_end = os.pipe()
        open_fds = len(os.listdir("/proc/self/fd"))
        try:
            assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            loop.add_reader(client.fileno(), lambda: None)  # by descriptor, as aiomqtt does
            loop.add_writer(peer, lambda: None)  # by socket object
            loop.add_reader(read_end, lambda: None)  # a pipe: nothing to set, nothing leaked
            assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert len(os.listdir("/proc/self/fd")) == open_fds
        finally:
            loop.remove_reader(client.fileno())
            loop.remove_writer(peer)
            loop.remove_reader(read_end)
            for s in (client, peer, server):
                s.close()
            os.close(read_end)
            os.close(write_end)

    run_on_lab_time(main(), Speed.parse(speed))


# ------------------------------------------------------------------ the host polling for a board's turn


def test_the_host_polls_for_turns_only_with_a_cpu_to_spare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SPIN_VARIABLE, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    assert hand_over_spin() == HAND_OVER_SPIN_S > 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {3})
    assert hand_over_spin() == 0.0  # polling would take the only CPU from the board whose report it waits for
    monkeypatch.setenv(SPIN_VARIABLE, "250")
    assert hand_over_spin() == pytest.approx(250e-6)
    monkeypatch.setenv(SPIN_VARIABLE, " 0 ")
    assert hand_over_spin() == 0.0


@pytest.mark.parametrize("setting", ["-5", "1.5", "fast", "1ms"])
def test_a_spin_setting_that_is_not_whole_microseconds_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                                   setting: str) -> None:
    monkeypatch.setenv(SPIN_VARIABLE, setting)
    with pytest.raises(ConfigError, match=SPIN_VARIABLE):
        hand_over_spin()


def test_boards_take_turns_only_once_they_have_reported_and_the_host_holds_nothing() -> None:
    with selectors.DefaultSelector() as selector:
        clocks = VmClocks(selector, t0_us=0, now=lambda: 0.0)
        try:
            clocks.started("a")
            clocks.started("b")
            a, b = clocks._vms["a"], clocks._vms["b"]
            assert not clocks.taking_turns()  # both boot: no report yet
            a.echo = a.sent = b.echo = b.sent = 4
            assert not clocks.taking_turns()  # both wait: nobody's turn
            a.sent = 5  # woken, its report still to come
            assert clocks.taking_turns()
            clocks.busy += 1  # the host holds the clock (an executor job): not a board's turn
            assert not clocks.taking_turns()
            clocks.busy -= 1
            clocks.started("c")  # a board booting holds the clock for longer than a turn
            assert not clocks.taking_turns()
        finally:
            clocks.close()


def _waiting(clocks: VmClocks, **deadlines: tuple[float, float]) -> None:
    """Boards that have reported: name=(reported at, waits until), in lab seconds."""
    for name, (since, deadline) in deadlines.items():
        clocks.started(name)
        vm = clocks._vms[name]
        vm.echo = vm.sent = 1
        vm.since, vm.deadline = since, deadline


@pytest.fixture
def clocks() -> Iterator[VmClocks]:
    with selectors.DefaultSelector() as selector:
        vm_clocks = VmClocks(selector, t0_us=0, now=lambda: 0.0)
        try:
            yield vm_clocks
        finally:
            vm_clocks.close()


def test_boards_due_within_the_slack_of_the_first_wake_together(clocks: VmClocks) -> None:
    _waiting(clocks, a=(9.0, 10.0), b=(9.1, 10.003), c=(9.5, 10.004), d=(9.9, 10.8))
    # a may wake up to 5 ms late (0.5 % of its 1 s wait): b and c with it, at c's deadline; d is far
    assert clocks.wake_time(math.inf, 0.005, 0.005) == 10.004
    assert clocks.wake_time(10.002, 0.005, 0.005) == 10.002  # never past the host's own next deadline
    assert clocks.wake_time(math.inf, 0.0, 0.005) == 10.0  # no slack: exactly the earliest deadline
    # at most 2 ms late: b, 3 ms after a, does not join it; a waits out its 2 ms towards b
    assert clocks.wake_time(math.inf, 0.005, 0.002) == 10.002


def test_the_slack_is_a_share_of_each_wait_and_the_shortest_bounds_the_group(clocks: VmClocks) -> None:
    _waiting(clocks, a=(9.0, 10.0), b=(9.998, 10.001), c=(9.0, 10.004))
    # b waits 3 ms: it may wake 15 us late, so c (4 ms after a) does not join a and b, who wait out
    # those 15 us towards c
    assert clocks.wake_time(math.inf, 0.005, 0.005) == pytest.approx(10.001015)
    assert clocks.wake_time(math.inf, 0.005, 0.005) >= min(vm.deadline for vm in clocks._vms.values())


def test_a_board_waits_out_its_slack_towards_its_nearest_neighbour_only(clocks: VmClocks) -> None:
    _waiting(clocks, a=(9.0, 10.0), b=(9.1, 10.1), c=(9.5, 10.5))
    # a's next board (b, 100 ms after it) is nearer than its last (c, 500 ms before a's next round):
    # a wakes 5 ms late, 5 ms nearer b's phase
    assert clocks.wake_time(math.inf, 0.005, 0.005) == pytest.approx(10.005)
    clocks.stopped("b")
    _waiting(clocks, b=(9.7, 10.7))  # now the last is 300 ms before a's next round, the next 500 ms after a
    assert clocks.wake_time(math.inf, 0.005, 0.005) == 10.0


def test_a_board_alone_or_read_late_wakes_on_its_deadline(clocks: VmClocks) -> None:
    assert clocks.wake_time(42.0, 0.005, 0.005) == 42.0  # nobody waits: the host's deadline
    _waiting(clocks, a=(9.0, 10.0))
    assert clocks.wake_time(math.inf, 0.005, 0.005) == 10.0  # nobody to wake with
    clocks.stopped("a")
    _waiting(clocks, b=(10.5, 10.2), c=(9.5, 10.201))  # b's report read after its deadline: no slack
    assert clocks.wake_time(math.inf, 0.005, 0.005) == 10.2


@pytest.mark.parametrize(("setting", "slack"), [(None, WAKE_SLACK), ("0", 0.0), ("1", 0.01), (" 0.25 ", 0.0025),
                                                ("0.5%", 0.005)])
def test_the_wake_slack_is_a_percentage_of_a_wait(monkeypatch: pytest.MonkeyPatch, setting: str | None,
                                                 slack: float) -> None:
    if setting is None:
        monkeypatch.delenv(SLACK_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(SLACK_VARIABLE, setting)
    assert wake_slack() == pytest.approx(slack)


@pytest.mark.parametrize("setting", ["1.5", "-0.1", "nan", "lots", "5ms"])
def test_a_wake_slack_beyond_the_clock_fidelity_is_refused_before_a_lab_starts(monkeypatch: pytest.MonkeyPatch,
                                                                               setting: str) -> None:
    monkeypatch.setenv(SLACK_VARIABLE, setting)
    with pytest.raises(ConfigError, match=SLACK_VARIABLE):
        wake_slack()
    coro = asyncio.sleep(0)
    with pytest.raises(ConfigError, match=SLACK_VARIABLE):
        run_on_lab_time(coro, MAX)
    assert coro.cr_frame is None


def test_a_bad_spin_setting_stops_a_max_lab_before_its_loop_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SPIN_VARIABLE, "fast")

    async def never() -> None:
        raise AssertionError("a lab with a bad setting must not start")

    coro = never()
    with pytest.raises(ConfigError, match=SPIN_VARIABLE):
        run_on_lab_time(coro, MAX)
    assert coro.cr_frame is None  # closed, not left to warn "never awaited"
    assert run_on_lab_time(asyncio.sleep(0, "ran"), Speed(10)) == "ran"  # scaled labs do not poll: not read
