"""The web console in a real browser against a real server (see conftest.py)."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Browser, Page, Route, expect

from tests.console.conftest import HOST_COOKIE, Browsing, Console, open_tab

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)


async def _wait_live(page: Page) -> None:
    """The event stream is connected: updates from now on arrive without reloading."""
    await expect(page.locator("#live")).to_have_attribute("data-state", "live")


async def _mark_page(page: Page) -> None:
    await page.evaluate("window.__noReload = true")


async def _assert_not_reloaded(page: Page) -> None:
    assert await page.evaluate("window.__noReload === true"), "the page was reloaded"


async def test_login_with_token_then_task_list(anonymous: Browsing, console: Console) -> None:
    page = anonymous.page
    await page.goto(console.base + "tasks")
    # Not signed in: the login view, remembering where we wanted to go.
    await expect(page).to_have_url(console.base + "login")
    await page.get_by_label("API token").fill(console.token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(console.base + "tasks")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Tasks")
    rows = page.locator("tbody tr[data-task]")
    await expect(rows).to_have_count(3)
    for name in ("crunch", "greet", "nightly_report"):
        await expect(page.locator(f'tr[data-task="{name}"]')).to_be_visible()
    nightly = page.locator('tr[data-task="nightly_report"]')
    await expect(nightly).to_contain_text("every day at 02:00")
    # Next fire in the scheduler's zone (Asia/Shanghai), not the browser's (Europe/Paris).
    await expect(nightly.locator("time").first).to_have_text(re.compile(r" 02:00:00$"))
    await expect(page.locator("#tz-note")).to_contain_text("Asia/Shanghai")
    # Filters by category and tag.
    await page.get_by_label("Category").select_option("report")
    await expect(rows).to_have_count(1)
    await page.get_by_label("Category").select_option("")
    await page.get_by_label("Tag").select_option("slow")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-task", "crunch")
    await expect(page).to_have_url(re.compile(r"tasks\?tag=slow$"))
    await _wait_live(page)


async def test_wrong_token_shows_error(anonymous: Browsing, console: Console) -> None:
    page = anonymous.page
    await page.goto(console.base)
    await expect(page).to_have_url(console.base + "login")
    token = page.get_by_label("API token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#token-error")).to_have_text("Paste a token first.")
    await token.fill("skt_not-a-real-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#token-error")).to_have_text(
        "This token is invalid or has been revoked (401)."
    )
    await expect(token).to_have_attribute("aria-invalid", "true")
    await expect(page).to_have_url(console.base + "login")
    assert await page.evaluate("sessionStorage.getItem('schedkit.token')") is None


async def test_run_now_form_then_run_turns_success_live(
    signed_in: Browsing, console: Console
) -> None:
    signed_in.expected_statuses.add(422)  # the out-of-range value below, on purpose
    page = signed_in.page
    await page.goto(console.base + "tasks")
    await _wait_live(page)
    await _mark_page(page)
    row = page.locator('tr[data-task="greet"]')
    await row.get_by_role("button", name="Run now: greet").click()

    dialog = page.get_by_role("dialog", name="Run greet now")
    await expect(dialog).to_be_visible()
    # Inputs built from the declared parameters' JSON Schema.
    name = dialog.get_by_label("Name")
    times = dialog.get_by_label("Times")
    await expect(times).to_have_attribute("type", "number")
    await expect(times).to_have_value("1")  # the declared default
    await expect(dialog.get_by_label("Loud")).to_have_attribute("type", "checkbox")
    await expect(dialog.get_by_label("Day")).to_have_attribute("type", "date")
    await expect(dialog.get_by_label("Mode").locator("option")).to_have_text(["fast", "careful"])

    await name.fill("Ada")
    await times.fill("50")
    await dialog.get_by_role("button", name="Run", exact=True).click()
    # The API's 422 names kwargs.times: the message is shown next to that input.
    times_error = dialog.locator('.field:has(input[name="times"]) .field-error')
    await expect(times_error).to_have_text("Must be at most 10.")  # not pydantic's words
    await expect(times).to_have_attribute("aria-invalid", "true")

    await times.fill("2")
    await dialog.get_by_label("Loud").check()
    await dialog.get_by_label("Day").fill("2026-01-05")
    await dialog.get_by_label("Mode").select_option(label="careful")
    await dialog.get_by_role("button", name="Run", exact=True).click()
    await expect(dialog).to_be_hidden()

    view = page.locator(".toast").get_by_role("link", name="View run")
    href = await view.get_attribute("href")
    assert href is not None and href.startswith("runs/")
    run_id = href.removeprefix("runs/")
    last = row.locator('td[data-col="last-run"] .last-run')
    await expect(last).to_have_attribute("data-run-id", run_id)
    await expect(last).to_have_attribute("data-status", "running")
    await expect(last).to_have_attribute("data-status", "success")
    await expect(last.locator(".badge")).to_have_text("Success")
    await _assert_not_reloaded(page)

    run = console.api.get(f"/runs/{run_id}").json()
    assert run["kwargs"] == {
        "name": "Ada",
        "times": 2,
        "loud": True,
        "day": "2026-01-05",
        "mode": "careful",
    }
    assert run["result"]["message"] == "HELLO Ada"


async def test_run_now_form_says_its_own_words_in_chinese(
    browser: Browser, console: Console
) -> None:
    """An audit: in Chinese the Run now form's labels were the schema's English titles.
    Those are the task's data and stay as its code gives them ("Name", "Times", written
    by pydantic from the field names); the form's own words are Chinese: each field's
    type, its default (a boolean's too, not the JSON literal), the validation message.
    A field whose type is a model or enum ($ref) is labelled with its own name, not the
    type's title."""
    tab = await open_tab(browser, console.token, width=1280, lang="zh")
    tab.expected_statuses.add(422)  # the out-of-range value below, on purpose
    page = tab.page
    try:
        await page.goto(console.base + "tasks")
        await (
            page.locator('tr[data-task="greet"]')
            .get_by_role("button", name="立即执行：greet")
            .click()
        )
        dialog = page.get_by_role("dialog", name="立即执行 greet")
        labels = dialog.locator(".param-fields .field > label")
        # The schema's titles, as given; the enum field by its own name.
        await expect(labels).to_have_text(["Name *", "Times", "Loud", "Day", "mode"])
        helps = {
            "name": "Who to greet · 文本",  # the description as given, the type in words
            "times": "整数 · 默认值：1",
            "loud": "是/否 · 默认值：否",
            "day": "日期，可选",
        }
        for name, text in helps.items():
            await expect(dialog.locator(f'[data-param="{name}"]')).to_have_accessible_description(
                text
            )
        await page.screenshot(path="/tmp/schedkit-console-run-now-zh.png")
        form_text = await dialog.inner_text()
        assert not re.search(r"\b(?:false|true|text|integer|yes/no|optional|Default)\b", form_text)
        await dialog.locator('[data-param="times"]').fill("50")
        await dialog.get_by_role("button", name="执行", exact=True).click()
        await expect(dialog.locator('.field:has([data-param="times"]) .field-error')).to_have_text(
            "不能大于 10。"
        )
        await expect(dialog.locator(".form-error")).to_have_text("请修正标出的字段。")
    finally:
        await tab.context.close()
    assert tab.unexpected_errors() == []

    tab = await open_tab(browser, console.token, width=1280, lang="en")
    try:
        await tab.page.goto(console.base + "tasks")
        await (
            tab.page.locator('tr[data-task="greet"]')
            .get_by_role("button", name="Run now: greet")
            .click()
        )
        dialog = tab.page.get_by_role("dialog", name="Run greet now")
        await expect(dialog.locator('[data-param="loud"]')).to_have_accessible_description(
            "yes/no · Default: No"
        )
        await expect(dialog.locator('[data-param="day"]')).to_have_accessible_description(
            "date, optional"
        )
        await tab.page.screenshot(path="/tmp/schedkit-console-run-now-en.png")
    finally:
        await tab.context.close()
    assert tab.unexpected_errors() == []


async def test_run_now_sent_again_after_a_lost_answer_creates_one_run(
    signed_in: Browsing, console: Console
) -> None:
    """The server creates the run and the answer never reaches the browser (a proxy
    dropped it): the dialog says so, the operator clicks Run again, and that repeat
    (same idempotency key) answers with the run already created, not a second one."""
    page = signed_in.page
    before = console.api.get("/runs", params={"task": "greet"}).json()["total"]
    keys: list[str | None] = []
    page.on(
        "request",
        lambda r: keys.append(r.headers.get("idempotency-key")) if "/execute" in r.url else None,
    )

    async def answer_lost(route: Route) -> None:
        await route.fetch()  # the server has created the run...
        await route.abort("connectionreset")  # ...and the browser never hears of it

    await page.route("**/tasks/greet/execute*", answer_lost, times=1)
    await page.goto(console.base + "tasks")
    await page.locator('tr[data-task="greet"]').get_by_role("button", name="Run now: greet").click()
    dialog = page.get_by_role("dialog", name="Run greet now")
    await dialog.get_by_label("Name").fill("Once")
    await dialog.get_by_role("button", name="Run", exact=True).click()
    await expect(dialog.locator(".form-error")).not_to_be_empty()
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Run", exact=True).click()
    await expect(dialog).to_be_hidden()
    href = await page.locator(".toast").get_by_role("link", name="View run").get_attribute("href")
    assert href is not None
    assert len(keys) == 2 and keys[0] is not None and keys[0] == keys[1]
    assert console.api.get("/runs", params={"task": "greet"}).json()["total"] == before + 1
    assert console.api.get(f"/runs/{href.removeprefix('runs/')}").json()["kwargs"]["name"] == "Once"
    # The aborted request, on purpose.
    signed_in.errors[:] = [e for e in signed_in.errors if "ERR_CONNECTION_RESET" not in e]


async def test_slow_run_detail_shows_progress_and_logs_live(
    signed_in: Browsing, console: Console
) -> None:
    page = signed_in.page
    await page.goto(console.base + "tasks")
    await _wait_live(page)
    await _mark_page(page)
    row = page.locator('tr[data-task="crunch"]')
    await row.get_by_role("button", name="Run now: crunch").click()
    dialog = page.get_by_role("dialog", name="Run crunch now")
    # No declared parameters: keyword arguments as a JSON object, checked before sending.
    kwargs = dialog.get_by_label("Keyword arguments (JSON)")
    await kwargs.fill("{delay: 0.4")
    await dialog.get_by_role("button", name="Run", exact=True).click()
    await expect(dialog.locator(".field-error").first).to_contain_text("Not valid JSON")
    await kwargs.fill('{"delay": 0.4}')
    await dialog.get_by_role("button", name="Run", exact=True).click()
    await page.locator(".toast").get_by_role("link", name="View run").click()
    await expect(page).to_have_url(re.compile(r"/runs/[0-9a-f]+$"))
    await expect(page.locator(".run-status")).to_have_attribute("data-status", "running")

    progress = page.locator(".progress")
    await expect(progress).to_be_visible()
    first = int(await progress.get_attribute("data-done") or "0")
    lines = page.locator(".log-line")
    seen = await lines.count()
    assert first < 8
    # Progress and log lines advance while we watch.
    await page.wait_for_function(
        "n => Number(document.querySelector('.progress')?.dataset.done) > n", arg=first
    )
    await page.wait_for_function("n => document.querySelectorAll('.log-line').length > n", arg=seen)
    await expect(page.locator("#run-progress")).to_have_attribute("max", "8")
    await expect(page.locator(".run-status")).to_have_attribute("data-status", "success")
    await expect(progress).to_have_attribute("data-done", "8")
    await expect(page.locator(".progress-text")).to_contain_text("8 of 8")
    await expect(lines.filter(has_text="batch 8 of 8 done")).to_have_count(1)
    await expect(lines.filter(has_text="batch 1 of 8 done")).to_have_count(1)
    await expect(page.get_by_role("region", name="Result")).to_contain_text('"crunched"')
    await expect(page.get_by_role("region", name="Timings")).to_contain_text('"delay": 0.4')
    await expect(page.get_by_role("button", name="Run again")).to_be_enabled()
    await expect(page.get_by_role("button", name="Cancel run")).to_be_disabled()
    await _assert_not_reloaded(page)


async def test_cancel_running_run_then_run_again(signed_in: Browsing, console: Console) -> None:
    run_id = console.api.post("/tasks/crunch/execute", json={"kwargs": {"delay": 1}}).json()[
        "run_id"
    ]
    page = signed_in.page
    await page.goto(console.base + f"runs/{run_id}")
    await _wait_live(page)
    await expect(page.locator(".run-status")).to_have_attribute("data-status", "running")
    await page.get_by_role("button", name="Cancel run").click()
    confirm = page.get_by_role("dialog", name="Cancel run")
    await expect(confirm).to_contain_text("Cancel this run?")
    await confirm.get_by_role("button", name="Cancel run").click()
    await expect(page.locator(".run-status")).to_have_attribute("data-status", "cancelled")
    await expect(page.locator(".kv")).to_contain_text("Cancelled by console-admin")
    assert console.api.get(f"/runs/{run_id}").json()["status"] == "cancelled"

    before = console.api.get("/runs", params={"task": "crunch"}).json()["total"]
    await page.get_by_role("button", name="Run again").dblclick()  # one run, not two
    await expect(page).not_to_have_url(re.compile(f"{run_id}$"))
    retry_id = page.url.rsplit("/", 1)[1]
    await expect(page.locator(".run-status")).to_have_attribute("data-status", "running")
    await expect(page.locator(".kv")).to_contain_text("Retry")
    assert console.api.get("/runs", params={"task": "crunch"}).json()["total"] == before + 1
    console.api.post(f"/runs/{retry_id}/cancel", json={}).raise_for_status()
    await expect(page.locator(".run-status")).to_have_attribute("data-status", "cancelled")


async def test_run_again_after_a_lost_answer_creates_one_run(
    signed_in: Browsing, console: Console
) -> None:
    """The retry is created and its answer lost on the way: the page shows the error,
    and the next click (the same key) is answered with that retry, not a second one."""
    done = console.api.post(
        "/tasks/greet/execute", params={"wait": "true"}, json={"kwargs": {"name": "again"}}
    ).json()
    page = signed_in.page

    async def answer_lost(route: Route) -> None:
        await route.fetch()
        await route.abort("connectionreset")

    await page.route("**/retry", answer_lost, times=1)
    await page.goto(console.base + f"runs/{done['run_id']}")
    before = console.api.get("/runs", params={"task": "greet"}).json()["total"]
    await page.get_by_role("button", name="Run again").click()
    await expect(page.locator(".toast.toast-error")).to_be_visible()
    await page.get_by_role("button", name="Run again").click()
    await expect(page).not_to_have_url(re.compile(f"{done['run_id']}$"))
    assert console.api.get("/runs", params={"task": "greet"}).json()["total"] == before + 1
    signed_in.errors[:] = [e for e in signed_in.errors if "ERR_CONNECTION_RESET" not in e]


async def test_pause_with_note_then_resume(signed_in: Browsing, console: Console) -> None:
    page = signed_in.page
    await page.goto(console.base + "tasks")
    row = page.locator('tr[data-task="nightly_report"]')
    await row.get_by_role("button", name="Pause: nightly_report").click()
    dialog = page.get_by_role("dialog", name="Pause nightly_report")
    await dialog.get_by_label("Note (why it is paused)").fill("Waiting for upstream data")
    await dialog.get_by_role("button", name="Pause", exact=True).click()
    await expect(dialog).to_be_hidden()

    state = row.locator(".pause-state")
    await expect(state.locator(".badge-paused")).to_have_text("Paused")
    await expect(state).to_contain_text("Waiting for upstream data")
    await expect(row).to_have_attribute("data-paused", "true")
    schedule = console.api.get("/schedules/nightly_report").json()
    assert schedule["paused"] is True
    assert schedule["pause_note"] == "Waiting for upstream data"

    await row.get_by_role("button", name="Resume: nightly_report").click()
    await expect(row).to_have_attribute("data-paused", "false")
    await expect(row.locator(".badge-paused")).to_have_count(0)
    assert console.api.get("/schedules/nightly_report").json()["paused"] is False


async def test_edit_schedule_with_live_preview(signed_in: Browsing, console: Console) -> None:
    signed_in.expected_statuses.add(422)  # the invalid expression below, on purpose
    page = signed_in.page
    await page.goto(console.base + "tasks")
    row = page.locator('tr[data-task="crunch"]')
    await row.get_by_role("button", name="Edit schedule: crunch").click()
    dialog = page.get_by_role("dialog", name="Edit schedule of crunch")
    expression = dialog.get_by_label("Cron expression")
    await expect(expression).to_have_value("0 2 * * *")
    preview = dialog.locator("ol.preview li")
    await expect(preview).to_have_count(5)

    await expression.fill("*/15 * * * *")
    await expect(dialog.locator(".preview-text")).to_contain_text("every 15 minutes")
    await expect(preview).to_have_count(5)
    times = await preview.all_inner_texts()
    assert all(re.search(r" \d\d:(00|15|30|45):00$", text) for text in times), times

    await expression.fill("61 * * * *")
    expression_error = dialog.locator(".field:has(> input.mono) .field-error")
    await expect(expression_error).to_contain_text("61")
    await expect(expression).to_have_attribute("aria-invalid", "true")

    await dialog.get_by_label("Interval").check()
    await dialog.get_by_label("Every").fill("30")
    await dialog.get_by_label("Unit").select_option("minutes")
    await expect(dialog.locator(".preview-text")).to_contain_text("every 30 minutes")
    await expect(preview).to_have_count(5)
    await dialog.get_by_role("button", name="Save schedule").click()
    await expect(dialog).to_be_hidden()
    await expect(row.locator(".schedule-cell")).to_contain_text("every 30 minutes")

    audit = console.api.get("/audit", params={"action": "schedule.put"}).json()
    assert audit["items"][0]["target"] == "crunch"
    await page.get_by_role("link", name="Audit log").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    await expect(page.locator("tbody tr").first).to_contain_text("Schedule set")
    console.api.delete("/tasks/crunch/schedule").raise_for_status()


async def test_edit_schedule_chooses_where_its_runs_execute(
    signed_in: Browsing, console: Console
) -> None:
    page = signed_in.page
    await page.goto(console.base + "tasks")
    row = page.locator('tr[data-task="crunch"]')
    edit = row.get_by_role("button", name="Edit schedule: crunch")
    dialog = page.get_by_role("dialog", name="Edit schedule of crunch")
    executor = dialog.get_by_label("Executed by")
    save = dialog.get_by_role("button", name="Save schedule")
    await edit.click()
    await expect(executor).to_have_value("")  # the task's own choice
    await executor.select_option(label="Celery workers")
    await save.click()
    await expect(dialog).to_be_hidden()
    assert console.api.get("/schedules/crunch").json()["executor"] == "celery"
    # Shown when the editor opens again; set back to the task's choice.
    await edit.click()
    await expect(executor).to_have_value("celery")
    await executor.select_option(label="As the task says")
    await save.click()
    await expect(dialog).to_be_hidden()
    assert console.api.get("/schedules/crunch").json()["executor"] is None
    console.api.delete("/tasks/crunch/schedule").raise_for_status()


async def test_edit_schedule_of_a_one_off_says_it_runs_once(
    signed_in: Browsing, console: Console
) -> None:
    """An audit: the form of a one-off (``schedkit schedule … --at``) showed Cron
    "0 2 * * *" and five daily fires, and Save replaced the one-off with a daily run."""
    console.api.post(
        "/tasks/crunch/schedule", json={"trigger": "date", "run_date": "2027-03-05T23:00:00+08:00"}
    ).raise_for_status()
    page = signed_in.page
    await page.goto(console.base + "tasks")
    await (
        page.locator('tr[data-task="crunch"]')
        .get_by_role("button", name="Edit schedule: crunch")
        .click()
    )
    dialog = page.get_by_role("dialog", name="Edit schedule of crunch")
    await expect(dialog.get_by_role("note")).to_have_text(
        "This schedule runs once, at 2027-03-05 23:00:00. Saving here replaces it with the "
        "repeating schedule set below."
    )
    await dialog.get_by_role("button", name="Cancel").click()
    console.api.delete("/tasks/crunch/schedule").raise_for_status()


async def test_runs_view_filters_with_total(signed_in: Browsing, console: Console) -> None:
    response = console.api.post(
        "/tasks/greet/execute", params={"wait": "true"}, json={"kwargs": {"name": "r"}}
    )
    assert response.status_code == 200
    total = console.api.get("/runs", params={"task": "greet", "status": "success"}).json()["total"]
    page = signed_in.page
    await page.goto(console.base + "runs")
    # The time filter is on the scheduled time (an audit: Chinese called it 开始时间, the
    # word of the "started" column).
    await expect(page.get_by_label("Scheduled from")).to_be_visible()
    await page.get_by_label("Task").select_option("greet")
    await page.get_by_label("Status").select_option("success")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator(".pager-range")).to_have_text(f"1–{total} of {total}")
    rows = page.locator("tbody tr[data-run]")
    await expect(rows).to_have_count(total)
    for status in await rows.evaluate_all("rows => rows.map(r => r.dataset.status)"):
        assert status == "success"
    await expect(page).to_have_url(re.compile(r"runs\?task=greet&status=success$"))
    # A run's row links to its detail page.
    await rows.first.get_by_role("link").first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Run "))


