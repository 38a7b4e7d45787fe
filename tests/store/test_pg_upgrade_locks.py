"""A PostgreSQL upgrade step waits for a table lock at most ``UPGRADE_LOCK_TIMEOUT``
(docs/stores.md). SQLite has no table locks (it serialises writers), so PostgreSQL only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from schedkit.errors import StoreError
from schedkit.store.sql import SQLStore
from schedkit.store.sql import migrations as _sql_migrations
from tests.store._versions import create_v1, on_database
from tests.store.test_sql_migrations import CURRENT, at_version_7, at_version_8, max_version

pytestmark = [
    pytest.mark.external_service,
    pytest.mark.parametrize("store_url", ["postgres"], indirect=True),
]


async def test_an_upgrade_waiting_for_a_table_lock_gives_up_and_says_who_holds_it(
    store_url: str,
) -> None:
    """An upgrade audit: version 8's index swap queued behind a long transaction and the
    live nodes' claims and heartbeats queued behind it for as long. On PostgreSQL it now
    gives up after the lock timeout, names the session, and leaves version 7."""
    message, pid = await _upgrade_behind_idle_reader(store_url, at_version_7, "schedkit_runs")
    assert f"upgrading from schema version 7 to {CURRENT} gave up after waiting 5 s" in message
    assert "the store stays at version 7" in message and "Try again" in message
    assert f"pid {pid} (idle in transaction" in message, message
    assert await on_database(store_url, max_version) == 7
    async with SQLStore(store_url) as store:  # once it ended
        assert await store.schema_version() == CURRENT


async def test_the_log_line_number_step_gives_up_too_while_run_logs_is_in_use(
    store_url: str,
) -> None:
    """Version 9 rewrites run_logs under an ACCESS EXCLUSIVE lock: behind a session that
    read a run's log and stayed in its transaction, it gives up after the lock timeout
    like version 8's step (the nodes' log writes queue behind it no longer)."""
    message, pid = await _upgrade_behind_idle_reader(store_url, at_version_8, "schedkit_run_logs")
    assert f"upgrading from schema version 8 to {CURRENT} gave up after waiting 5 s" in message
    assert f"pid {pid} (idle in transaction" in message, message
    assert await on_database(store_url, max_version) == 8
    async with SQLStore(store_url) as store:
        assert await store.schema_version() == CURRENT


async def _upgrade_behind_idle_reader(
    store_url: str, back_to: Callable[[Connection], None], table: str
) -> tuple[str, int]:
    """A store taken back by ``back_to`` and opened (so upgraded) while another session
    that read ``table`` stays idle in its transaction: the error the upgrade gives up
    with, within the lock timeout, and that session's pid."""
    await on_database(store_url, create_v1)
    async with SQLStore(store_url):
        pass
    await on_database(store_url, back_to)
    holder = create_async_engine(store_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with holder.connect() as conn:
            await conn.exec_driver_sql(f"SELECT count(*) FROM {table}")  # idle in tx
            pid = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
            started = time.monotonic()
            with pytest.raises(StoreError) as refused:
                await asyncio.wait_for(SQLStore(store_url).open(), 30)
            assert time.monotonic() - started < _sql_migrations.UPGRADE_LOCK_TIMEOUT + 5
    finally:
        await holder.dispose()
    return str(refused.value), pid
