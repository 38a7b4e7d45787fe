"""An attempt that does not succeed says so, in the node's log and at the end of the
run's own log. An audit (nodes on PostgreSQL): a run that timed out, retried or not,
left no line in any log (``GET /runs/{id}/logs`` empty, the node's log silent), where a
failed attempt's line was in the node's log only."""

from __future__ import annotations

import asyncio
import logging

import pytest

from schedkit import RunStatus, Scheduler, task

from .conftest import MakeScheduler

sql_stores = pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)


@task("overruns", category="t", timeout=0.3, retry={"max_retries": 1, "retry_delay": 0.01})
async def overruns() -> None:
    await asyncio.sleep(30)


@task("raises", category="t", retry={"max_retries": 0})
async def raises() -> None:
    raise ValueError("bad row 7")


def said(caplog: pytest.LogCaptureFixture, run_id: str) -> list[tuple[str, str]]:
    return [
        (r.levelname, r.getMessage())
        for r in caplog.records
        if r.name.startswith("schedkit.task.") and r.getMessage().startswith(f"run {run_id} ")
    ]


async def run_log(s: Scheduler, run_id: str) -> list[tuple[int, str, str]]:
    return [(line.attempt, line.level, line.message) for line in await s.get_logs(run_id)]


@sql_stores
async def test_a_timed_out_attempt_is_logged_like_a_failed_one(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    s = await make_scheduler(overruns)
    with caplog.at_level(logging.INFO, logger="schedkit.task"):
        run = await s.run_now("overruns", wait=True, timeout=10)
    assert run.status is RunStatus.TIMEOUT
    lines = [
        (
            "WARNING",
            f"run {run.id} of overruns timed out (attempt 1 of 2, will be retried): "
            "TimeoutError: run exceeded its timeout of 0.3 s",
        ),
        (
            "ERROR",
            f"run {run.id} of overruns timed out (attempt 2 of 2): "
            "TimeoutError: run exceeded its timeout of 0.3 s",
        ),
    ]
    assert said(caplog, run.id) == lines
    assert await run_log(s, run.id) == [(1, *lines[0]), (2, *lines[1])]


@sql_stores
async def test_a_failed_attempt_s_line_ends_the_run_s_log_too(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    s = await make_scheduler(raises)
    with caplog.at_level(logging.INFO, logger="schedkit.task"):
        run = await s.run_now("raises", wait=True, timeout=10)
    line = ("ERROR", f"run {run.id} of raises failed (attempt 1 of 1): ValueError: bad row 7")
    assert said(caplog, run.id) == [line]
    assert await run_log(s, run.id) == [(1, *line)]


@sql_stores
async def test_a_cancelled_run_says_who_stopped_it(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    started = asyncio.Event()

    @task("waits", category="t", retry={"max_retries": 0})
    async def waits() -> None:
        started.set()
        await asyncio.sleep(30)

    s = await make_scheduler(waits)
    with caplog.at_level(logging.INFO, logger="schedkit.task"):
        run = await s.run_now("waits")
        await asyncio.wait_for(started.wait(), 10)
        await s.cancel_run(run.id, actor="alice")
        ended = await s.wait_for_run(run.id, timeout=10)
    assert ended.status is RunStatus.CANCELLED
    line = ("INFO", f"run {run.id} of waits stopped (attempt 1 of 1): cancelled by alice")
    assert said(caplog, run.id) == [line]
    # Not in the run's own log: its page shows the stop and the reason in the reader's
    # language (a Chinese page ended with this English line).
    assert await run_log(s, run.id) == []
