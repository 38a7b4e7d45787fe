"""The workflow pages in Chromium: the definitions drawn as graphs, a run's graph coloured
by step state with per-step timings and reasons, Retry on a failed step, a node leading
to its run, in English and Chinese."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pydantic
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Route, expect

from schedkit import Step, TaskRegistry, Workflow, task
from schedkit.engine.reaper import silence_reason
from schedkit.models import RunStatus
from tests.console.conftest import (
    Browsing,
    Console,
    fresh_console,
    open_tab,
)
from tests.console.test_first_hour import assert_fits
from tests.store._contract import make_run

FAIL = {"on": True}


@task("wf_collect", category="demo", retry={"max_retries": 0})
def collect() -> dict[str, Any]:
    return {"success": True, "message": "collected", "data": {"customers": 3}}


@task("wf_settle", category="demo", retry={"max_retries": 0})
def settle() -> dict[str, Any]:
    if FAIL["on"]:
        raise RuntimeError("settlement service down")
    return {"success": True, "message": "settled"}


@task("wf_report", category="demo", retry={"max_retries": 0})
def report() -> dict[str, Any]:
    return {"success": True, "message": "reported"}


class CloseParams(pydantic.BaseModel):
    day: date | None = None


FLOW = Workflow(
    "nightly_close",
    [
        Step(name="collect", task="wf_collect"),
        Step(name="settle", task="wf_settle", after=("collect",)),
        Step(name="report", task="wf_report", after=("settle",)),
        Step(name="alert_ops", task="wf_report", after=("settle",), on="failure"),
    ],
    description="日终结算",
    params=CloseParams,
)


@pytest.fixture(scope="module")
def wf_console(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    registry = TaskRegistry()
    for t in (collect, settle, report):
        registry.register_task(t)
    registry.register_workflow(FLOW)
    with fresh_console(tmp_path_factory, "console-wf", registry) as console:
        yield console


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: Browser, wf_console: Console) -> AsyncIterator[Browsing]:
    browsing = await open_tab(browser, wf_console.token)
    try:
        yield browsing
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []


def failed_run(console: Console) -> str:
    FAIL["on"] = True
    run_id: str = console.api.post("/workflows/nightly_close/start", json={}).json()["id"]
    deadline = time.monotonic() + 30
    while console.api.get(f"/workflow-runs/{run_id}").json()["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return run_id


@pytest.mark.asyncio(loop_scope="module")
async def test_the_workflows_page_draws_each_definition(tab: Browsing, wf_console: Console) -> None:
    run_id = failed_run(wf_console)
    page = tab.page
    await page.goto(wf_console.base + "workflows")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Workflows")
    graph = page.locator("svg.wf-graph")
    await expect(graph).to_have_attribute("aria-label", "Steps of nightly_close")
    await expect(graph.locator(".wf-node")).to_have_count(4)
    await expect(graph.locator(".wf-edge")).to_have_count(3)
    await expect(graph.locator(".wf-edge-failure")).to_have_count(1)
    # Layers become columns: settle sits right of collect, report and alert_ops share one.
    boxes = {
        name: await graph.locator(f'.wf-node[data-step="{name}"]').bounding_box()
        for name in ("collect", "settle", "report", "alert_ops")
    }
    assert all(b is not None for b in boxes.values())
    assert boxes["collect"]["x"] < boxes["settle"]["x"] < boxes["report"]["x"]  # type: ignore[index]
    assert boxes["report"]["x"] == boxes["alert_ops"]["x"]  # type: ignore[index]
    # Styled by app.css (an unclosed rule once left every box SVG's default black fill,
    # its text black on black).
    fill = await graph.locator(".wf-node rect").first.evaluate("e => getComputedStyle(e).fill")
    assert fill != "rgb(0, 0, 0)", fill
    dash = await graph.locator(".wf-edge-failure").first.evaluate(
        "e => getComputedStyle(e).strokeDasharray"
    )
    assert dash != "none", dash
    row = page.locator(f'tr[data-workflow-run="{run_id}"]')
    await expect(row).to_contain_text("Failed")
    await row.get_by_role("link").click()
    await expect(page).to_have_url(wf_console.base + f"workflow-runs/{run_id}")


@pytest.mark.asyncio(loop_scope="module")
async def test_a_run_shows_each_step_and_retry_continues(
    tab: Browsing, wf_console: Console
) -> None:
    run_id = failed_run(wf_console)
    page = tab.page
    await page.goto(wf_console.base + f"workflow-runs/{run_id}")
    graph = page.locator("svg.wf-graph")
    states = {"collect": "success", "settle": "failed", "report": "skipped", "alert_ops": "success"}
    for step, state in states.items():
        await expect(graph.locator(f'.wf-node[data-step="{step}"]')).to_have_attribute(
            "data-state", state
        )
    report_row = page.locator('tr[data-step="report"]')
    await expect(report_row).to_contain_text("The workflow stopped (step settle: Failed)")
    settle_row = page.locator('tr[data-step="settle"]')
    await expect(settle_row).to_contain_text("settlement service down")
    await expect(settle_row.locator("td").nth(4)).to_have_text("1")  # attempt
    # What a successful step reported (an audit: it showed nowhere on the page).
    await expect(page.locator('tr[data-step="collect"]')).to_contain_text("collected")
    await page.screenshot(path="/tmp/schedkit-console-workflow-run-en.png", full_page=True)

    FAIL["on"] = False  # fixed: the operator retries the failed step
    await settle_row.get_by_role("button", name="Retry step").click()
    await expect(page.locator(".toast")).to_contain_text("Step settle sent back to run.")
    await expect(page.locator(".run-status")).to_have_attribute(
        "data-status", "success", timeout=20_000
    )
    await expect(graph.locator('.wf-node[data-step="report"]')).to_have_attribute(
        "data-state", "success"
    )
    await expect(page.locator('tr[data-step="settle"] td').nth(4)).to_have_text("2")
    # The step's run page gives its failed attempt's error (an audit: under "Failed
    # attempts" each attempt showed a bare "Error" heading, the error itself left out).
    await page.goto(wf_console.base + f"runs/{await _run_id(wf_console, run_id, 'settle')}")
    await expect(page.locator(".error-info").first).to_contain_text(
        "RuntimeError: settlement service down"
    )
    await page.goto(wf_console.base + f"workflow-runs/{run_id}")

    # A node with a run leads to that run.
    await graph.locator('.wf-node[data-step="collect"]').click()
    await expect(page).to_have_url(
        wf_console.base + f"runs/{(await _run_id(wf_console, run_id, 'collect'))}"
    )
    # ... whose page names the workflow run and step, and links back.
    back = page.get_by_role("link", name=f"Step collect of workflow run {run_id[-8:]}")
    await expect(back).to_be_visible()
    await expect(page.get_by_text(f"Workflow run {run_id[-8:]}", exact=True)).to_be_visible()
    await back.click()
    await expect(page).to_have_url(wf_console.base + f"workflow-runs/{run_id}")


async def _run_id(console: Console, run_id: str, step: str) -> str:
    body = console.api.get(f"/workflow-runs/{run_id}").json()
    return next(s["run"]["id"] for s in body["steps"] if s["name"] == step)


@pytest.mark.asyncio(loop_scope="module")
async def test_the_run_page_in_chinese(browser: Browser, wf_console: Console) -> None:
    run_id = failed_run(wf_console)
    browsing = await open_tab(browser, wf_console.token, lang="zh")
    try:
        page = browsing.page
        await page.goto(wf_console.base + f"workflow-runs/{run_id}")
        await expect(page.get_by_role("heading", level=1)).to_have_text(f"工作流运行 {run_id[-8:]}")
        await expect(page.locator('tr[data-step="report"]')).to_contain_text(
            "工作流已停止（步骤 settle：失败）"
        )
        await expect(page.locator('tr[data-step="alert_ops"]')).to_contain_text("有上游步骤失败")
        await expect(page.locator("svg.wf-graph")).to_have_attribute(
            "aria-label", "nightly_close 的步骤"
        )
        await expect(page.get_by_role("link", name="工作流").first).to_be_visible()
        await page.screenshot(path="/tmp/schedkit-console-workflow-run-zh.png", full_page=True)
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []


@pytest.mark.asyncio(loop_scope="module")
async def test_start_now_with_params_from_the_console(tab: Browsing, wf_console: Console) -> None:
    FAIL["on"] = False
    page = tab.page
    await page.goto(wf_console.base + "workflows")
    await page.get_by_role("button", name="Start now").click()
    dialog = page.get_by_role("dialog", name="Start nightly_close")
    params = dialog.get_by_label("Params")
    await params.fill("[1, 2]")
    await dialog.get_by_role("button", name="Start now").click()
    await expect(dialog.locator(".field-error").first).to_contain_text("Enter a JSON object")
    # Refused by the server: the message names the param as the JSON object has it (not
    # the request's "params.day") and what it takes (a date).
    tab.expected_statuses.add(422)
    await params.fill('{"day": "tomorrow"}')
    await dialog.get_by_role("button", name="Start now").click()
    await expect(dialog).to_contain_text("Invalid input: day: Enter a date (YYYY-MM-DD).")
    await params.fill('{"day": "2026-12-01"}')
    await dialog.get_by_role("button", name="Start now").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Workflow run")
    await expect(page.locator(".run-status")).to_have_attribute("data-status", "success")
    await expect(page.locator("pre.json")).to_contain_text('"day": "2026-12-01"')


@pytest.mark.asyncio(loop_scope="module")
async def test_start_now_sent_again_after_a_lost_answer_starts_one_run(
    tab: Browsing, wf_console: Console
) -> None:
    """The start is carried out and its answer lost on the way: the dialog says so, and
    the second click (the same idempotency key) opens that run instead of a second."""
    FAIL["on"] = False
    page = tab.page
    runs = "/workflow-runs?workflow=nightly_close"
    before = wf_console.api.get(runs).json()["total"]

    async def answer_lost(route: Route) -> None:
        await route.fetch()
        await route.abort("connectionreset")

    await page.route("**/workflows/nightly_close/start", answer_lost, times=1)
    await page.goto(wf_console.base + "workflows")
    await page.get_by_role("button", name="Start now").click()
    dialog = page.get_by_role("dialog", name="Start nightly_close")
    await dialog.get_by_label("Params").fill('{"day": "2026-12-05"}')
    await dialog.get_by_role("button", name="Start now").click()
    await expect(dialog.locator(".form-error")).not_to_be_empty()
    await dialog.get_by_role("button", name="Start now").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Workflow run")
    await expect(page.locator(".run-status")).to_have_attribute("data-status", "success")
    assert wf_console.api.get(runs).json()["total"] == before + 1
    tab.errors[:] = [e for e in tab.errors if "ERR_CONNECTION_RESET" not in e]


# A long name, as real ones are: the steps table must still fit 1280 px (an audit saw
# "eod_positions_contract" push the Actions column out of view while a step waited).
@task(
    "wf_fetch_bank_statement_files_of_every_region",
    category="demo",
    retry={"max_retries": 2, "retry_delay": 600, "jitter": 0},
)
def fetch() -> dict[str, Any]:
    raise RuntimeError("the bank's file is not there yet")


RETRYING = Workflow(
    "morning_import",
    [
        Step(name="fetch", task="wf_fetch_bank_statement_files_of_every_region"),
        Step(name="load", task="wf_report", after=("fetch",)),
    ],
)


@pytest.fixture(scope="module")
def retry_console(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    registry = TaskRegistry()
    for t in (fetch, report):
        registry.register_task(t)
    registry.register_workflow(RETRYING)
    with fresh_console(tmp_path_factory, "console-wf-retry", registry) as console:
        yield console


def _waiting_for_retry(console: Console) -> tuple[str, dict[str, Any]]:
    """A run of morning_import whose step fetch failed once and waits for its retry."""
    run_id: str = console.api.post("/workflows/morning_import/start", json={}).json()["id"]
    deadline = time.monotonic() + 20
    while True:
        steps = console.api.get(f"/workflow-runs/{run_id}").json()["steps"]
        run = next(s["run"] for s in steps if s["name"] == "fetch")
        if run and run["status"] == "pending" and run["failed_attempts"] == 1:
            return run_id, run
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_step_waiting_for_its_retry_says_so_and_when(
    browser: Browser, retry_console: Console
) -> None:
    """An audit: a step whose attempt failed and whose retry was due in ten minutes
    showed as plain "Pending", like a step that had not started, its message "—"."""
    run_id, run = _waiting_for_retry(retry_console)
    failure = "the bank's file is not there yet"
    assert run["last_failure"] == {"type": "RuntimeError", "message": failure}
    when = (
        datetime.fromisoformat(run["not_before"])
        .astimezone(ZoneInfo("Asia/Shanghai"))
        .strftime("%Y-%m-%d %H:%M:%S")
    )
    expected = {
        "en": ("Waiting to retry", f"Retries at {when}", "Pending", "Last attempt failed: "),
        "zh": ("等待重试", f"将于 {when} 重试", "等待中", "上次尝试失败："),
    }
    no_result = {
        "en": "No result yet: the run waits for its next attempt.",
        "zh": "暂无结果：该运行正在等待下一次尝试。",
    }
    for lang, (state, at, plain, failed) in expected.items():
        tab = await open_tab(browser, retry_console.token, width=1280, lang=lang)
        try:
            page = tab.page
            await page.goto(retry_console.base + f"workflow-runs/{run_id}")
            row = page.locator('tr[data-step="fetch"]')
            await expect(row.locator(".badge")).to_have_text(state)
            await expect(row.locator(".retry-at")).to_have_text(at)
            await expect(row).not_to_contain_text(plain)
            # Its message says what the attempt failed with (it was "—").
            await expect(row).to_contain_text(failed + failure)
            node = page.locator('.wf-node[data-step="fetch"]')
            await expect(node).to_have_attribute("data-state", "pending")
            await expect(node.locator(".wf-node-detail")).to_contain_text(when[11:16])
            await expect(node).to_have_attribute("aria-label", f"fetch: {state} · {at}")
            await assert_fits(page, "section:has(tr[data-step]) .table-wrap")
            # The step's own run page says the same.
            await page.screenshot(
                path=f"/tmp/schedkit-console-workflow-retry-{lang}.png", full_page=True
            )
            await row.get_by_role("link", name=re.compile("View run|查看运行详情")).click()
            await expect(page.locator(".run-status .badge")).to_have_text(state)
            # Not "the run has not started" (an audit): its first attempt ran.
            await expect(page.locator(".no-result")).to_have_text(no_result[lang])
        finally:
            await tab.context.close()
        assert tab.unexpected_errors() == []


@pytest.mark.asyncio(loop_scope="module")
async def test_a_cancelled_step_says_what_ended_it(
    browser: Browser, retry_console: Console
) -> None:
    """An audit: a cancelled (or lost) step's message was "—", its run having a reason
    and no error."""
    run_id, run = _waiting_for_retry(retry_console)
    cancelled = retry_console.api.post(
        f"/runs/{run['id']}/cancel", json={"reason": "the bank is closed today"}
    )
    assert cancelled.status_code == 200, cancelled.text
    tab = await open_tab(browser, retry_console.token, width=1280)
    try:
        await tab.page.goto(retry_console.base + f"workflow-runs/{run_id}")
        row = tab.page.locator('tr[data-step="fetch"]')
        await expect(row.locator(".badge")).to_have_text("Cancelled")
        await expect(row).to_contain_text("the bank is closed today")
    finally:
        await tab.context.close()
    assert tab.unexpected_errors() == []


@pytest.mark.asyncio(loop_scope="module")
async def test_a_lost_runs_reason_reads_in_both_languages(
    browser: Browser, retry_console: Console
) -> None:
    """The reaper's reason, in the console's language and zone (an audit: raw UTC ISO),
    as the reaper writes it in UTC and in another zone (+08:00: the run page of every lost
    run failed with "Invalid time value" when the reaper began writing the node's zone)."""
    last = datetime(2026, 12, 2, 7, 59, 25, tzinfo=UTC)
    run = make_run(status=RunStatus.RUNNING, node_id="n", started_at=last, heartbeat_at=last)
    reasons = [
        silence_reason(run, timedelta(seconds=20), last + timedelta(seconds=35), zone)
        for zone in (UTC, ZoneInfo("Asia/Shanghai"))
    ]
    assert reasons[0].endswith("2026-12-02 07:59:25 UTC)")
    assert reasons[1].endswith("2026-12-02 15:59:25 +08:00)")
    expected = {
        "en": "No heartbeat from its node for 35 s (over lost_after 20 s; last at {})".format(
            "2026-12-02 15:59:25"
        ),
        "zh": "所在节点已 35 秒无心跳（超过 lost_after 20 秒；最后一次：2026-12-02 15:59:25）",
    }
    for lang, text in expected.items():
        tab = await open_tab(browser, retry_console.token, width=1280, lang=lang)
        try:
            await tab.page.goto(retry_console.base + "workflows")
            shown = await tab.page.evaluate(
                """async (reasons) => {
                    const { said } = await import("./assets/components.js");
                    return reasons.map((reason) => said(reason));
                }""",
                reasons,
            )
        finally:
            await tab.context.close()
        assert shown == [text, text]
    # A time in a form the console does not know is shown as written, not a broken page.
    odd = "no heartbeat from its node for 35 s (over lost_after 20 s; last at soon)"
    tab = await open_tab(browser, retry_console.token, width=1280)
    try:
        await tab.page.goto(retry_console.base + "workflows")
        shown_odd = await tab.page.evaluate(
            """async (reason) => (await import("./assets/components.js")).said(reason)""", odd
        )
    finally:
        await tab.context.close()
    assert shown_odd == odd


@pytest.mark.asyncio(loop_scope="module")
async def test_step_skip_reasons_read_in_both_words(tab: Browsing, wf_console: Console) -> None:
    """workflows/plan.py words a step's end after its name ("step slow timed out"; it
    said "step slow timeout", read as a step named so); reasons stored before read too."""
    page = tab.page
    await page.goto(wf_console.base + "workflows")
    said = await page.evaluate(
        """async () => {
            const { serverText } = await import("./assets/messages.js");
            const ctx = { time: (x) => x, duration: (x) => x, range: (a, b) => a + b };
            return [
                "the workflow stopped: step slow timed out",
                "the workflow stopped: step slow timeout",
                "upstream step b was cancelled",
                "upstream step b cancelled",
            ].map((text) => serverText(text, ctx));
        }"""
    )
    assert said == [
        "The workflow stopped (step slow: Timed out)",
        "The workflow stopped (step slow: Timed out)",
        "Upstream step b: Cancelled",
        "Upstream step b: Cancelled",
    ]
