"""Each fault against the REAL firmware on a simulated Pico W, through a network twin to a broker.

What each fault does and that the device comes back, in order: every wait is for a line the firmware
prints or a status it publishes (with a deadline only against hanging). How soon it is back is judged
by the firmware's own schedule (the reconnect delays it logs never exceed its 1 s cap); the seconds
themselves are a benchmark's figure.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fault_testkit import FaultBench, fault_bench

from labtwin.twin.faults.lab_faults import (
    BrokerOutage,
    BrownOut,
    DuplicateCommands,
    LinkDrop,
    Partition,
    PowerCut,
    SensorStuck,
    WifiLoss,
)
from labtwin.twin.models.adc import u16_to_volts
from labtwin.twin.network.network_twin import TO_DEVICE

DEADLINE_S = 30.0
"""How long a wait may take before the test gives up: against hanging, never the claim."""


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[FaultBench]:
    async with fault_bench(tmp_path) as running:
        yield running


def retry_delays(bench: FaultBench) -> list[float]:
    """The reconnect delays the firmware's MQTT client logged so far, in order."""
    return [float(m[1]) for line in bench.board.log_lines if (m := re.search(r"; retry in ([\d.]+) s$", line))]


async def test_power_cut_leaves_the_retained_status_offline_until_power_returns(bench: FaultBench) -> None:
    cut = PowerCut(bench.board)
    await cut.start()
    assert not bench.board.running
    await bench.client.wait_for_status("offline", timeout=DEADLINE_S)  # the broker published the last will
    online = bench.lines.expect("online as")
    await cut.clear()
    await asyncio.wait_for(online, DEADLINE_S)
    await bench.client.wait_for_status("online", timeout=DEADLINE_S)
    assert bench.board.model.boot_count == 2
    (started, ended), = cut.windows
    assert ended is not None and 0 < started < ended <= bench.clock.now()


async def test_link_drop_takes_the_device_offline_and_it_is_back_soon_after_clear(bench: FaultBench) -> None:
    drop = LinkDrop(bench.link)
    capped = bench.lines.expect(r"retry in 1\.0 s")
    await drop.start()
    await bench.client.wait_for_status("offline", timeout=DEADLINE_S)
    await asyncio.wait_for(capped, DEADLINE_S)  # its retries ran into the refusal and backed off to the cap
    assert bench.link.counters.connections_refused >= 1
    online = bench.lines.expect("online as")
    await drop.clear()
    await asyncio.wait_for(online, DEADLINE_S)
    assert max(retry_delays(bench)) == 1.0  # never more than 1 s between tries: back by the next one
    await bench.client.wait_for_status("online", timeout=DEADLINE_S)


async def test_duplicated_command_runs_once_on_the_hardware_and_is_answered(bench: FaultBench) -> None:
    samples = len(bench.board.model.trace.samples("adc.0"))
    duplicate = DuplicateCommands(bench.link)
    dropped = bench.lines.expect("duplicate ")
    await duplicate.start()
    result = await bench.client.execute_task("read_sensor", sensor_pin=26)
    assert abs(result["voltage"] - 1.10) < 0.01
    # The copy goes right behind the original and the device takes commands in order: once a later
    # request is answered, the copy has been handled (the chaos scenario's barrier).
    await duplicate.clear()
    await bench.client.get_device_status()
    await asyncio.wait_for(dropped, DEADLINE_S)  # the firmware recognised the copy
    assert bench.link.counters.publishes_duplicated[TO_DEVICE] >= 1
    assert len(bench.board.model.trace.samples("adc.0")) == samples + 1  # one ADC conversion


async def test_broker_outage_device_is_back_soon_after_the_broker(bench: FaultBench) -> None:
    outage = BrokerOutage(bench.broker, clock=bench.clock)
    capped = bench.lines.expect(r"retry in 1\.0 s")
    await outage.start()
    await asyncio.wait_for(capped, DEADLINE_S)  # down long enough for the backoff to reach its cap
    online = bench.lines.expect("online as")
    await outage.clear()
    await asyncio.wait_for(online, DEADLINE_S)
    assert max(retry_delays(bench)) == 1.0  # never more than 1 s between tries: back by the next one
    assert (await bench.client.execute_task("read_sensor", sensor_pin=27))["sensor_pin"] == 27


async def test_wifi_loss_takes_the_device_offline_until_it_rejoins(bench: FaultBench) -> None:
    wifi = bench.board.model.wifi
    assert wifi is not None
    loss = WifiLoss(bench.board, bench.link)
    rejoin_failed = bench.lines.expect(r"wifi: join .* failed, status -2")
    await loss.start()
    await bench.client.wait_for_status("offline", timeout=DEADLINE_S)
    assert not wifi.isconnected()
    await asyncio.wait_for(rejoin_failed, DEADLINE_S)  # the firmware noticed and tries to rejoin: no AP
    online = bench.lines.expect("online as")
    await loss.clear()
    await asyncio.wait_for(online, DEADLINE_S)
    assert wifi.isconnected()
    await bench.client.wait_for_status("online", timeout=DEADLINE_S)


async def test_brown_out_reboots_the_board_and_it_comes_back(bench: FaultBench) -> None:
    dip = BrownOut(bench.board)
    online = bench.lines.expect("online as")
    await dip.start()
    (at, until), = dip.windows
    assert at == until and not dip.active
    await asyncio.wait_for(online, DEADLINE_S)
    assert bench.board.model.boot_count == 2


async def test_stuck_sensor_is_what_the_firmware_reads(bench: FaultBench) -> None:
    stuck = SensorStuck(bench.board.model, 0, 2.5)
    await stuck.start()
    reading = await bench.client.execute_task("read_sensor", sensor_pin=26)
    assert abs(u16_to_volts(reading["raw_value"]) - 2.5) <= bench.board.model.adc.noise_bound(0)
    await stuck.clear()
    reading = await bench.client.execute_task("read_sensor", sensor_pin=26)
    assert abs(u16_to_volts(reading["raw_value"]) - 1.10) <= bench.board.model.adc.noise_bound(0)


async def test_partition_is_noticed_by_the_firmware_keepalive(tmp_path: Path) -> None:
    async with fault_bench(tmp_path, mqtt_keepalive=1) as bench:
        partition = Partition(bench.link)
        lost = bench.lines.expect(r"connection lost: no packet from broker for (\d+) ms")
        await partition.start()
        line = await asyncio.wait_for(lost, DEADLINE_S)
        # Its keepalive, not something sooner: 1.5 x the 1 s keepalive of silence, by its own clock.
        silent_ms = re.search(r"for (\d+) ms", line)
        assert silent_ms and int(silent_ms[1]) >= 1500, line
        online = bench.lines.expect("online as")
        await partition.clear()
        await asyncio.wait_for(online, DEADLINE_S)
