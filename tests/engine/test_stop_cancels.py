"""A node's stop that cancels the runs still executing after ``scheduler.shutdown_grace``
says so in the log, run by run (docs/deployment.md, "Stop timeouts")."""

from __future__ import annotations

import asyncio
import logging

import pytest

from schedkit import RunStatus, task
from schedkit.store import create_store

from .conftest import MakeScheduler


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # the executor, not a store
async def test_a_stop_logs_each_run_it_cancels_and_how_to_let_it_finish(
    make_scheduler: MakeScheduler, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An audit: a deploy's SIGTERM to a node running a 30 s task recorded the run
    cancelled ("service shut down before the run finished", not retried) after the grace
    without a line in the service's log."""

    @task("long_export", category="t", retry={"max_retries": 2, "retry_delay": 1})
    async def long_export() -> None:
        await asyncio.sleep(30)

    @task("quick", category="t")
    async def quick() -> None:
        return None

    s = await make_scheduler(long_export, quick)
    run = await s.run_now("long_export", {})
    done = await s.run_now("quick", {}, wait=True, timeout=10)
    for _ in range(200):
        if (await s.get_run(run.id)).status is RunStatus.RUNNING:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    with caplog.at_level(logging.WARNING, logger="schedkit.engine"):
        await s.stop(grace=0.2)
    said = [r for r in caplog.records if "shutdown_grace" in r.getMessage()]
    (record,) = said  # the finished run is not named
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert message.startswith(f"run {run.id} of long_export is cancelled after ")
    assert "within scheduler.shutdown_grace (0.2 s)" in message
    assert "recorded cancelled, not retried" in message
    assert '"Stop timeouts"' in message
    seconds = float(message.split(" is cancelled after ")[1].split(" s:")[0])
    assert 0.4 < seconds < 10
    async with create_store(store_url) as store:
        stored = await store.get_run(run.id)
    assert stored is not None and stored.status is RunStatus.CANCELLED
    assert done.id not in message
