"""The SQLite store's writer thread: writes waiting together commit as one transaction
(group commit), a write that fails in a group costs the others nothing, and a write
cancelled while queued never runs. (Urgent writes going ahead of a group:
``test_sql_store.py::test_sqlite_proofs_of_life_go_ahead_of_queued_writes``.)"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from schedkit.errors import StoreError
from schedkit.store.sql import SQLStore


def insert(value: int, *, fail: bool = False) -> Callable[[Connection], int]:
    def work(conn: Connection) -> int:
        conn.execute(text("INSERT INTO scratch (v) VALUES (:v)"), {"v": value})
        if fail:
            raise ValueError(f"work {value} failed after writing")
        return value

    return work


async def stored(store: SQLStore) -> list[int]:
    rows = await store._db.read(lambda conn: conn.execute(text("SELECT v FROM scratch")).all())
    return sorted(v for (v,) in rows)


@contextlib.asynccontextmanager
async def writer_held(store: SQLStore) -> AsyncIterator[None]:
    """The writer thread busy with a write of its own for the block: writes submitted
    in it wait in the writer's queue, together. Released when the block ends."""
    held, release = threading.Event(), threading.Event()

    def hold(conn: Connection) -> None:
        held.set()
        release.wait(10)

    first = asyncio.ensure_future(store._db.write(hold))
    await asyncio.to_thread(held.wait, 10)
    try:
        yield
        await asyncio.sleep(0)  # every write submitted is in the writer's queue
    finally:
        release.set()
        await first


async def queued_behind_a_held_writer(
    store: SQLStore, works: list[Callable[[Connection], int]]
) -> list[Any]:
    """Run ``works`` submitted while the writer thread is busy with another write, so
    that they wait in its queue together."""
    async with writer_held(store):
        pending = [asyncio.ensure_future(store._db.write(w)) for w in works]
    return list(await asyncio.gather(*pending, return_exceptions=True))


async def test_writes_waiting_together_commit_once(sqlite_url: str) -> None:
    async with SQLStore(sqlite_url) as store:
        await store._db.write(lambda conn: conn.execute(text("CREATE TABLE scratch (v INT)")))
        commits: list[int] = []
        event.listen(store.sync_engine, "commit", lambda conn: commits.append(1))
        results = await queued_behind_a_held_writer(store, [insert(i) for i in range(5)])
        assert results == [0, 1, 2, 3, 4]
        assert await stored(store) == [0, 1, 2, 3, 4]
        # The five queued while the held write ran joined its transaction: one commit.
        assert len(commits) == 1


async def test_a_failing_write_in_a_group_fails_alone(sqlite_url: str) -> None:
    async with SQLStore(sqlite_url) as store:
        await store._db.write(lambda conn: conn.execute(text("CREATE TABLE scratch (v INT)")))
        results = await queued_behind_a_held_writer(
            store, [insert(1), insert(2, fail=True), insert(3)]
        )
        assert results[0] == 1 and results[2] == 3
        assert isinstance(results[1], ValueError)
        # The failed write's row was rolled back; the others' were committed.
        assert await stored(store) == [1, 3]
        # Its store keeps writing.
        assert await store._db.write(insert(4)) == 4


async def test_a_cancelled_write_waiting_in_the_queue_is_never_run(sqlite_url: str) -> None:
    async with SQLStore(sqlite_url) as store:
        await store._db.write(lambda conn: conn.execute(text("CREATE TABLE scratch (v INT)")))
        async with writer_held(store):
            dropped = asyncio.ensure_future(store._db.write(insert(7)))
            kept = asyncio.ensure_future(store._db.write(insert(8)))
            await asyncio.sleep(0)
            dropped.cancel()
        assert await kept == 8
        with pytest.raises(asyncio.CancelledError):
            await dropped
        assert await stored(store) == [8]


async def test_closing_closes_the_connections_off_the_event_loop(sqlite_url: str) -> None:
    """The last connection's close checkpoints the WAL into the database file: after a
    busy period it held the event loop for about 0.4 s at stop (py-spy), which an
    application sharing the loop would feel."""
    closed_on: list[int] = []
    store = SQLStore(sqlite_url)
    await store.open()
    try:
        await store._db.write(lambda conn: conn.execute(text("CREATE TABLE scratch (v INT)")))
        await store._db.write(insert(1))
        event.listen(
            store.sync_engine.pool, "close", lambda *_: closed_on.append(threading.get_ident())
        )
    finally:
        await store.close()
    assert closed_on  # the writer's and the reader's connections
    assert threading.get_ident() not in closed_on


async def test_the_writer_keeps_its_connection_and_replaces_a_broken_one(
    sqlite_url: str,
) -> None:
    """The writer thread writes through one connection of its own (no checkout from the
    pool per transaction); a transaction that fails gives it up, so a connection an
    error broke is not used again."""
    async with SQLStore(sqlite_url) as store:
        await store._db.write(lambda conn: conn.execute(text("CREATE TABLE scratch (v INT)")))

        def raw_id(conn: Connection) -> int:
            return id(conn.connection.driver_connection)

        first = await store._db.write(raw_id)
        checkouts: list[int] = []
        event.listen(store.sync_engine.pool, "checkout", lambda *_: checkouts.append(1))
        assert [await store._db.write(raw_id) for _ in range(5)] == [first] * 5
        assert checkouts == []

        def breaks(conn: Connection) -> None:
            conn.connection.driver_connection.close()
            raise ValueError("the connection broke")

        with pytest.raises(StoreError):
            await store._db.write(breaks)
        assert await store._db.write(insert(5)) == 5
        assert await stored(store) == [5]
        assert len(checkouts) == 2  # the reader's, and the writer's new connection
