"""Audit findings of a first hour with the console, in Chromium at 1280 px in English and
Chinese: a workflow node cut a task name short with room to spare, a backfill run named
its schedule by the store's internal key (``<id>:backfill``), and the edit dialog's
preview of an unchanged interval listed a new series, not the one the schedule keeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from schedkit import Step, Workflow, task
from tests.console.conftest import Browsing, Console, fresh_console, open_tab, shot
from tests.console.tasks import console_registry

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)

#: A name longer than the default node width fits (an audit's "customer_status_auto_up…").
LONG_TASK = "customer_status_auto_update"
#: Longer than any node grows: cut, whole in the tooltip.
VERY_LONG_TASK = "reconcile_settlements_with_every_external_bank_statement_feed"


@task(LONG_TASK, retry={"max_retries": 0})
def status_update() -> dict[str, Any]:
    return {"success": True, "message": "updated"}


@task(VERY_LONG_TASK, retry={"max_retries": 0})
def reconcile() -> dict[str, Any]:
    return {"success": True, "message": "reconciled"}


FLOW = Workflow(
    "daily_contract_close",
    [
        Step(name="customer_status", task=LONG_TASK),
        Step(name="reconcile", task=VERY_LONG_TASK, after=("customer_status",)),
        Step(name="daily_report", task="nightly_report", after=("reconcile",), on="always"),
    ],
)


@pytest.fixture(scope="module")
def console(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    registry = console_registry()
    for t in (status_update, reconcile):
        registry.register_task(t)
    registry.register_workflow(FLOW)
    with fresh_console(tmp_path_factory, "names", registry) as console:
        yield console


@pytest_asyncio.fixture(loop_scope="module", params=["en", "zh"])
async def tab(
    request: pytest.FixtureRequest, browser: Browser, console: Console
) -> AsyncIterator[Browsing]:
    browsing = await open_tab(browser, console.token, width=1280, lang=request.param)
    try:
        yield browsing
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []


async def _lang(page: Page) -> str:
    return str(await page.evaluate("localStorage.getItem('schedkit.lang')"))


async def test_a_workflow_node_shows_a_long_task_name_whole(
    tab: Browsing, console: Console
) -> None:
    page = tab.page
    await page.goto(console.base + "workflows")
    graph = page.locator("svg.wf-graph")
    node = graph.locator('.wf-node[data-step="customer_status"]')
    await expect(node.locator(".wf-node-detail")).to_have_text(LONG_TASK)
    # Every text inside its box.
    for step in ("customer_status", "reconcile", "daily_report"):
        box = graph.locator(f'.wf-node[data-step="{step}"]')
        width = float(await box.locator("rect").get_attribute("width") or 0)
        for cls in (".wf-node-name", ".wf-node-detail"):
            text_w = await box.locator(cls).evaluate("e => e.getBBox().x + e.getBBox().width")
            assert text_w <= width - 8, (step, cls, text_w, width)
    # Longer than a node grows: cut, the whole name in the node's tooltip.
    long_node = graph.locator('.wf-node[data-step="reconcile"]')
    shown = await long_node.locator(".wf-node-detail").text_content() or ""
    assert shown.endswith("…") and VERY_LONG_TASK.startswith(shown[:-1]) and len(shown) > 30
    await expect(long_node.locator("title")).to_have_text(f"reconcile: {VERY_LONG_TASK}")
    await shot(page, f"workflows-{await _lang(page)}")


async def test_a_backfill_run_names_its_schedule_not_the_store_key(
    tab: Browsing, console: Console
) -> None:
    if not console.api.get("/runs", params={"trigger_source": "backfill"}).json()["total"]:
        started = console.api.post(
            "/schedules/nightly_report/backfill", json={"start": "2026-11-01", "end": "2026-11-01"}
        )
        assert started.status_code == 202, started.text
    runs = console.api.get("/runs", params={"trigger_source": "backfill"}).json()["items"]
    assert runs and runs[0]["schedule_id"] == "nightly_report:backfill"  # the store's key
    page = tab.page
    await page.goto(console.base + f"runs/{runs[0]['id']}")
    cell = page.locator('[data-backfill-of="nightly_report"]')
    await expect(cell.locator("code")).to_have_text("nightly_report")
    await expect(cell.locator(".badge")).to_have_text(
        "Backfill" if await _lang(page) == "en" else "回填"
    )
    await expect(page.locator("main")).not_to_contain_text("nightly_report:backfill")
    await shot(page, f"run-backfill-{await _lang(page)}")


PREVIEW_FIRES = "[...document.querySelectorAll('dialog[open] .preview time')].map(e => e.dateTime)"


async def test_the_edit_preview_of_an_unchanged_interval_lists_its_stored_series(
    tab: Browsing, console: Console
) -> None:
    if console.api.get("/schedules/nr-20s").status_code == 404:
        console.api.post(
            "/tasks/nightly_report/schedule",
            params={"schedule_id": "nr-20s"},
            json={"trigger": "interval", "seconds": 20},
        ).raise_for_status()
        await asyncio.sleep(1.5)  # a series started from now would be off by this much
    page = tab.page
    await page.goto(console.base + "tasks")
    await page.locator('tr[data-task="nightly_report"] button[data-action="schedule"]').click()
    dialog = page.locator("dialog[open]")
    await dialog.locator(".schedule-form select").first.select_option("nr-20s")
    fires: list[datetime] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the preview of the schedule chosen (debounced)
        fires = [datetime.fromisoformat(f) for f in await page.evaluate(PREVIEW_FIRES)]
        if len(fires) == 5 and fires[1] - fires[0] == timedelta(seconds=20):
            break
        await page.wait_for_timeout(100)
    assert len(fires) == 5 and fires[1] - fires[0] == timedelta(seconds=20), fires
    stored = datetime.fromisoformat(console.api.get("/schedules/nr-20s").json()["next_fire_time"])
    assert [(f - stored) % timedelta(seconds=20) for f in fires] == [timedelta(0)] * 5
    await shot(page, f"edit-preview-{await _lang(page)}")
