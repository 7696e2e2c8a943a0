"""The dashboard in a real browser: what a task, a power cut and a fault control do shows on the page (issue #17)."""

from __future__ import annotations

import time
from typing import Any

from labtwin.dashboard.server import DashboardServer
from labtwin.scenarios.labs.fault_menu import STUCK_SENSOR_VOLTS
from labtwin.twin.faults.lab_faults import PowerCut

from .conftest import DEVICE

CARD = f'.board[data-board="{DEVICE}"]'


async def test_an_led_switched_by_a_task_lights_on_the_page(dashboard: DashboardServer, page: Any) -> None:
    lab = dashboard.live.lab
    await page.wait_for_selector(f'{CARD}.online [data-role="led"]:not(.on)')

    await lab.client(DEVICE).call("control_led", {"pin": "LED", "state": True})

    await page.wait_for_selector(f'{CARD} [data-role="led"].on', timeout=5000)
    row = page.locator('#traffic-rows tr.ok[data-task="control_led"]').first
    await row.wait_for()  # the result may reach the page a frame after the LED did
    assert "ms" in await row.inner_text()  # command and result paired, with latency


async def test_a_board_that_loses_power_shows_offline_within_two_seconds(dashboard: DashboardServer,
                                                                         page: Any) -> None:
    lab = dashboard.live.lab
    await page.wait_for_selector(f"{CARD}.online")
    cut = PowerCut(lab.board(DEVICE), clock=lab.clock)  # type: ignore[attr-defined]

    started = time.monotonic()
    await cut.start()
    await page.wait_for_selector(f"{CARD}.offline", timeout=2000)
    # The model powers off at the cut; the broker's will (offline) follows. Both must show within the two
    # seconds, in whichever frames they arrive.
    await page.locator(CARD, has_text="NO POWER").wait_for(timeout=2000)
    shown_after = time.monotonic() - started

    assert shown_after < 2.0
    assert await page.locator(f'{CARD} [data-role="state"]').inner_text() == "offline"
    await cut.clear()


async def test_a_fault_control_starts_a_fault_the_next_task_call_feels(dashboard: DashboardServer,
                                                                       page: Any) -> None:
    lab = dashboard.live.lab
    client = lab.client(DEVICE)
    before = await client.call("read_sensor", {"sensor_pin": 26})
    assert abs(before["voltage"] - STUCK_SENSOR_VOLTS) > 0.1  # the point of the check: it changes

    await page.click(f'button[data-fault-target="{DEVICE}"][data-fault-kind="sensor_stuck"]')
    await page.wait_for_selector(f'#fault-windows li.active[data-fault="{DEVICE}/sensor_stuck"]')

    during = await client.call("read_sensor", {"sensor_pin": 26})
    assert abs(during["voltage"] - STUCK_SENSOR_VOLTS) < 0.02

    await page.click(f'button[data-fault-target="{DEVICE}"][data-fault-kind="sensor_stuck"]')  # clears it
    await page.wait_for_selector(f'#fault-windows li[data-fault="{DEVICE}/sensor_stuck"]:not(.active)')
    after = await client.call("read_sensor", {"sensor_pin": 26})
    assert abs(after["voltage"] - STUCK_SENSOR_VOLTS) > 0.1
