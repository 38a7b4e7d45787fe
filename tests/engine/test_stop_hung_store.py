"""A node's stop with a store that hangs (docs/deployment.md, "Stop timeouts").

An audit: a node whose MongoDB (FerretDB) answered no query, or whose PostgreSQL was
behind a partition dropping packets, had not stopped 2 minutes after the signal: each of
the stop's writes (the runs' ends, the lease's release, the node's row) waited for the
driver's timeout (60 s), one after another. Real servers behind a TCP proxy that holds
their traffic. SQLite has no connection that can hang this way (a local file: the
process's own threads write it).
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from schedkit import RunStatus, Scheduler, TaskRegistry, task
from schedkit.stopping import STOP_WRITES_AFTER_GRACE
from tests.api.test_token_outage import through
from tests.store.proxy import Proxy

from .conftest import fast_config

pytestmark = [
    pytest.mark.external_service,
    pytest.mark.parametrize("store_url", ["postgres", "mongo"], indirect=True),
]

GRACE = 0.5


async def test_a_stop_gives_up_on_a_store_that_hangs_and_says_what_it_did_not_record(
    store_url: str, proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    @task("long_export", category="t")
    async def long_export() -> None:
        await asyncio.sleep(60)

    registry = TaskRegistry()
    registry.register_task(long_export)
    s = Scheduler(fast_config(through(proxy, store_url)), registry=registry)
    await s.start()
    try:
        run = await s.run_now("long_export", {})
        for _ in range(200):
            if (await s.get_run(run.id)).status is RunStatus.RUNNING:
                break
            await asyncio.sleep(0.05)
        for _ in range(100):  # the node holds the lease: its release is one of the writes
            if s.is_leader:
                break
            await asyncio.sleep(0.05)
        proxy.held = True
        began = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="schedkit"):
            await asyncio.wait_for(s.stop(grace=GRACE), 60)
        took = time.monotonic() - began
    finally:
        await proxy.cut()
        await s.stop()
    # The grace, the bound of the stop's writes after it, a second for the rest; the
    # tick and claim in flight at the signal wait at most lease_ttl (2 s) and 10 s.
    assert took < GRACE + STOP_WRITES_AFTER_GRACE + 1 + 2 + 10, took
    said = [r for r in caplog.records if "without its store's answer" in r.getMessage()]
    (record,) = said
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert f"the end of run(s) {run.id} is not recorded" in message
    assert "judges them lost (scheduler.lost_after, 3 s)" in message
    assert "the node's row's removal" in message
