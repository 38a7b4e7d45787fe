"""A retried run's time in the console: across its attempts, retry delays included (as
the CLI's history and ``run --wait`` say it), the last attempt's beside it. Left out last
round: the console showed the last attempt alone ("12 ms" for a run that took seconds)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from schedkit import TaskContext, TaskRegistry, task
from tests.api.helpers import wait_run
from tests.console.conftest import Console, fresh_console, open_tab, shot

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]


@task("settle", retry={"max_retries": 1, "retry_delay": 1.5})
async def settle(ctx: TaskContext) -> dict[str, Any]:
    if ctx.attempt == 1:
        raise ConnectionError("exchange feed closed the connection")
    return {"success": True, "message": "settled"}


@pytest.fixture(scope="module")
def retrying(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    registry = TaskRegistry()
    registry.register_task(settle)
    with fresh_console(tmp_path_factory, "retried", registry) as console:
        yield console


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_a_retried_run_shows_its_time_across_attempts(
    browser: Browser, retrying: Console, lang: str
) -> None:
    created = retrying.api.post("/tasks/settle/execute", json={})
    assert created.status_code == 202, created.text
    run = wait_run(retrying.api, created.json()["run_id"], timeout=15)
    assert run["status"] == "success" and run["attempt"] == 2
    # The read model: the first attempt's start to the end, the retry delay included.
    assert run["duration_across_attempts"] > 1.0 > run["duration"]
    listed = retrying.api.get("/runs", params={"task": "settle"}).json()["items"][0]
    assert listed["duration_across_attempts"] == run["duration_across_attempts"]

    browsing = await open_tab(browser, retrying.token, width=1280, lang=lang)
    page = browsing.page
    try:
        await page.goto(f"{retrying.base}runs/{run['id']}")
        words = (
            r"across 2 attempts, retry delays included \(the last took \d+ ms\)"
            if lang == "en"
            else r"2 次尝试共 .*，含重试等待（最后一次 \d+ 毫秒）"
        )
        await expect(page.locator("body")).to_contain_text(re.compile(words))
        # An audit: "第 2 次，共 2 次" read as two attempts in all; the 2 is the most allowed.
        attempt = page.locator(
            ".kv-row", has=page.locator("dt", has_text=re.compile("^(Attempt|尝试)$"))
        )
        await expect(attempt.locator("dd")).to_have_text(
            "2 (at most 2)" if lang == "en" else "第 2 次（最多 2 次）"
        )
        await shot(page, f"retried-run-{lang}")
        await page.goto(f"{retrying.base}runs?task=settle")
        cell = page.locator(f"tr:has(a[href$='{run['id']}']) .duration-across")
        await expect(cell).to_have_count(1)
        seconds = float(re.sub(r"[^\d.]", "", await cell.inner_text()))
        assert seconds > 1.0, await cell.inner_text()
        assert "2" in (await cell.get_attribute("title") or "")
        await shot(page, f"retried-runs-{lang}")
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []
