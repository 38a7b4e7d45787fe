"""Entering a part of the 2027 holiday notice on the console's calendar page: a dialog
names the statutory holidays it leaves open, in English and Chinese, and enters the
text only if the operator says so, as a part that confirms nothing."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.console.conftest import Console, open_tab

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)

#: The console audit's notice: 元旦, 春节 and 国庆 only.
PART_2027 = """\
放假 2027-01-01 至 2027-01-03 元旦
放假 2027-02-06 至 2027-02-12 春节
上班 2027-02-14 春节调休
放假 2027-10-01 至 2027-10-07 国庆节
"""
LEFT_OPEN = {
    "en": [
        "2027-02-05 (Chinese New Year's Eve)",
        "2027-04-05 (Tomb-Sweeping Day)",
        "2027-05-01 (Labor Day)",
        "2027-05-02 (Labor Day)",
        "2027-06-09 (Dragon Boat Festival)",
        "2027-09-15 (Mid-Autumn Festival)",
    ],
    "zh": [
        "2027-02-05（农历除夕）",
        "2027-04-05（清明节）",
        "2027-05-01（劳动节）",
        "2027-05-02（劳动节）",
        "2027-06-09（端午节）",
        "2027-09-15（中秋节）",
    ],
}


async def test_a_notice_in_part_asks_first_and_confirms_nothing(
    browser: Browser, console: Console
) -> None:
    """An audit: the notice above saved without a word on this page, marked 2027
    confirmed (已确认), the warning went, and 2027-04-05 (清明) became a workday."""
    tab = await open_tab(browser, console.token)
    tab.expected_statuses.add(409)
    page = tab.page
    try:
        await page.goto(console.base + "calendars/cn_workdays?year=2027")
        qingming = page.locator('[data-date="2027-04-05"]')
        makeup = page.locator('[data-date="2027-02-14"]')
        await expect(qingming).to_have_class("cal-day cal-closed cal-estimated")
        await page.get_by_label("State Council holiday notice for 2027").fill(PART_2027)
        await page.get_by_role("button", name="Enter the notice").click()
        dialog = page.get_by_role("dialog", name="Enter only part of the 2027 notice?")
        await expect(dialog).to_contain_text(
            "The text leaves open 5 statutory holidays that the holidays package's estimate closes:"
        )
        await expect(dialog.locator("li")).to_have_text(LEFT_OPEN["en"])
        await expect(dialog).to_contain_text("2027 stays not confirmed")
        await page.screenshot(path="/tmp/schedkit-console-notice-partial-en.png")
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_have_count(0)
        await expect(makeup).to_have_class("cal-day cal-closed cal-estimated")  # not entered

        # Entered anyway: its days decide, the estimate keeps 清明 closed, the warning stays.
        await page.get_by_role("button", name="Enter the notice").click()
        await dialog.get_by_role("button", name="Enter anyway, as part of the notice").click()
        await expect(page.locator(".toast").last).to_contain_text(
            "Entered as part of the notice: 18 days, 17 off and 1 worked; 2027 stays not confirmed."
        )
        await expect(makeup).to_have_class("cal-day cal-open cal-entered")
        await expect(qingming).to_have_class("cal-day cal-closed cal-estimated")
        await expect(page.locator(".calendar-warnings")).to_contain_text(
            "calendar cn_workdays for 2027 not confirmed"
        )
        await expect(page.locator(".cal-summary")).to_contain_text("estimated")
        notice = console.api.get("/calendar-notices/2027").json()
        assert (notice["days"], notice["confirmed"]) == (18, False)

        # In Chinese: a text of one line first drops the part entered (the replace
        # dialog), then leaves eight holidays open (劳动节 by its second day).
        await page.get_by_label("Language").select_option("zh")
        await page.get_by_label("国务院 2027 年节假日安排通知").fill("放假 2027-05-01 劳动节")
        await page.get_by_role("button", name="录入通知").click()
        replace = page.get_by_role("dialog", name="替换 2027 年的通知？")
        await replace.get_by_role("button", name="替换通知").click()
        dialog = page.get_by_role("dialog", name="只录入 2027 年通知的一部分？")
        await expect(dialog).to_contain_text(
            "该文本没有放假安排以下 8 个法定节日（holidays 包的推算中为放假日）："
        )
        await expect(dialog.locator("li").first).to_have_text("2027-01-01（元旦）")
        await expect(dialog.locator("li")).to_have_count(12)  # each day off by law left open
        await expect(dialog).to_contain_text("2027 年保持未确认")
        await page.screenshot(path="/tmp/schedkit-console-notice-partial-zh.png")
        await dialog.get_by_role("button", name="仍然录入（作为部分通知）").click()
        await expect(page.locator(".toast").last).to_contain_text(
            "已按部分通知录入：共 1 天，放假 1 天，上班 0 天；2027 年保持未确认。"
        )
        await expect(makeup).to_have_class("cal-day cal-closed cal-estimated")
        await expect(page.locator(".calendar-warnings")).to_contain_text(
            "日历 cn_workdays 的 2027 年数据未确认"
        )
    finally:
        await tab.context.close()
    assert tab.unexpected_errors() == []


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_the_servers_refusal_reads_in_the_operators_language(
    browser: Browser, console: Console, lang: str
) -> None:
    """The server's own sentence (so a rewording there shows here), as a toast would say
    it: each holiday by its date and its name in the console's language."""
    answer = console.api.put("/calendar-notices/2027", json={"text": PART_2027, "replace": True})
    assert answer.status_code == 409, answer.text
    detail = answer.json()["detail"]
    tab = await open_tab(browser, console.token, lang=lang)
    try:
        await tab.page.goto(console.base + "calendars")
        said = await tab.page.evaluate(
            """async (detail) => {
                const { serverText } = await import("./assets/messages.js");
                return serverText(detail, {});
            }""",
            detail,
        )
    finally:
        await tab.context.close()
    listed = ("、" if lang == "zh" else ", ").join(LEFT_OPEN[lang])
    expected = {
        "en": "The 2027 notice leaves open 5 statutory holidays that the holidays package's "
        f"estimate closes: {listed}. Entered as the whole notice, those days would be "
        "workdays",
        "zh": "2027 年通知没有放假安排 5 个法定节日（holidays 包的推算中为放假日）："
        f"{listed}。若按完整通知录入，这些日子会成为工作日",
    }
    assert said.startswith(expected[lang]), said
