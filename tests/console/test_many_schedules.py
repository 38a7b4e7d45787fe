"""The console with a task of many schedules: the task list and the task page show a
page of them and say how many there are, in English and Chinese."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.console.conftest import Browsing, Console, open_tab

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)


async def test_a_task_with_many_schedules_shows_a_page_and_the_count(
    signed_in: Browsing, console: Console, browser: Browser
) -> None:
    items = [
        {
            "id": f"greet-{i:03d}",
            "task": "greet",
            "schedule": {"trigger": "cron", "minute": i % 60, "kwargs": {"name": f"n{i}"}},
        }
        for i in range(120)
    ]
    console.api.post("/schedules", json=items).raise_for_status()
    total = console.api.get("/schedules", params={"task": "greet", "limit": 1}).json()["total"]
    page = signed_in.page
    await page.goto(console.base + "tasks")
    row = page.locator('tr[data-task="greet"]')
    await expect(row.locator(".schedule-cell li")).to_have_count(10)
    await expect(row.locator(".schedules-more")).to_have_text(f"and {total - 10} more schedules")

    await page.goto(console.base + "tasks/greet")
    await expect(page.locator("tr[data-schedule]")).to_have_count(50)
    await expect(page.locator(".schedules-shown")).to_have_text(
        f"The first 50 of {total} schedules (in id order)."
    )

    zh = await open_tab(browser, console.token, lang="zh")
    try:
        await zh.page.goto(console.base + "tasks/greet")
        await expect(zh.page.locator(".schedules-shown")).to_have_text(
            f"共 {total} 个调度计划，按 ID 顺序显示前 50 个。"
        )
        await zh.page.goto(console.base + "tasks")
        more = zh.page.locator('tr[data-task="greet"] .schedules-more')
        await expect(more).to_have_text(f"另有 {total - 10} 个调度计划")
        assert zh.unexpected_errors() == []
    finally:
        await zh.context.close()
