"""The actions a caller's role may not take are offered disabled, saying why. An audit: a
viewer saw Run now, Pause, Drain … enabled, and learnt "没有权限" only after filling in
their forms."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Locator, expect

from schedkit import Step, Workflow
from tests.console.conftest import Console, fresh_console, open_tab, shot
from tests.console.tasks import console_registry

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)

READ_ONLY = {
    "en": "Your role (viewer) is read-only.",
    "zh": "当前角色（只读）仅可查看，不能执行操作。",
}


@pytest.fixture(scope="module")
def roles_console(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    registry = console_registry()
    registry.register_workflow(Workflow("nightly", [Step(name="report", task="nightly_report")]))
    with fresh_console(tmp_path_factory, "roles", registry) as console:
        console.api.put(
            "/calendars/office", json={"base": "weekdays", "expected_version": 0}
        ).raise_for_status()
        yield console


def token(console: Console, role: str) -> str:
    created = console.api.post("/tokens", json={"name": f"{role}-{time.time_ns()}", "role": role})
    created.raise_for_status()
    secret: str = created.json()["secret"]
    return secret


def finished_run(console: Console) -> str:
    run_id: str = console.api.post(
        "/tasks/nightly_report/execute", params={"wait": "true"}, json={}
    ).json()["run_id"]
    return run_id


async def assert_denied(button: Locator, why: str) -> None:
    await expect(button).to_be_disabled()
    await expect(button).to_have_attribute("title", why)


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_a_viewer_sees_every_action_disabled(
    browser: Browser, roles_console: Console, lang: str
) -> None:
    run_id = finished_run(roles_console)
    why = READ_ONLY[lang]
    tab = await open_tab(browser, token(roles_console, "viewer"), width=1280, lang=lang)
    try:
        page = tab.page
        await page.goto(roles_console.base + "tasks")
        row = page.locator('tr[data-task="nightly_report"]')
        for action in ("run", "pause", "schedule"):
            await assert_denied(row.locator(f'button[data-action="{action}"]'), why)
        await shot(page, f"viewer-tasks-{lang}")
        await page.goto(roles_console.base + "tasks/nightly_report")
        await assert_denied(page.locator('button[data-action="backfill"]').first, why)
        await assert_denied(page.locator('.page-head button[data-action="run"]'), why)
        await page.goto(roles_console.base + f"runs/{run_id}")
        await assert_denied(page.locator('button[data-action="retry"]'), why)
        await page.goto(roles_console.base + "workflows")
        await assert_denied(page.locator('button[data-action="start"]'), why)
        await page.goto(roles_console.base + "nodes")
        drain = page.locator("tr[data-node] button")
        await assert_denied(drain, why)
        await page.goto(roles_console.base + "calendars/office?year=2026")
        await assert_denied(page.locator(".cal-form button[type=submit]").first, why)
        # The State Council notice (an admin's entry) on a Chinese calendar.
        await page.goto(roles_console.base + "calendars/cn_workdays?year=2027")
        await assert_denied(page.locator("form button[type=submit]").last, why)
        await shot(page, f"viewer-calendar-{lang}")
    finally:
        await tab.context.close()
    assert tab.unexpected_errors() == []


async def test_an_operator_may_run_but_not_change_schedules(
    browser: Browser, roles_console: Console
) -> None:
    tab = await open_tab(browser, token(roles_console, "operator"), width=1280, lang="zh")
    try:
        page = tab.page
        await page.goto(roles_console.base + "tasks")
        row = page.locator('tr[data-task="nightly_report"]')
        await expect(row.locator('button[data-action="run"]')).to_be_enabled()
        await expect(row.locator('button[data-action="pause"]')).to_be_enabled()
        await assert_denied(
            row.locator('button[data-action="schedule"]'), "需要管理员角色（当前：操作员）。"
        )
        await page.goto(roles_console.base + "nodes")
        await expect(page.locator("tr[data-node] button")).to_be_enabled()
    finally:
        await tab.context.close()
    assert tab.unexpected_errors() == []


async def test_an_admin_sees_every_action_enabled(browser: Browser, roles_console: Console) -> None:
    tab = await open_tab(browser, roles_console.token, width=1280)
    try:
        page = tab.page
        await page.goto(roles_console.base + "tasks")
        row = page.locator('tr[data-task="nightly_report"]')
        for action in ("run", "pause", "schedule"):
            await expect(row.locator(f'button[data-action="{action}"]')).to_be_enabled()
    finally:
        await tab.context.close()
    assert tab.unexpected_errors() == []
