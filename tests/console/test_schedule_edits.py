"""The Edit schedule dialog keeps what it does not show, and does not overwrite a change
saved meanwhile. Findings of a console audit: changing only the expression of a schedule
with a window, a jitter and a run limit saved it without them (console.md: "the
schedule's parameters and other policies are kept"); and a save after another admin's
change overwrote it without a word, though schedule writes are compare-and-set."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.console.conftest import Console, open_tab, shot

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

WINDOWED: dict[str, Any] = {
    "trigger": {
        "trigger": "cron",
        "expression": "0 9 * * *",
        "jitter": 30,
        "start_date": "2030-12-10T00:00:00+08:00",
        "end_date": "2031-06-30T00:00:00+08:00",
    },
    "max_runs": 5,
    "max_instances": 2,
    "kwargs": {"delay": 0.1},
}


async def _edit(page: Page, console: Console, schedule_id: str, which: str) -> Locator:
    """The task page's Edit schedule dialog on ``schedule_id`` (``which``: the label of
    its schedule choice, shown when the task has more than one)."""
    await page.goto(console.base + "tasks/crunch")
    await page.locator("button[data-action='schedule']").first.click()
    dialog = page.get_by_role("dialog", name="crunch")
    choice = dialog.get_by_label(which, exact=True)
    if await choice.count():
        await choice.select_option(schedule_id)
    return dialog


async def test_saving_keeps_the_window_jitter_and_run_limit(
    browser: Browser, console: Console
) -> None:
    saved = console.api.post(
        "/tasks/crunch/schedule", params={"schedule_id": "crunch-window"}, json=WINDOWED
    )
    assert saved.status_code == 200, saved.text
    browsing = await open_tab(browser, console.token, width=1280)
    try:
        dialog = await _edit(browsing.page, console, "crunch-window", "Schedule")
        await dialog.get_by_label("Cron expression").fill("0 10 * * *")
        # The preview honours the saved window: its first fire is on its start date.
        first = dialog.locator("ol.preview li").first
        await expect(first).to_contain_text("2030-12-10 10:00")
        await dialog.get_by_role("button", name="Save schedule").click()
        await expect(dialog).to_be_hidden()
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []
    after = console.api.get("/schedules/crunch-window").json()
    trigger = after["trigger"]
    assert trigger["expression"] == "0 10 * * *"
    assert trigger["jitter"] == 30
    assert trigger["start_date"].startswith("2030-12-10")
    assert trigger["end_date"].startswith("2031-06-30")
    assert (after["max_runs"], after["max_instances"], after["kwargs"]) == (5, 2, {"delay": 0.1})
    console.api.delete("/schedules/crunch-window").raise_for_status()


async def test_a_change_saved_meanwhile_is_not_overwritten(
    browser: Browser, console: Console
) -> None:
    made = console.api.post(
        "/tasks/crunch/schedule", params={"schedule_id": "crunch-shared"}, json="0 9 * * *"
    )
    assert made.status_code == 200, made.text
    browsing = await open_tab(browser, console.token, width=1280, lang="zh")
    browsing.expected_statuses.add(409)
    try:
        dialog = await _edit(browsing.page, console, "crunch-shared", "调度")
        await expect(dialog.locator("ol.preview li")).to_have_count(5)
        # Another admin saves the same schedule while the dialog is open.
        other = console.api.post(
            "/tasks/crunch/schedule",
            params={"schedule_id": "crunch-shared"},
            json={"trigger": "cron", "expression": "0 9 * * *", "max_instances": 4},
        )
        assert other.status_code == 200, other.text
        await dialog.locator("input.mono").fill("0 11 * * *")
        await dialog.get_by_role("button", name="保存调度").click()
        await expect(dialog.locator(".schedule-form > .field-error")).to_contain_text(
            "调度计划 crunch-shared 在你编辑期间已被他人修改"
        )
        await expect(dialog).to_be_visible()
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []
    kept = console.api.get("/schedules/crunch-shared").json()
    assert (kept["trigger"]["expression"], kept["max_instances"]) == ("0 9 * * *", 4)
    console.api.delete("/schedules/crunch-shared").raise_for_status()


async def test_a_schedule_no_crontab_says_is_saved_as_it_is(
    browser: Browser, console: Console
) -> None:
    """A first-hour audit: "the first Monday of the month" in cron fields (day 1-7 AND
    Monday) was shown as ``0 9 1-7 * mon`` and saved as that crontab, which fires when
    either matches (every Monday, and days 1-7), by a Save that changed nothing; and
    APScheduler's numbered weekdays ("0-4", Monday to Friday) showed an empty expression."""
    first_monday = {"trigger": "cron", "day": "1-7", "day_of_week": "mon", "hour": 9, "minute": 0}
    weekdays = {"trigger": "cron", "day_of_week": "0-4", "hour": 9, "minute": 0}
    # Cron fields with a window (a re-audit: shown as an empty expression).
    windowed = {**weekdays, "start_date": "2030-01-01T00:00:00+08:00"}
    for sid, trigger in (("crunch-firstmon", first_monday), ("crunch-weekdays", windowed)):
        made = console.api.post(
            "/tasks/crunch/schedule", params={"schedule_id": sid}, json={"trigger": trigger}
        )
        assert made.status_code == 200, made.text
    stored = console.api.get("/schedules/crunch-firstmon").json()["trigger"]
    browsing = await open_tab(browser, console.token, width=1280)
    try:
        dialog = await _edit(browsing.page, console, "crunch-firstmon", "Schedule")
        await expect(dialog.locator(".schedule-fields")).to_contain_text("a day of the month")
        await shot(browsing.page, "schedule-fields-note")
        await expect(dialog.get_by_label("Cron expression")).to_have_value("")
        # The preview is the stored schedule's: first Mondays only.
        await expect(dialog.locator("ol.preview")).to_have_attribute("data-state", "ok")
        days = await dialog.locator("ol.preview li").all_inner_texts()
        assert len(days) == 5 and all(int(d[8:10]) <= 7 for d in days), days
        await dialog.get_by_role("button", name="Save schedule").click()
        await expect(dialog).to_be_hidden()
        assert console.api.get("/schedules/crunch-firstmon").json()["trigger"] == stored

        dialog = await _edit(browsing.page, console, "crunch-weekdays", "Schedule")
        await expect(dialog.get_by_label("Cron expression")).to_have_value("0 9 * * mon-fri")
        await expect(dialog.locator(".schedule-fields")).to_be_hidden()
        await dialog.get_by_role("button", name="Cancel").click()
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []
    for sid in ("crunch-firstmon", "crunch-weekdays"):
        console.api.delete(f"/schedules/{sid}").raise_for_status()