async def test_switch_language_to_chinese(signed_in: Browsing, console: Console) -> None:
    page = signed_in.page
    await page.goto(console.base + "tasks")
    await expect(page.locator("tbody tr[data-task]")).to_have_count(3)
    await page.screenshot(path="/tmp/schedkit-console-tasks-en.png", full_page=True)

    await page.get_by_label("Language").select_option("zh")
    await expect(page.get_by_role("heading", level=1)).to_have_text("任务")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    nav = page.get_by_role("navigation")
    await expect(nav.get_by_role("link")).to_have_text(
        ["概览", "任务", "运行记录", "工作流", "节点", "业务日历", "审计日志"]
    )
    await expect(page.locator("thead th")).to_contain_text(["名称", "调度计划", "下次触发", "操作"])
    greet = page.locator('tr[data-task="greet"]')
    await expect(greet.get_by_role("button", name="立即执行：greet")).to_have_text("立即执行")
    # Schedule texts come from the API in the chosen language.
    await expect(page.locator('tr[data-task="nightly_report"]')).to_contain_text("每天 02:00")
    await expect(page.locator("#live")).to_have_text("实时")
    await page.screenshot(path="/tmp/schedkit-console-tasks-zh.png", full_page=True)

    # Remembered across reloads.
    await page.reload()
    await expect(page.get_by_role("heading", level=1)).to_have_text("任务")
    await expect(page.get_by_label("语言")).to_have_value("zh")
    await page.get_by_label("语言").select_option("en")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Tasks")


