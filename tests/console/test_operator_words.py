"""The server's English in the Chinese console, found by an audit: validation errors of
the schedule editor, of backfills and of workflow starts; the raw field names of the
request before them; the festivals the holiday packages name in English; the source
codes of a calendar's summary; the demo's Run now form. Each message is the real
server's, so that a rewording there shows here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pydantic
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from schedkit import Step, Workflow
from schedkit.calendars.decide import decide
from schedkit.calendars.model import Calendar
from tests.console.conftest import Console, fresh_console, open_tab, shot
from tests.console.tasks import console_registry

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)


class CloseParams(pydantic.BaseModel):
    as_of: date | None = None


CLOSE = Workflow("daily_close", [Step(name="report", task="nightly_report")], params=CloseParams)


@pytest.fixture(scope="module")
def words_console(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    registry = console_registry()
    registry.register_workflow(CLOSE)
    with fresh_console(tmp_path_factory, "words", registry) as console:
        yield console


async def _interval_error(dialog: Locator, every: str) -> Locator:
    await dialog.get_by_label("每隔").fill(every)
    return dialog.locator(".field:has(input[type=number]) .field-error")


async def test_the_interval_errors_of_the_schedule_editor(
    browser: Browser, words_console: Console
) -> None:
    tab = await open_tab(browser, words_console.token, width=1280, lang="zh")
    tab.expected_statuses.add(422)  # the previews of the bad intervals
    try:
        page = tab.page
        await page.goto(words_console.base + "tasks/nightly_report")
        await page.locator("button[data-action='schedule']").first.click()
        dialog = page.get_by_role("dialog", name="nightly_report")
        await dialog.get_by_label("固定间隔").check()
        error = await _interval_error(dialog, "")
        await expect(error).to_have_text("间隔必须大于零。")
        await _interval_error(dialog, "99999999999")
        await expect(error).to_have_text(
            "该调度永远不会触发：首次触发将晚于 9999-12-29 23:59:59 UTC，即支持的最晚日期。"
        )
        await _interval_error(dialog, "0")
        await expect(error).to_have_text("间隔必须大于零。")
        await shot(page, "interval-zero-zh")
    finally:
        await tab.context.close()
    assert tab.unexpected_errors() == []


async def _backfill(page: Page, console: Console, start: str, end: str) -> Locator:
    """The backfill dialog of schedule ``crunch-minutely`` asked for ``start``..``end``:
    its error line."""
    await page.goto(console.base + "tasks/crunch")
    row = page.locator('tr[data-schedule="crunch-minutely"]')
    await row.get_by_role("button", name="回填：crunch-minutely").click()
    dialog = page.get_by_role("dialog", name="回填 crunch-minutely")
    await dialog.get_by_label("开始日期（含）").fill(start)
    await dialog.get_by_label("结束日期（含）").fill(end)
    await dialog.get_by_role("button", name="开始回填").click()
    return dialog.locator(".form-error")


async def test_backfill_errors_name_the_form_fields_and_show_local_times(
    browser: Browser, words_console: Console
) -> None:
    """No 404 either: the dialog of a schedule never backfilled asked for its backfill
    (the browser logged "Failed to load resource ... 404")."""
    words_console.api.post(
        "/tasks/crunch/schedule",
        params={"schedule_id": "crunch-minutely"},
        json={"trigger": "interval", "minutes": 1},
    ).raise_for_status()
    tab = await open_tab(browser, words_console.token, width=1280, lang="zh")
    tab.expected_statuses.add(422)  # the bad ranges; a 404 is not expected
    try:
        error = await _backfill(tab.page, words_console, "2025-01-01", "2025-03-01")
        await expect(error).to_have_text(
            "输入无效：结束日期（含）: 该范围内本调度的触发超过 1,000 次，即单次回填可创建的"
            "上限（limits.max_backfill_fires）：请拆分范围。"
        )
        error = await _backfill(tab.page, words_console, "2030-01-01", "2030-01-05")
        # From the first day's midnight to now (the end is cut there), in the console's zone.
        await expect(error).to_have_text(
            re.compile(
                r"^输入无效：开始日期（含）: 范围 2030-01-01 00:00:00 – "
                r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d 为空：开始须早于结束，且在过去。$"
            )
        )
        await shot(tab.page, "backfill-future-zh")
    finally:
        await tab.context.close()
    assert tab.unexpected_errors() == []


async def test_a_param_a_workflow_does_not_take(browser: Browser, words_console: Console) -> None:
    tab = await open_tab(browser, words_console.token, width=1280, lang="zh")
    tab.expected_statuses.add(422)
    try:
        page = tab.page
        await page.goto(words_console.base + "workflows")
        await page.locator('button[data-action="start"][data-workflow="daily_close"]').click()
        dialog = page.get_by_role("dialog", name="启动 daily_close")
        await dialog.get_by_label("参数").fill('{"foo": 1}')
        await dialog.get_by_role("button", name="立即启动").click()
        await expect(dialog.locator(".form-error")).to_have_text(
            "输入无效：foo: 工作流 daily_close 没有参数“foo”（它的参数：as_of）。"
        )
    finally:
        await tab.context.close()
    assert tab.unexpected_errors() == []


async def _error_text(page: Page, path: str, body: Any) -> str:
    """What the console says of the server's answer to PUT ``path`` with ``body``."""
    said: str = await page.evaluate(
        """async ([path, body]) => {
            const { api } = await import("./assets/api.js");
            const { errorText } = await import("./assets/components.js");
            try {
                await api(path, { method: "PUT", body });
            } catch (err) {
                return errorText(err);
            }
            return "saved";
        }""",
        [path, body],
    )
    return said


