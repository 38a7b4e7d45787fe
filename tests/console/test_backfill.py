"""The console's backfill dialog on a schedule (English and Chinese), with progress, and
an ended schedule shown as ended."""

from __future__ import annotations

import asyncio
import re
import sys
import time

import pytest
from playwright.async_api import Browser, expect

from tests.console.conftest import DB, Browsing, Console, open_tab, shot

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]


async def test_backfill_dialog_runs_a_range_and_shows_progress(
    signed_in: Browsing, console: Console
) -> None:
    page = signed_in.page
    signed_in.expected_statuses.add(404)  # the dialog asks first: never backfilled
    await page.goto(console.base + "tasks/nightly_report")
    row = page.locator('tr[data-schedule="nightly_report"]')
    await row.get_by_role("button", name="Backfill: nightly_report").click()
    dialog = page.get_by_role("dialog", name="Backfill nightly_report")
    await dialog.get_by_label("From (first day)").fill("2026-11-01")
    await dialog.get_by_label("To (last day, included)").fill("2026-11-05")
    await dialog.get_by_label("Runs at once").fill("2")
    await dialog.get_by_role("button", name="Start backfill").click()
    await expect(dialog.locator(".backfill-state")).to_have_attribute("data-state", "done")
    await expect(dialog.locator(".backfill-progress")).to_contain_text("5 of 5 done: 5 succeeded")
    await expect(dialog.locator(".backfill-state")).to_contain_text("at most 2 at once")
    # The days given, the last one included (an audit: "… – 2026-11-06 00:00:00", the
    # excluded end, read as a day the operator had not chosen).
    await expect(dialog.locator(".backfill-state")).to_contain_text("2026-11-01 – 2026-11-05")
    await page.screenshot(path="/tmp/schedkit-console-backfill.png")
    await dialog.get_by_role("button", name="Close", exact=True).first.click()
    await expect(dialog).to_be_hidden()

    runs = console.api.get(
        "/runs", params={"task": "nightly_report", "trigger_source": "backfill"}
    ).json()
    assert runs["total"] == 5
    await expect(page.locator(".history")).to_contain_text("Backfill")
    audit = console.api.get("/audit", params={"action": "schedule.backfill"}).json()
    assert audit["total"] == 1

    # A bad range is answered in the dialog, nothing is stored.
    await row.get_by_role("button", name="Backfill: nightly_report").click()
    dialog = page.get_by_role("dialog", name="Backfill nightly_report")
    await dialog.get_by_label("From (first day)").fill("2026-11-05")
    await dialog.get_by_label("To (last day, included)").fill("2026-11-01")
    await dialog.get_by_role("button", name="Start backfill").click()
    await expect(dialog.locator(".form-error")).to_contain_text("first not after the last")


async def test_ended_schedule_and_the_dialog_in_chinese(browser: Browser, console: Console) -> None:
    console.api.post(
        "/tasks/crunch/schedule",
        params={"schedule_id": "crunch-twice"},
        json={"trigger": "interval", "seconds": 1, "max_runs": 2},
    ).raise_for_status()
    deadline = time.monotonic() + 20
    while console.api.get("/schedules/crunch-twice").json()["ended"] is None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    browsing = await open_tab(browser, console.token, lang="zh")
    browsing.expected_statuses.add(404)  # the dialog asks first: never backfilled
    try:
        page = browsing.page
        await page.goto(console.base + "tasks/crunch")
        row = page.locator('tr[data-schedule="crunch-twice"]')
        await expect(row.locator(".badge-ended")).to_have_text("已结束（已运行 2/2 次）")
        await expect(row).to_contain_text("已运行 2/2 次")
        await row.get_by_role("button", name="回填：crunch-twice").click()
        dialog = page.get_by_role("dialog", name="回填 crunch-twice")
        await expect(dialog.get_by_label("开始日期（含）")).to_be_visible()
        await expect(dialog.get_by_role("button", name="开始回填")).to_be_visible()
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []
    console.api.delete("/schedules/crunch-twice").raise_for_status()