#: The full-width punctuation of ``el`` that begins a line, with the text before it
#: (a character begins a line when it sits lower than the one before it).
LINE_STARTS = """el => {
  const NO_START = /[、。，．：；！？）】》」』〕〉”’]/;
  const NO_END = /[（【《「『〔〈“‘]/;
  const found = [];
  const chars = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++) {
      if (/\\s/.test(node.data[i])) continue;
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (rect) chars.push([node.data[i], rect.top]);
    }
  }
  for (let i = 1; i < chars.length; i++) {
    const broken = chars[i][1] > chars[i - 1][1] + 2;
    const bad = NO_START.test(chars[i][0]) || NO_END.test(chars[i - 1][0]);
    if (broken && bad) found.push(chars.slice(Math.max(0, i - 4), i + 2).map(c => c[0]).join(""));
  }
  return found;
}"""


#: LINE_STARTS of a cell at each width from 100 to 420 px: {text: first width found}.
SWEEP = """td => {
  const starts = LINE_STARTS;
  const found = {};
  for (let px = 100; px < 420; px += 2) {
    td.style.width = td.style.minWidth = td.style.maxWidth = px + "px";
    for (const text of starts(td)) if (!(text in found)) found[text] = px;
  }
  return found;
}"""


async def test_chinese_schedule_descriptions_keep_punctuation_off_line_starts(
    browser: Browser, console: Console
) -> None:
    """An audit: a Chinese schedule description wrapped so that a line began with "，"
    (a column just too narrow for "（Asia/Shanghai），": the cells break long words
    anywhere). A full-width comma, stop or closing bracket stays with the character
    before it, an opening bracket with the one after it, at any width of the column."""
    schedules = {
        "desc-workdays": {"trigger": "cron", "hour": 8, "minute": 30, "calendar": "cn_workdays"},
        "desc-london": {
            "trigger": "cron",
            "expression": "*/15 9-17 * * 1-5",
            "timezone": "Europe/London",
            "calendar": "cn_skip_holidays",
        },
    }
    for sid, body in schedules.items():
        console.api.post(
            "/tasks/nightly_report/schedule", params={"schedule_id": sid}, json=body
        ).raise_for_status()
    try:
        # The schedules table of the task page, the schedule column of the task list.
        places = {
            "tasks/nightly_report": 'tr[data-schedule^="desc-"] td.wrap:not(.ids)',
            "tasks": 'tr[data-task="nightly_report"] td.wrap',
        }
        for width in (1280, 390):
            tab = await open_tab(browser, console.token, width=width, lang="zh")
            try:
                page = tab.page
                for path, selector in places.items():
                    await page.goto(console.base + path)
                    cells = page.locator(selector)
                    await expect(cells.first).to_contain_text("跳过中国法定节假日")
                    name = path.replace("/", "-")
                    await page.screenshot(
                        path=f"/tmp/schedkit-console-{name}-zh-{width}.png", full_page=True
                    )
                    for index in range(await cells.count()):
                        cell = cells.nth(index)
                        assert await cell.evaluate(LINE_STARTS) == [], (path, width, index)
                        if width != 1280:
                            continue
                        # Every width the column may take (it wraps from 8rem up), in
                        # one call: a round trip per width took most of a minute.
                        found = await cell.evaluate(SWEEP.replace("LINE_STARTS", LINE_STARTS))
                        assert found == {}, (path, index, found)
            finally:
                await tab.context.close()
            assert tab.unexpected_errors() == []
    finally:
        for sid in schedules:
            console.api.delete(f"/schedules/{sid}").raise_for_status()


