"""The console's next fire, in Chromium: the fire the schedule's business calendar allows
(on the task list and the task page), or why the calendar allows none.

The schedules start in 2030 (``start_date``): their nominal next fire is Saturday
5 January 2030 whatever today is."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.console.conftest import Browsing, Console

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)


async def test_the_next_fire_is_the_one_the_calendar_allows(
    signed_in: Browsing, console: Console
) -> None:
    page = signed_in.page
    for schedule_id, spec in (
        ("greet-six", {"trigger": "cron", "hour": 6, "start_date": "2030-01-05"}),
        ("greet-once", {"trigger": "date", "run_date": "2030-01-05T06:00:00"}),
    ):
        console.api.post(
            "/tasks/greet/schedule",
            params={"schedule_id": schedule_id},
            json={**spec, "calendar": "weekdays", "kwargs": {"name": "Ada"}},
        ).raise_for_status()

    await page.goto(console.base + "tasks")
    row = page.locator('tr[data-task="greet"]')
    await expect(row.locator("time").first).to_have_text("2030-01-07 06:00:00")  # Monday

    await page.goto(console.base + "tasks/greet")
    six = page.locator('tr[data-schedule="greet-six"]')
    await expect(six.locator("time").first).to_have_text("2030-01-07 06:00:00")
    once = page.locator('tr[data-schedule="greet-once"]')
    await expect(once.locator(".next-fire-note")).to_have_text(
        "calendar weekdays allows none of its remaining fires"
    )
