"""The overview's runs-per-hour chart counts every run of the last 24 hours (it comes
from /stats' per_hour, read off the store's rollups), not only the newest 2,000."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.async_api import expect

from schedkit import TaskRegistry
from schedkit.models import Run, RunStatus, utcnow
from schedkit.store import create_store
from tests.console.conftest import DB, Browsing, Console, fresh_console
from tests.store._contract import make_run

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)

HOUR = timedelta(hours=1)
RUNS = 2_500


@pytest.fixture(scope="module")
def console(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A server whose store holds only the runs a test puts there: no task, no schedule."""
    with fresh_console(tmp_path_factory, "chart", TaskRegistry()) as console:
        yield console


async def _insert_history(store_url: str) -> None:
    """RUNS finished runs spread over the chart's hours but its first one (so an hour
    turning during the test leaves them all on the chart)."""
    now = utcnow()
    first = now.replace(minute=0, second=0, microsecond=0) - 22 * HOUR
    span = (now - first) / HOUR - 0.01
    rng = random.Random(11)
    statuses = [RunStatus.SUCCESS] * 5 + [RunStatus.FAILED, RunStatus.SKIPPED]
    runs: list[Run] = []
    for i in range(RUNS):
        at = first + rng.uniform(0, span) * HOUR
        status = rng.choice(statuses)
        runs.append(
            make_run(
                task_name="bulk",
                schedule_id=f"s{i}",
                scheduled_for=at,
                not_before=at,
                created_at=at,
                status=status,
                duration=0.5,
                finished_at=at + timedelta(seconds=1),
            )
        )
    async with create_store(store_url) as store:
        assert len(await store.insert_runs(runs)) == RUNS


async def test_overview_chart_counts_runs_beyond_the_old_2000(
    signed_in: Browsing, console: Console
) -> None:
    assert console.var is not None
    await _insert_history(f"sqlite:///{console.var / DB}")
    page = signed_in.page
    await page.goto(console.base)
    chart = page.locator("svg.chart").first
    await expect(chart).to_be_visible()
    # Each bar segment's tooltip: "HH:MM · Status: n".
    titles = await chart.locator("rect.bar title").all_text_contents()
    counts = [int(t.rsplit(": ", 1)[1]) for t in titles]
    assert sum(counts) == RUNS
    assert {t.split(" · ")[1].split(":")[0] for t in titles} == {"Success", "Failed", "Skipped"}
    await expect(page.locator("main")).not_to_contain_text("The chart shows the latest")
    ticks = await chart.locator("text.tick-x").all_text_contents()
    assert len(ticks) == 8 and all(re.fullmatch(r"\d\d:00", t) for t in ticks), ticks


async def test_a_count_leads_to_its_runs(signed_in: Browsing, console: Console) -> None:
    """An audit: the Failed and Waiting counts named runs one then had to find on the Runs
    page, filter by filter."""
    assert console.var is not None
    async with create_store(f"sqlite:///{console.var / DB}") as store:
        if not await store.count_runs():
            await _insert_history(f"sqlite:///{console.var / DB}")
    failed = console.api.get("/stats", params={"hours": 24}).json()["counts"]["failed"]
    assert failed > 0
    page = signed_in.page
    await page.goto(console.base)
    card = page.locator('a.card[data-count="failed"]')
    await expect(card.locator(".card-value")).to_have_text(f"{failed:,}")
    await card.click()
    await expect(page).to_have_url(
        re.compile(r"/runs\?status=failed&since=\d{4}-\d\d-\d\dT\d\d%3A\d\d$")
    )
    await expect(page.locator("#r-status")).to_have_value("failed")
    await expect(page.locator(".pager")).to_contain_text(f"of {failed}")
    await page.go_back()
    await page.locator('a.card[data-count="pending"]').click()
    await expect(page).to_have_url(re.compile(r"/runs\?status=pending$"))
    await expect(page.locator("#r-status")).to_have_value("pending")