async def test_embedded_in_a_host_app_with_its_cookie_login(
    embedded: str, anonymous: Browsing
) -> None:
    """No token: the host's session cookie authenticates the API calls and the stream.
    (``embedded`` comes first so that the browser context closes before the host stops.)"""
    page = anonymous.page
    await page.goto(embedded + "tasks")
    await expect(page).to_have_url(embedded + "login")  # no cookie yet: not signed in

    name, value = HOST_COOKIE
    # As after signing in to the host application:
    await anonymous.context.add_cookies(
        [{"name": name, "value": value, "domain": "127.0.0.1", "path": "/"}]
    )
    await page.goto(embedded + "tasks")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Tasks")
    await expect(page.locator("tbody tr[data-task]")).to_have_count(3)
    await expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    await _wait_live(page)
    assert await page.evaluate("sessionStorage.getItem('schedkit.token')") is None
    # Actions are taken as the host's user: the audit log names her.
    await page.get_by_role("button", name="Run now: greet").click()
    dialog = page.get_by_role("dialog", name="Run greet now")
    await dialog.get_by_label("Name").fill("Bob")
    await dialog.get_by_role("button", name="Run", exact=True).click()
    await expect(page.locator(".toast")).to_contain_text("started")
    await page.get_by_role("link", name="Audit log").click()
    await expect(page).to_have_url(embedded + "audit")
    first = page.locator("tbody tr").first
    await expect(first).to_contain_text("alice")
    await expect(first).to_contain_text("Run started")