async def test_a_field_of_the_request_the_form_does_not_show_is_not_named(
    browser: Browser, words_console: Console
) -> None:
    """An empty notice read "输入无效：overrides: 该通知没有关闭…": the box is the notice's
    text, "overrides" a name of the request alone."""
    tab = await open_tab(browser, words_console.token, width=1280, lang="zh")
    tab.expected_statuses.add(422)
    try:
        await tab.page.goto(words_console.base + "calendars")
        body = {"text": "", "format": "notice", "confirmed": True}
        said = await _error_text(tab.page, "/calendar-notices/2031", body)
    finally:
        await tab.context.close()
    assert said.startswith("输入无效：该通知没有关闭 2031 年的任何一天"), said
    assert tab.unexpected_errors() == []


# -- festivals and calendar sources -------------------------------------------------------------


async def test_festivals_are_named_in_chinese(browser: Browser, words_console: Console) -> None:
    """chinese-calendar and holidays name the festivals in English: a skipped run read
    "日历 cn_workdays：2026-10-07 关闭 (National Day)（依据：…）", a day's tooltip
    "National Day"."""
    days = words_console.api.get("/calendars/cn_workdays/years/2026", params={"lang": "zh"}).json()[
        "days"
    ]
    reason = {d["date"]: d["reason"] for d in days}
    assert (
        reason["2026-10-01"]
        == "日历 cn_workdays：2026-10-01 关闭（chinese-calendar 官方数据，国庆节）"
    )
    assert reason["2026-05-01"].endswith("，劳动节）")
    assert reason["2026-02-17"].endswith("，春节）")
    assert reason["2026-10-10"].endswith("，国庆节调休上班）")
    # The reason a run skipped by the calendar keeps, in English, as the scheduler wrote it.
    skipped = decide(Calendar(name="cn_workdays", base="cn_workdays"), date(2026, 10, 7)).reason()
    assert (
        skipped
        == "calendar cn_workdays: 2026-10-07 closed (National Day), decided by chinese-calendar"
    )
    workday = decide(Calendar(name="cn_workdays", base="cn_workdays"), date(2026, 10, 10)).reason()
    # A year only holidays estimates: its names, a festival moved off a weekend.
    moved = decide(Calendar(name="cn_workdays", base="cn_workdays"), date(2030, 2, 7)).reason()
    assert "(Chinese New Year (Spring Festival) (observed))" in moved

    tab = await open_tab(browser, words_console.token, width=1280, lang="zh")
    try:
        page = tab.page
        await page.goto(words_console.base + "calendars/cn_workdays?year=2026")
        await expect(page.locator('[data-date="2026-10-01"]')).to_have_attribute(
            "title", reason["2026-10-01"]
        )
        said = await page.evaluate(
            """async (reasons) => {
                const { said } = await import("./assets/components.js");
                return reasons.map((reason) => said(reason));
            }""",
            [skipped, workday, moved],
        )
        main = await page.locator("main").inner_text()
    finally:
        await tab.context.close()
    assert said == [
        "日历 cn_workdays：2026-10-07 关闭（国庆节）（依据：chinese-calendar 官方数据）",
        "日历 cn_workdays：2026-10-10 开放（国庆节调休上班）（依据：chinese-calendar 官方数据）",
        "日历 cn_workdays：2030-02-07 关闭（春节（补休））（依据：holidays 包，未确认）",
    ]
    assert not re.search(r"National Day|Spring Festival|Labou?r Day", main)
    assert tab.unexpected_errors() == []


@pytest.mark.parametrize(
    ("lang", "summary"),
    [
        ("en", "Monday to Friday: 261 open days, confirmed (decided by the base rule)."),
        ("zh", "周一至周五：261 个开放日，已确认（依据：基础规则）。"),
    ],
)
async def test_the_year_summary_says_its_source_in_words(
    browser: Browser, words_console: Console, lang: str, summary: str
) -> None:
    """It showed the source's code: "已确认（依据：base）"."""
    tab = await open_tab(browser, words_console.token, width=1280, lang=lang)
    try:
        await tab.page.goto(words_console.base + "calendars/weekdays?year=2026")
        await expect(tab.page.locator(".cal-summary")).to_have_text(summary)
    finally:
        await tab.context.close()
    assert tab.unexpected_errors() == []


# -- the demo's Run now form ---------------------------------------------------------------------

#: The example tasks' fields as pydantic titled them, and their English help.
ENGLISH_FIELDS = re.compile(
    r"As Of|Within Days|Notify|Keep Last|Include Scheduler|Business date|Report contracts|"
    r"Send the list|Backups kept|schedules and run history"
)


@pytest.mark.parametrize(
    ("task", "labels"),
    [
        ("contract_expire_check", ["业务日期", "提前天数", "发送通知"]),
        ("data_backup", ["保留备份份数", "包含调度器数据"]),
    ],
)
async def test_the_demo_run_now_form_reads_in_chinese(
    browser: Browser, demo_console: Console, task: str, labels: list[str]
) -> None:
    tab = await open_tab(browser, demo_console.token, width=1280, lang="zh")
    try:
        page = tab.page
        await page.goto(demo_console.base + "tasks")
        await page.get_by_role("button", name=f"立即执行：{task}").click()
        dialog = page.get_by_role("dialog", name=f"立即执行 {task}")
        for label in labels:
            await expect(dialog.get_by_label(label, exact=True)).to_be_visible()
        await shot(page, f"run-now-{task}-zh")
        text = await dialog.inner_text()
    finally:
        await tab.context.close()
    assert not ENGLISH_FIELDS.search(text), text
    assert tab.unexpected_errors() == []
