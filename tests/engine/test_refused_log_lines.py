"""Log lines the store refuses for good are dropped, and hold up no others; lines that
wait out a store outage are kept however long it lasts.

Found with a fourth attempt's line numbers past a 32-bit column (test_late_attempt_logs):
the node sent the refused batch again every half second, ahead of every newer line, so
no line of any run of the node was stored any more. Here the store refuses lines that
break a constraint added to its table (PostgreSQL refuses a NUL character in a text the
same way). SQL stores: MongoDB has no such constraint here (FerretDB validates nothing).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from schedkit import RunStatus, Scheduler, TaskRegistry, task
from schedkit.clock import SystemClock
from schedkit.engine.progress import FLUSH_INTERVAL, MAX_REFUSALS, RunFeed
from schedkit.errors import StoreError
from schedkit.events import EventBus
from schedkit.logcapture import RunLogBuffer
from schedkit.models import LogLine
from schedkit.store import Store
from tests.api.test_token_outage import through, until
from tests.stopping import stop_or_fail
from tests.store._versions import on_database
from tests.store.proxy import Proxy

from .conftest import MakeScheduler, fast_config

sql_stores = pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)

logger = logging.getLogger(__name__)


@task("reads_poison", category="t", retry={"max_retries": 0})
def reads_poison() -> None:
    logger.warning("field 3 held %s", "poison")


@task("steady", category="t", retry={"max_retries": 0})
def steady() -> None:
    logger.warning("steady line")


async def messages(s: Scheduler, run_id: str) -> list[str]:
    return [line.message for line in await s.get_logs(run_id) if line.logger == __name__]


async def refuse_poison(url: str) -> None:
    """Make the store refuse every log line that says "poison", for good."""

    def add(conn: sa.Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "ALTER TABLE schedkit_run_logs ADD CONSTRAINT no_poison "
                "CHECK (message NOT LIKE '%poison%')"
            )
        else:
            conn.exec_driver_sql(
                "CREATE TRIGGER no_poison BEFORE INSERT ON schedkit_run_logs "
                "WHEN NEW.message LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'no poison'); END"
            )

    await on_database(url, add)


def dropped(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "schedkit.engine.progress" and r.levelno == logging.ERROR
    ]


@sql_stores
async def test_a_line_the_store_refuses_for_good_is_dropped_and_holds_up_no_other(
    store_url: str, make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    s = await make_scheduler(reads_poison, steady)
    await refuse_poison(store_url)
    with caplog.at_level(logging.WARNING, logger="schedkit.engine.progress"):
        refused = await s.run_now("reads_poison", wait=True, timeout=10)
        assert refused.status is RunStatus.SUCCESS
        later = await s.run_now("steady", wait=True, timeout=10)
        # Written before the run's end, past the refused line still waiting.
        assert await messages(s, later.id) == ["steady line"]

        async def gave_up() -> bool:
            return bool(dropped(caplog))

        await until(gave_up, "the refused line dropped", timeout=MAX_REFUSALS * 2)
        await asyncio.sleep(3 * FLUSH_INTERVAL)  # and not sent again
    [error] = dropped(caplog)
    assert error.startswith(
        f"dropped 1 log line(s) of run(s) {refused.id} (1): the store refused them "
        f"{MAX_REFUSALS} times in a row ("
    )
    assert "no_poison" in error or "no poison" in error, error
    assert await messages(s, refused.id) == []


@pytest.mark.external_service
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_lines_wait_out_a_store_outage_longer_than_the_refusals_allow(
    store_url: str, proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    """An outage is not a refusal: the lines logged during it are written once the store
    is back, however many flushes failed meanwhile."""
    logged = asyncio.Event()
    go_on = asyncio.Event()

    @task("logs_in_outage", category="t", retry={"max_retries": 0})
    async def logs_in_outage() -> None:
        await go_on.wait()
        logger.warning("logged while the store was away")
        logged.set()
        await asyncio.sleep(60)

    registry = TaskRegistry()
    registry.register_task(logs_in_outage)
    s = Scheduler(fast_config(through(proxy, store_url)), registry=registry)
    await s.start()
    try:
        run = await s.run_now("logs_in_outage")
        await until(lambda: _running(s, run.id), "the run to start", timeout=10)
        with caplog.at_level(logging.WARNING, logger="schedkit.engine.progress"):
            await proxy.cut()
            go_on.set()
            await asyncio.wait_for(logged.wait(), 10)
            await asyncio.sleep((MAX_REFUSALS + 2) * FLUSH_INTERVAL)
            await proxy.start()  # the server is back, on the same port

            async def written() -> bool:
                return await messages(s, run.id) == ["logged while the store was away"]

            await until(written, "the line written", timeout=20)
        assert dropped(caplog) == []
        failed = [r for r in caplog.records if "will retry" in r.getMessage()]
        assert len(failed) > MAX_REFUSALS, [r.getMessage() for r in failed]
    finally:
        await stop_or_fail(s, grace=1.0)


async def _running(s: Scheduler, run_id: str) -> bool:
    return (await s.get_run(run_id)).status is RunStatus.RUNNING


@sql_stores
async def test_a_refused_batch_is_sent_again_run_by_run_and_dropped_after_the_last_refusal(
    store_url: str, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """The node's writer on its own: a batch of two runs' lines, one of them refused; the
    other run's lines are written at once, the refused run's given up on the
    MAX_REFUSALS-th refusal in a row, after which nothing waits."""
    await refuse_poison(store_url)
    buffer = RunLogBuffer()
    feed = RunFeed(
        store=store, events=EventBus(), clock=SystemClock(), logs=buffer, record=lambda *_: None
    )

    def line(run_id: str, seq: int, message: str) -> LogLine:
        return LogLine(run_id=run_id, seq=seq, attempt=1, ts=datetime.now(UTC), level="INFO",
                       logger=__name__, message=message)  # fmt: skip

    buffer.put_back([line("bad", 0, "ok"), line("good", 0, "a"), line("bad", 1, "poison")])
    with caplog.at_level(logging.WARNING, logger="schedkit.engine.progress"):
        for _ in range(MAX_REFUSALS - 1):
            with pytest.raises(StoreError, match=r"no.poison"):
                await feed.flush()
            assert buffer.pending and dropped(caplog) == []
        buffer.put_back([line("good", 1, "b")])
        await feed.flush()
    assert not buffer.pending
    assert [x.message for x in await store.get_logs("good")] == ["a", "b"]
    assert await store.get_logs("bad") == []
    [error] = dropped(caplog)
    assert error.startswith(
        f"dropped 2 log line(s) of run(s) bad (2): the store refused them {MAX_REFUSALS} times"
    )