#: The words of the backfill dialog in each language.
BACKFILL_WORDS = {
    "en": {
        "button": "Backfill: {id}",
        "dialog": "Backfill {id}",
        "running": "Running",
        "range": "2026-10-01 – 2026-10-10, at most 1 at once",
        "from": "From (first day)",
        "start": "Start backfill",
        "cancel": "Cancel backfill",
        "close": "Close",
        "question": "Cancel the backfill of {id}?",
        "cancelled": "Cancelled",
    },
    "zh": {
        "button": "回填：{id}",
        "dialog": "回填 {id}",
        "running": "进行中",
        "range": "2026-10-01 至 2026-10-10，最多同时 1 个",
        "from": "开始日期（含）",
        "start": "开始回填",
        "cancel": "取消回填",
        "close": "关闭",
        "question": "确定要取消 {id} 的回填吗？",
        "cancelled": "已取消",
    },
}


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_the_dialog_shows_a_backfill_in_progress_and_cancels_it_after_asking(
    browser: Browser, console: Console, lang: str
) -> None:
    """An audit: a backfill started elsewhere (the API, the CLI, another operator) could be
    neither seen nor cancelled in the console: the dialog read the schedule's backfill only
    after starting one itself, and opened on an empty From/To form. And *Cancel backfill*
    acted on one click, while Cancel run and Drain ask first."""
    schedule_id = f"crunch-busy-{lang}"
    words = {k: v.format(id=schedule_id) for k, v in BACKFILL_WORDS[lang].items()}
    console.api.post(
        "/tasks/crunch/schedule",
        params={"schedule_id": schedule_id},
        # Slow runs, one at a time: the backfill runs for minutes unless cancelled.
        json={"trigger": "cron", "hour": 3, "minute": 0, "kwargs": {"delay": 5}},
    ).raise_for_status()
    console.api.post(
        f"/schedules/{schedule_id}/backfill",
        json={"from": "2026-10-01", "to": "2026-10-10", "concurrency": 1},
    ).raise_for_status()
    tab = await open_tab(browser, console.token, width=1280, lang=lang)
    try:
        page = tab.page
        await page.goto(console.base + "tasks/crunch")
        row = page.locator(f'tr[data-schedule="{schedule_id}"]')
        await row.get_by_role("button", name=words["button"]).click()
        dialog = page.get_by_role("dialog", name=words["dialog"])
        state = dialog.locator(".backfill-state")
        await expect(state).to_have_attribute("data-state", "running")
        await expect(state).to_contain_text(words["running"])
        await expect(state).to_contain_text(words["range"])
        await expect(dialog.locator(".backfill-progress")).to_contain_text("10")
        # No form for another backfill while this one runs.
        await expect(dialog.get_by_label(words["from"])).to_be_hidden()
        await expect(dialog.get_by_role("button", name=words["start"])).to_be_hidden()
        await shot(page, f"backfill-running-{lang}")

        # Cancel asks first; Close leaves the backfill running.
        await dialog.get_by_role("button", name=words["cancel"]).click()
        confirm = page.get_by_role("dialog", name=words["cancel"])
        await expect(confirm).to_contain_text(words["question"])
        await shot(page, f"backfill-cancel-confirm-{lang}")
        await confirm.locator(".dialog-foot").get_by_role("button", name=words["close"]).click()
        await expect(confirm).to_be_hidden()
        assert console.api.get(f"/schedules/{schedule_id}/backfill").json()["state"] == "running"

        await dialog.get_by_role("button", name=words["cancel"]).click()
        await confirm.get_by_role("button", name=words["cancel"]).click()
        await expect(state).to_have_attribute("data-state", "cancelled")
        await expect(state).to_contain_text(words["cancelled"])
        await expect(dialog.get_by_role("button", name=words["cancel"])).to_be_hidden()
        assert console.api.get(f"/schedules/{schedule_id}/backfill").json()["state"] == "cancelled"
        await shot(page, f"backfill-cancelled-{lang}")

        # Opened again, none running: the form, and the cancelled one under it.
        await dialog.locator(".dialog-foot").get_by_role("button", name=words["close"]).click()
        await row.get_by_role("button", name=words["button"]).click()
        await expect(dialog.get_by_label(words["from"])).to_be_visible()
        await expect(dialog.get_by_role("button", name=words["start"])).to_be_visible()
        await expect(dialog.locator(".backfill-last")).to_be_visible()
        await expect(state).to_have_attribute("data-state", "cancelled")
        await shot(page, f"backfill-after-{lang}")
    finally:
        await tab.context.close()
        console.api.post(f"/schedules/{schedule_id}/backfill/cancel")
        console.api.delete(f"/schedules/{schedule_id}").raise_for_status()
    assert tab.unexpected_errors() == []


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_a_schedule_row_keeps_its_backfill_button_on_a_1280_px_screen(
    browser: Browser, console: Console, lang: str
) -> None:
    """An audit: a long schedule id and a workday schedule's description pushed the
    Actions column past the right edge of the task page at 1280 px."""
    long_id = "settlement-report-for-the-east-china-grid-region-" + "x" * 18
    console.api.post(
        "/tasks/nightly_report/schedule",
        params={"schedule_id": long_id},
        json={"trigger": "cron", "hour": 8, "minute": 30, "calendar": "cn_workdays"},
    ).raise_for_status()
    tab = await open_tab(browser, console.token, width=1280, lang=lang)
    try:
        await tab.page.goto(console.base + "tasks/nightly_report")
        button = tab.page.locator(f'tr[data-schedule="{long_id}"]').locator(
            'button[data-action="backfill"]'
        )
        await expect(button).to_be_visible()
        box = await button.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1280 - 16, box
    finally:
        await tab.context.close()
        console.api.delete(f"/schedules/{long_id}").raise_for_status()


