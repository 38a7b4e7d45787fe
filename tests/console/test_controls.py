"""The console shows the control characters of data as escapes, as the CLI does (an
audit: a run's parameters, result JSON, log lines and workflow step messages holding
U+202E reversed what followed it; data ``…injected line\\u202eevil"`` read
``…injected line"live``). One helper (dom.js) serves every text the console shows."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from schedkit import Step, TaskContext, TaskRegistry, Workflow, task
from tests.console.conftest import Browsing, Console, fresh_console, open_tab

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)

EVIL = 'FAKE injected line\u202eevil" \x1b[31mred\u2066x\u2069'
#: How the console writes EVIL's controls: each an escape in a span of its own (in JSON,
#: ESC is JSON's own \\u001b already).
ESCAPES = ["\\u202e", "\\x1b", "\\u2066", "\\u2069"]
IN_JSON = ["\\u202e", "\\u2066", "\\u2069"]
RAW = ("\u202e", "\x1b", "\u2066", "\u2069")


@task("echo_text", category="demo", retry={"max_retries": 0})
def echo_text(text: str, ctx: TaskContext) -> dict[str, Any]:
    ctx.logger.info("echo %s", text)
    return {"success": True, "message": f"echoed {text}", "data": {"text": text}}


FLOW = Workflow("echo_flow", [Step(name="say", task="echo_text", kwargs={"text": EVIL})])


def finished_workflow_run(console: Console) -> str:
    run_id: str = console.api.post("/workflows/echo_flow/start", json={}).json()["id"]
    deadline = time.monotonic() + 20
    while console.api.get(f"/workflow-runs/{run_id}").json()["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return run_id


@pytest.fixture(scope="module")
def ctl_console(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    registry = TaskRegistry()
    registry.register_task(echo_text)
    registry.register_workflow(FLOW)
    with fresh_console(tmp_path_factory, "console-ctl", registry) as console:
        yield console


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: Browser, ctl_console: Console) -> AsyncIterator[Browsing]:
    browsing = await open_tab(browser, ctl_console.token)
    try:
        yield browsing
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []


async def _shown_escaped(page: Page, where: str, escapes: list[str] = ESCAPES) -> None:
    """``where`` shows EVIL's controls as escapes, each in its own marked span, and no
    control itself."""
    box = page.locator(where)
    await expect(box.locator(".ctl").first).to_be_visible()
    text = await box.inner_text()
    for raw in RAW:
        assert raw not in text, (where, raw, text)
    marks = await box.locator(".ctl").all_inner_texts()
    assert marks[: len(escapes)] == escapes, (where, marks)
    assert await box.locator(".ctl").first.get_attribute("title") == "U+202E"


async def test_a_run_s_parameters_result_and_log_show_controls_as_escapes(
    tab: Browsing, ctl_console: Console
) -> None:
    api = ctl_console.api
    run = api.post(
        "/tasks/echo_text/execute", params={"wait": "true"}, json={"kwargs": {"text": EVIL}}
    )
    run.raise_for_status()
    run_id = run.json()["run_id"]
    page = tab.page
    await page.goto(ctl_console.base + f"runs/{run_id}")
    await expect(page.locator(".log-line")).to_have_count(1)
    blocks = page.locator("pre.json")
    await expect(blocks).to_have_count(2)  # parameters, result
    await _shown_escaped(page, "pre.json >> nth=0", IN_JSON)
    await _shown_escaped(page, "pre.json >> nth=1", IN_JSON)
    await _shown_escaped(page, ".log-line .log-msg")
    # The JSON block still reads as the same JSON value.
    params = await blocks.nth(0).inner_text()
    assert '"text": "FAKE injected line\\u202eevil\\" \\u001b[31mred\\u2066x\\u2069"' in params
    main = await page.locator("main").inner_text()
    for raw in RAW:
        assert raw not in main


async def test_a_workflow_step_s_message_shows_controls_as_escapes(
    tab: Browsing, ctl_console: Console
) -> None:
    wf_run = finished_workflow_run(ctl_console)
    page = tab.page
    await page.goto(ctl_console.base + f"workflow-runs/{wf_run}")
    await _shown_escaped(page, 'tr:has-text("say")')
