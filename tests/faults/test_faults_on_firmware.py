"""Each fault against the REAL firmware on a simulated Pico W, through a network twin to a broker.

Back-online times are measured from the moment ``clear()`` returns to the
firmware's ``online as`` line (its retained online status was acknowledged).
"""

from __future__ import annotations

import asyncio
import time
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

BACK_ONLINE_S = 2.0


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[FaultBench]:
    async with fault_bench(tmp_path) as running:
        yield running


async def back_online_after(bench: FaultBench, clear: asyncio.Future[float] | None = None) -> float:
    """Seconds from ``clear`` (default: now) until the firmware announced itself online again."""
    online = bench.lines.expect("online as")
    cleared = time.perf_counter()
    if clear is not None:
        await clear
        cleared = time.perf_counter()
    return await asyncio.wait_for(online, 10) - cleared


async def test_power_cut_leaves_the_retained_status_offline_until_power_returns(bench: FaultBench) -> None:
    cut = PowerCut(bench.board)
    await cut.start()
    assert not bench.board.running
    await bench.client.wait_for_status("offline", timeout=3)  # the broker published the last will
    online = bench.lines.expect("online as")
    await cut.clear()
    cleared = time.perf_counter()
    await asyncio.wait_for(online, 10)
    print(f"PowerCut: back online {time.perf_counter() - cleared:.3f} s after clear")
    await bench.client.wait_for_status("online", timeout=3)
    assert bench.board.model.boot_count == 2
    (started, ended), = cut.windows
    assert ended is not None and 0 < started < ended <= bench.clock.now()


async def test_link_drop_takes_the_device_offline_and_it_is_back_soon_after_clear(bench: FaultBench) -> None:
    drop = LinkDrop(bench.link)
    await drop.start()
    await bench.client.wait_for_status("offline", timeout=3)
    await asyncio.sleep(1.0)  # let the firmware's retries run into the refusal and back off
    assert bench.link.counters.connections_refused >= 1
    online = bench.lines.expect("online as")
    await drop.clear()
    cleared = time.perf_counter()
    await asyncio.wait_for(online, 10)
    took = time.perf_counter() - cleared
    print(f"LinkDrop: back online {took:.3f} s after clear")
    assert took < BACK_ONLINE_S
    await bench.client.wait_for_status("online", timeout=3)


async def test_duplicated_command_runs_once_on_the_hardware_and_is_answered(bench: FaultBench) -> None:
    samples = len(bench.board.model.trace.samples("adc.0"))
    duplicate = DuplicateCommands(bench.link)
    await duplicate.start()
    result = await bench.client.execute_task("read_sensor", sensor_pin=26)
    assert abs(result["voltage"] - 1.10) < 0.01
    await asyncio.sleep(0.3)  # the DUP copy is processed after the original
    await duplicate.clear()
    assert bench.link.counters.publishes_duplicated[TO_DEVICE] >= 1
    assert len(bench.board.model.trace.samples("adc.0")) == samples + 1  # one ADC conversion
    assert any("duplicate" in line for line in bench.board.log_lines)


async def test_broker_outage_device_is_back_soon_after_the_broker(bench: FaultBench) -> None:
    outage = BrokerOutage(bench.broker, clock=bench.clock)
    await outage.start()
    await asyncio.sleep(1.0)
    online = bench.lines.expect("online as")
    await outage.clear()
    cleared = time.perf_counter()
    await asyncio.wait_for(online, 10)
    took = time.perf_counter() - cleared
    print(f"BrokerOutage: back online {took:.3f} s after clear")
    assert took < BACK_ONLINE_S
    assert (await bench.client.execute_task("read_sensor", sensor_pin=27))["sensor_pin"] == 27


async def test_wifi_loss_takes_the_device_offline_until_it_rejoins(bench: FaultBench) -> None:
    wifi = bench.board.model.wifi
    assert wifi is not None
    loss = WifiLoss(bench.board, bench.link)
    rejoin_failed = bench.lines.expect(r"wifi: join .* failed, status -2")
    await loss.start()
    await bench.client.wait_for_status("offline", timeout=3)
    assert not wifi.isconnected()
    await asyncio.wait_for(rejoin_failed, 5)  # the firmware noticed and tries to rejoin: no AP
    online = bench.lines.expect("online as")
    await loss.clear()
    cleared = time.perf_counter()
    await asyncio.wait_for(online, 15)
    print(f"WifiLoss: back online {time.perf_counter() - cleared:.3f} s after clear")
    assert wifi.isconnected()
    await bench.client.wait_for_status("online", timeout=3)


async def test_brown_out_reboots_the_board_and_it_comes_back(bench: FaultBench) -> None:
    dip = BrownOut(bench.board)
    online = bench.lines.expect("online as")
    await dip.start()
    (at, until), = dip.windows
    assert at == until and not dip.active
    await asyncio.wait_for(online, 10)
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
        lost = bench.lines.expect("connection lost: no packet from broker")
        await partition.start()
        started = time.perf_counter()
        await asyncio.wait_for(lost, 5)
        noticed = time.perf_counter() - started
        print(f"Partition: firmware keepalive (1 s) noticed after {noticed:.3f} s")
        assert 1.0 <= noticed < 2.5  # 1.5 x keepalive, checked every keepalive/4
        online = bench.lines.expect("online as")
        await partition.clear()
        cleared = time.perf_counter()
        await asyncio.wait_for(online, 10)
        print(f"Partition: back online {time.perf_counter() - cleared:.3f} s after clear")