async def test_a_calendar_the_list_does_not_offer_is_kept(
    browser: Browser, console: Console
) -> None:
    """A re-audit: a schedule on "the 3rd workday" (an nth rule) or on ``weekdays`` showed
    "every day" in the calendar list, and a save of a new expression dropped the calendar:
    the job ran daily."""
    third = {
        "trigger": "cron",
        "hour": 9,
        "minute": 0,
        "calendar": {"name": "cn_workdays", "nth": 3},
    }
    made = console.api.post(
        "/tasks/crunch/schedule", params={"schedule_id": "crunch-third"}, json=third
    )
    assert made.status_code == 200, made.text
    browsing = await open_tab(browser, console.token, width=1280, lang="zh")
    try:
        dialog = await _edit(browsing.page, console, "crunch-third", "调度")
        chosen = dialog.get_by_label("业务日历")
        await expect(chosen.locator("option:checked")).to_have_text(
            "保持原设置：cn_workdays (nth 3)"
        )
        await dialog.get_by_role("textbox", name="Cron 表达式").fill("0 10 * * *")
        await expect(dialog.locator(".preview-text")).to_contain_text("10:00")
        await dialog.get_by_role("button", name="保存调度").click()
        await expect(dialog).to_be_hidden()
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []
    trigger = console.api.get("/schedules/crunch-third").json()["trigger"]
    assert trigger["expression"] == "0 10 * * *"
    assert trigger["calendar"] == {"name": "cn_workdays", "nth": 3}
    console.api.delete("/schedules/crunch-third").raise_for_status()