async def test_the_audit_log_says_backfills_in_the_consoles_zone_and_language(
    browser: Browser, console: Console
) -> None:
    """An audit: the audit log gave a backfill's range as UTC instants ("2026-09-30T16:00
    :00+00:00 .. 2026-10-03T16:00:00+00:00": one day early for Shanghai) and its counts
    as "3 new run(s) of 3 fire(s)", English in Chinese too; a cancelled backfill was "3
    run(s)". The range is said as the backfill dialog says it, in the scheduler's zone
    (the days given, the last included); the counts in words, in the operator's language."""
    console.api.post(
        "/tasks/crunch/schedule",
        params={"schedule_id": "crunch-audit"},
        json={"trigger": "cron", "hour": 3, "minute": 0},
    ).raise_for_status()
    console.api.post(
        "/schedules/crunch-audit/backfill",
        json={"start": "2026-10-01", "end": "2026-10-03", "concurrency": 1},
    ).raise_for_status()
    console.api.post("/schedules/crunch-audit/backfill/cancel").raise_for_status()
    assert console.var is not None
    store = f"sqlite:///{console.var / DB}"
    purge = [sys.executable, "-m", "schedkit", "--store", store, "purge"]
    done = await asyncio.create_subprocess_exec(
        *purge,
        "--older-than",
        "3650d",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await done.communicate()
    assert done.returncode == 0, stderr.decode()
    rebuild = [sys.executable, "-m", "schedkit", "--store", store, "db", "rebuild-rollups"]
    rebuilt = await asyncio.create_subprocess_exec(
        *rebuild, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await rebuilt.communicate()
    assert rebuilt.returncode == 0, stderr.decode()
    raw = {
        e["action"]: e["detail"]
        for e in console.api.get("/audit", params={"target": "crunch-audit"}).json()["items"]
    }
    assert raw["schedule.backfill"].startswith("2026-09-30T16:00:00+00:00 .. ")
    expected = {
        "en": {
            "schedule.backfill": "2026-10-01 – 2026-10-03, at most 1 at once: "
            "3 new runs of 3 fires",
            # The first run may have started: it is then asked to stop, not cancelled.
            "schedule.backfill.cancel": re.compile(
                r"^(3 runs cancelled|2 pending runs cancelled, 1 running asked to stop)$"
            ),
            "runs.purge": re.compile(
                r"^0 runs older than 3650 d \(finished before \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\), "
                r"workflow runs: 0$"
            ),
            # The re-audit: this one stayed in English in the Chinese console.
            "runs.rebuild_rollups": re.compile(
                r"^finished runs: \d+, tasks: \d+, task-hour rollups: \d+ \(they counted "
                r"\d+ runs before\), in .+$"
            ),
        },
        "zh": {
            "schedule.backfill": "2026-10-01 至 2026-10-03，最多同时 1 个：3 次触发，新建 3 次运行",
            "schedule.backfill.cancel": re.compile(
                r"^(取消了 3 次运行|取消了 2 次等待中的运行，已请求停止 1 次运行中的运行)$"
            ),
            "runs.purge": re.compile(
                r"^0 次早于 3650 天的运行（\d{4}-\d\d-\d\d \d\d:\d\d:\d\d 之前结束），"
                r"工作流运行 0 次$"
            ),
            "runs.rebuild_rollups": re.compile(
                r"^\d+ 个任务的 \d+ 条已结束运行，共 \d+ 条（任务 × 小时）汇总（重建前计数 \d+），"
                r"用时 .+$"
            ),
        },
    }
    try:
        for lang, details in expected.items():
            tab = await open_tab(browser, console.token, width=1280, lang=lang)
            try:
                page = tab.page
                for action, detail in details.items():
                    await page.goto(console.base + f"audit?action={action}")
                    cell = page.locator("tbody tr").first.locator("td").nth(4)
                    await expect(cell).to_have_text(detail)
                    if not action.startswith("runs."):  # the server's words in the tooltip
                        await expect(cell.locator("span[title]")).to_have_attribute(
                            "title", raw[action]
                        )
                await page.goto(console.base + "audit")
                await expect(page.locator("tbody tr").first).to_be_visible()
                await page.screenshot(path=f"/tmp/schedkit-console-audit-{lang}.png")
            finally:
                await tab.context.close()
            assert tab.unexpected_errors() == []
    finally:
        console.api.delete("/schedules/crunch-audit").raise_for_status()
