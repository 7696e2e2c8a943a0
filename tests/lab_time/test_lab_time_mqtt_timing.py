"""The default firmware's MQTT timing gives the same lab-time outcomes at speeds 1, 10, 100 and max.

The board runs the stock firmware with ``mqtt_keepalive`` 2 s behind its network twin
(firmware/mqtt_client.py, docs/mqtt-client.md):

- Keepalive: on an idle link the board pings once per keepalive/2 (1 lab s), and the broker, whose
  keepalive timer is on the same lab clock, keeps the connection. Counted as the packets the network
  twin forwarded to the broker over 8 lab seconds.
- Keepalive give-up: in a black hole (nothing arrives, sockets stay open) the board drops the
  connection once nothing came from the broker for 1.5 x keepalive = 3000 lab ms (the number it logs).
- Reconnect backoff: with every connection refused, the attempts come 0.1, 0.2, 0.4, 0.8, 1.0, 1.0 lab
  seconds apart, counted from the lost connection (``RETRY_FIRST`` doubling up to ``RETRY_NET_MAX``),
  measured on the board's own log stamps (``[ticks_ms]``, the VM's lab clock).

Lower bounds are exact. Upper bounds allow the real time the lab's own work takes (a VM wake-up, a
socket round trip), N lab seconds per real second at speed N (:func:`real_slack`).
"""

from __future__ import annotations

import asyncio
import re

import pytest
from lab_time_testkit import SPEEDS, real_slack, run_lab

from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.scenarios.labs.twin_lab_options import BoardSetup
from labtwin.twin.lab_time import Speed
from labtwin.twin.network.mqtt_relay import TO_BROKER

DEV = "pico-mqtt-timing"
KEEPALIVE_S = 2
HALF_MS = KEEPALIVE_S * 1000 // 2
GIVE_UP_MS = KEEPALIVE_S * 1000 * 3 // 2
BACKOFF_S = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]  # RETRY_FIRST doubling, capped at RETRY_NET_MAX
_STAMPED = re.compile(r"^\[(\d+)\] (.*)$")


def _lab(speed: Speed) -> TwinLab:
    return TwinLab(devices=[DEV], speed=speed, network_twin=True,
                   boards={DEV: BoardSetup(settings={"mqtt_keepalive": KEEPALIVE_S})})


class BoardLog:
    """The board's stamped log lines from now on, as (VM lab ms, message); wait for the n-th match."""

    def __init__(self, lab: TwinLab) -> None:
        self.lines: list[tuple[int, str]] = []
        self._changed = asyncio.Event()
        board = lab.board(DEV)
        chained = board.on_output

        def collect(line: str) -> None:
            m = _STAMPED.match(line)
            if m:
                self.lines.append((int(m[1]), m[2]))
                self._changed.set()
            if chained is not None:
                chained(line)

        board.on_output = collect

    def matching(self, pattern: str) -> list[tuple[int, str]]:
        return [(ms, text) for ms, text in self.lines if re.search(pattern, text)]

    async def wait_for(self, pattern: str, count: int = 1) -> list[tuple[int, str]]:
        """The first ``count`` lines matching ``pattern`` (waits for them on the lab loop)."""
        while len(found := self.matching(pattern)) < count:
            self._changed.clear()
            await self._changed.wait()
        return found[:count]


@pytest.mark.parametrize("speed", SPEEDS)
def test_an_idle_board_pings_every_half_keepalive_and_the_broker_keeps_it(speed: str) -> None:
    window_s = 8.0

    async def main(lab_speed: Speed) -> None:
        async with _lab(lab_speed) as lab:
            link, log = lab.link(DEV), BoardLog(lab)
            before = link.counters
            await asyncio.sleep(window_s)  # lab seconds: the idle board's own keepalive is what is measured
            after = link.counters
            pings = after.packets_forwarded[TO_BROKER] - before.packets_forwarded[TO_BROKER]
            # One PINGREQ per half keepalive (its PINGRESP resets nothing it waits on: it pings on what it sent).
            per_ping = HALF_MS / 1000 + real_slack(lab_speed, 0.01)
            assert int(window_s / per_ping) - 1 <= pings <= window_s * 1000 / HALF_MS + 1, (speed, pings)
            assert after.connections_accepted == before.connections_accepted  # the broker kept it
            assert after.connections_dropped == before.connections_dropped
            assert not log.matching("connection lost"), log.lines

    run_lab(speed, main)


@pytest.mark.parametrize("speed", SPEEDS)
def test_a_board_in_a_black_hole_gives_up_after_one_and_a_half_keepalives(speed: str) -> None:
    async def main(lab_speed: Speed) -> None:
        async with _lab(lab_speed) as lab:
            link, log = lab.link(DEV), BoardLog(lab)
            link.black_hole(True)
            (_, lost), = await log.wait_for("connection lost: no packet from broker")
            silent_ms = int(re.search(r"for (\d+) ms", lost)[1])  # type: ignore[index]
            # At the due time, not a polling tick later (the pinger sleeps until its deadline).
            assert GIVE_UP_MS <= silent_ms <= GIVE_UP_MS + 20 + real_slack(lab_speed, 0.01) * 1000, (speed, silent_ms)
            link.black_hole(False)
            await lab.wait_online(DEV)

    run_lab(speed, main)


@pytest.mark.parametrize("speed", SPEEDS)
def test_refused_reconnects_back_off_doubling_to_one_second_in_lab_time(speed: str) -> None:
    async def main(lab_speed: Speed) -> None:
        async with _lab(lab_speed) as lab:
            link, log = lab.link(DEV), BoardLog(lab)
            link.refuse_connections(True)
            assert await link.drop_connections() == 1
            lost = await log.wait_for("mqtt: connection lost")
            failed = await log.wait_for(r"mqtt: connect to \S+ failed", count=len(BACKOFF_S))
            # Each failure announces the next pause; the first pause follows the lost connection.
            said = [float(re.search(r"retry in ([\d.]+) s", text)[1]) for _, text in failed]  # type: ignore[index]
            assert said == [*BACKOFF_S[1:], BACKOFF_S[-1]]
            stamps = [ms for ms, _ in lost + failed]
            gaps_ms = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
            for waited_ms, delay_s in zip(gaps_ms, BACKOFF_S, strict=True):
                # The pause, then a refused attempt (a loopback connect and a reset): real work only.
                assert delay_s * 1000 <= waited_ms <= delay_s * 1000 + 20 + real_slack(lab_speed, 0.02) * 1000, (
                    speed, gaps_ms)
            link.refuse_connections(False)
            await lab.wait_online(DEV)

    run_lab(speed, main)