async def test_a_run_ending_while_its_page_loads_is_shown_ended(
    signed_in: Browsing, console: Console
) -> None:
    """An audit: a retry that ended while its page was loading (its read answered
    "running", its finished event came before the page listened) showed "Running" until
    the page's 5-second re-read. The first read of the new run is held here past its end."""
    done = console.api.post(
        "/tasks/greet/execute", params={"wait": "true"}, json={"kwargs": {"name": "slow"}}
    ).json()
    page = signed_in.page
    held: list[str] = []

    async def hold_first_read(route: Route) -> None:
        url = route.request.url
        if route.request.method == "GET" and done["run_id"] not in url and not held:
            held.append(url)
            response = await route.fetch()  # read while the run still runs (0.6 s)
            await asyncio.sleep(1.5)  # ... and answered after it ended
            await route.fulfill(response=response)
            return
        await route.continue_()

    await page.goto(console.base + f"runs/{done['run_id']}")
    await _wait_live(page)
    await page.route(re.compile(r"/api/v1/scheduler/runs/[^/?]+$"), hold_first_read)
    await page.get_by_role("button", name="Run again").click()
    await expect(page).not_to_have_url(re.compile(f"{done['run_id']}$"))
    await expect(page.locator(".run-status")).to_have_attribute(
        "data-status", "success", timeout=3_000
    )
    assert held, "the new run's page read was not held"
