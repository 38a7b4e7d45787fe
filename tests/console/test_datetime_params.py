"""The Run now form's date-time input, in Chromium: it shows the scheduler's zone and sends
the wall time typed with that zone's offset on that date (DST included), not the
browser's. The scheduler runs in America/New_York, the browser in Europe/Paris: their
summer times start three weeks apart, so every case below tells the two zones apart."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from schedkit import TaskRegistry, task
from tests.console.conftest import Browsing, Console, fresh_console, open_tab

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)

ZONE = "America/New_York"


@task("meeting", retry={"max_retries": 0})
def meeting(when: datetime) -> dict[str, Any]:
    # isoformat() of a naive value has no offset: the assertion below would see it.
    return {"success": True, "data": {"when": when.isoformat()}}


@task("dated", retry={"max_retries": 0})
def dated(day: date | None = None) -> dict[str, Any]:
    return {"success": True, "data": {"day": str(day)}}


@pytest.fixture(scope="module")
def ny_console(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    registry = TaskRegistry()
    registry.register_task(meeting)
    registry.register_task(dated)
    with fresh_console(tmp_path_factory, "console-ny", registry, timezone=ZONE) as console:
        yield console


@pytest_asyncio.fixture(loop_scope="module")
async def ny_tab(browser: Browser, ny_console: Console) -> AsyncIterator[Browsing]:
    browsing = await open_tab(browser, ny_console.token)  # the browser is in Europe/Paris
    try:
        yield browsing
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        # Winter: New York -05:00 (Paris would be +01:00).
        ("2026-12-06T10:00", "2026-12-06T10:00:00-05:00"),
        # New York's summer time began on 8 March, Paris's begins on 29 March.
        ("2026-03-20T10:00", "2026-03-20T10:00:00-04:00"),
        # 02:30 on 8 March never shows in New York (02:00→03:00): read as the server
        # reads it (the offset before the change), it is 03:30 summer time.
        ("2026-03-08T02:30", "2026-03-08T03:30:00-04:00"),
        # 01:30 on 1 November shows twice: its first occurrence, still summer time.
        ("2026-11-01T01:30", "2026-11-01T01:30:00-04:00"),
    ],
)
async def test_run_now_sends_the_wall_time_with_the_schedulers_offset(
    ny_tab: Browsing, ny_console: Console, typed: str, sent: str
) -> None:
    page = ny_tab.page
    await page.goto(ny_console.base + "tasks")
    await (
        page.locator('tr[data-task="meeting"]')
        .get_by_role("button", name="Run now: meeting")
        .click()
    )
    dialog = page.get_by_role("dialog", name="Run meeting now")
    when = dialog.get_by_label("When")
    await expect(when).to_have_attribute("type", "datetime-local")
    # The zone the time is read in, next to the input and in its description.
    await expect(dialog.locator(".field .suffix")).to_have_text(ZONE)
    await expect(when).to_have_accessible_description(re.compile(re.escape(ZONE)))
    await when.fill(typed)
    async with page.expect_request(
        lambda r: r.method == "POST" and r.url.split("?")[0].endswith("/tasks/meeting/execute")
    ) as request:
        await dialog.get_by_role("button", name="Run", exact=True).click()
    body = json.loads((await request.value).post_data or "{}")
    assert body == {"kwargs": {"when": sent}}
    await expect(dialog).to_be_hidden()

    href = await page.locator(".toast").get_by_role("link", name="View run").get_attribute("href")
    assert href is not None
    run_id = href.removeprefix("runs/")
    run: dict[str, Any] = {}
    for _ in range(200):
        run = ny_console.api.get(f"/runs/{run_id}").json()
        if run["status"] not in ("pending", "running"):
            break
        await asyncio.sleep(0.05)
    assert run["status"] == "success", run
    assert run["kwargs"] == {"when": sent}
    assert run["result"]["data"] == {"when": sent}


async def test_an_unfinished_date_is_refused_not_left_out(
    ny_tab: Browsing, ny_console: Console
) -> None:
    """A console audit: "12" typed into a date (month only, the rest blank) reads as an
    empty value, so Run now sent no ``day`` and the run took its default, without a
    word."""
    page = ny_tab.page
    await page.goto(ny_console.base + "tasks")
    await page.locator('tr[data-task="dated"]').get_by_role("button", name="Run now: dated").click()
    dialog = page.get_by_role("dialog", name="Run dated now")
    day = dialog.get_by_label("Day")
    await day.click()
    await day.press_sequentially("12")
    assert await day.evaluate("el => el.validity.badInput")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    await dialog.get_by_role("button", name="Run", exact=True).click()
    await expect(dialog.get_by_text("Enter a date (YYYY-MM-DD).")).to_be_visible()
    await expect(dialog).to_be_visible()
    assert not [url for url in sent if "/tasks/dated/execute" in url]
