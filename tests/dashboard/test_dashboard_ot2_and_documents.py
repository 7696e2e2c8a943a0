"""The dashboard's OT-2 panel (deck and run log) and its API documents, in a real browser."""

from __future__ import annotations

from labtwin.dashboard.server import DashboardServer

from .conftest import DEVICE, open_page


async def test_the_ot2_panel_shows_the_deck_and_the_run_log_and_the_documents_render(
        ot2_dashboard: DashboardServer) -> None:
    lab = ot2_dashboard.live.lab
    async with open_page(ot2_dashboard) as page:
        tips = page.locator('[data-role="tips"]')
        await tips.wait_for(timeout=10_000)
        before = int((await tips.inner_text()).split()[2])  # "tips left N (used M) ..."

        await lab.ot2_client().call("mix_color", {"well": "A1", "red_ul": 50, "yellow_ul": 0, "blue_ul": 0,
                                                   "water_ul": 0})

        await page.wait_for_selector(f'[data-role="tips"]:has-text("tips left {before - 1} ")', timeout=10_000)
        await page.wait_for_selector('#ot2-body tr:has-text("mix_color")')
        assert "A1" in await page.locator("#ot2-body").inner_text()

        await page.click("#docs-load")
        channels = page.locator('[data-role="asyncapi-channels"]')
        await channels.wait_for()
        assert f"ot2/{DEVICE}/command" in await channels.inner_text()
        paths = page.locator('[data-role="openapi-paths"]')
        await paths.wait_for()
        assert "/execute/" in await paths.inner_text() or "/tasks" in await paths.inner_text()
