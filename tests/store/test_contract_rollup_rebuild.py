"""``Store.rebuild_rollups`` on every backend: rollups damaged (rows or caches deleted,
counts altered: what an upgrade audit saw when a node of older code finished runs that
never reached them) make the stats from rollups differ from the exact query until the
rebuild, after which they agree again; and runs finishing during rebuilds are each
counted once."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schedkit.models import RunFilter, RunStatus
from schedkit.store import Store
from schedkit.store._rollups import DAY, HOUR, period_start
from schedkit.store.mongo import MongoStore
from schedkit.store.mongo.codec import to_us
from schedkit.store.mongo.rollup_marks import cache_key
from schedkit.store.sql import SQLStore
from tests.store._contract import SEC, T0, add_runs, fin, make_run, outcome
from tests.store.conftest import MoreStores
from tests.store.test_contract_rollups import (
    assert_hourly_counts_agree,
    assert_stats_agree,
    history,
)

H = timedelta(hours=1)
#: A window read from day rows.
WEEK = T0 - 7 * 24 * H
#: The (task, hour) whose rollup is lost, and the one whose success count is raised.
LOST = ("a", period_start(T0 - 5 * H, HOUR))
RAISED = ("b", period_start(T0 - 30 * H, HOUR))
EXTRA = 3


async def damage(store: Store) -> None:
    """Lose the rollup of LOST and count EXTRA successes too many in RAISED."""
    if isinstance(store, MongoStore):
        # The caches exist once read; a cache gone with no mark hides its hour's runs.
        await store.run_stats(WEEK)
        rollups = store._c.run_rollups
        lost = cache_key((LOST[0], to_us(LOST[1])))
        assert (await rollups.delete_one({"_id": lost})).deleted_count == 1
        raised = cache_key((RAISED[0], to_us(RAISED[1])))
        doc = await rollups.find_one({"_id": raised})
        assert doc is not None and doc["valid"]
        for s in doc["statuses"]:
            if s["status"] == RunStatus.SUCCESS:
                s["runs"] += EXTRA
        await rollups.replace_one({"_id": raised}, doc)
        return
    assert isinstance(store, SQLStore)
    table = store._t.run_rollups

    def work(conn: Connection) -> None:
        c = table.c
        for (task, start), extra in ((LOST, None), (RAISED, EXTRA)):
            day = period_start(start, DAY)
            keys = sa.or_(
                sa.and_(c.period == HOUR, c.period_start == start),
                sa.and_(c.period == DAY, c.period_start == day),
            )
            where = sa.and_(c.task_name == task, keys)
            if extra is None:
                assert conn.execute(sa.delete(table).where(where)).rowcount >= 2
            else:
                where = sa.and_(where, c.status == RunStatus.SUCCESS.value)
                changed = sa.update(table).where(where).values(runs=c.runs + extra)
                assert conn.execute(changed).rowcount == 2

    await store._db.write(work)


async def finished_per_hour(store: Store) -> Counter[tuple[str, datetime]]:
    runs = await store.list_runs(RunFilter(), limit=100_000)
    return Counter(
        (r.task_name, period_start(r.scheduled_for, HOUR)) for r in runs if r.status.finished
    )


async def test_rebuild_repairs_damaged_rollups(store: Store) -> None:
    await add_runs(store, *history(random.Random(11), T0 - 32 * H, 34, 8))
    await assert_stats_agree(store, WEEK)
    per_hour = await finished_per_hour(store)
    assert per_hour[LOST] > 0
    successes = await store.list_runs(
        RunFilter(
            task_name=RAISED[0],
            statuses=frozenset({RunStatus.SUCCESS}),
            since=RAISED[1],
            until=RAISED[1] + H,
        ),
        limit=100,
    )
    assert successes

    await damage(store)
    approx = {s.task_name: s.total for s in await store.run_stats(WEEK)}
    exact = {s.task_name: s.total for s in await store.run_stats(WEEK, exact=True)}
    assert approx != exact
    assert approx["a"] < exact["a"] and approx["b"] == exact["b"] + EXTRA

    done = await store.rebuild_rollups()
    assert done.runs == sum(per_hour.values())
    assert done.hours == len(per_hour)
    assert done.tasks == len({task for task, _ in per_hour}) == 3
    assert done.runs_before == done.runs - per_hour[LOST] + EXTRA
    assert done.seconds >= 0
    # A window of day rows and one of hour rows with a partial first hour.
    for since in (WEEK, T0 - 5 * H - 20 * 60 * SEC):
        await assert_stats_agree(store, since)
    await assert_stats_agree(store, T0 - 6 * H, "a")
    await assert_hourly_counts_agree(store, T0 - 32 * H, T0 + 2 * H)

    # Idempotent: a second rebuild finds nothing to correct.
    again = await store.rebuild_rollups()
    assert (again.runs, again.runs_before, again.hours) == (done.runs, done.runs, done.hours)
    await assert_stats_agree(store, WEEK)


async def test_rebuild_of_an_empty_store(store: Store) -> None:
    done = await store.rebuild_rollups()
    assert (done.tasks, done.hours, done.runs, done.runs_before) == (0, 0, 0, 0)
    assert await store.run_stats(WEEK) == []


async def test_runs_finishing_during_rebuilds_are_counted_once(
    store: Store, more_stores: MoreStores
) -> None:
    """Finish batches (from another store object: its own connections) race rebuilds;
    afterwards every finished run is counted exactly once."""
    (other,) = await more_stores(1)
    runs = [
        make_run(
            task_name=f"t{i % 2}",
            schedule_id=f"s{i}",
            scheduled_for=T0 - i * 97 * SEC,
            not_before=T0 - i * 97 * SEC,
        )
        for i in range(60)
    ]
    await add_runs(store, *runs)
    claimed = await store.claim_runs("n1", T0, 60)
    assert len(claimed) == 60
    for start in range(0, 60, 12):
        batch = [
            fin(r.id, r.attempt, "n1", outcome(duration=1.0 + i % 7, finished_at=T0 + SEC))
            for i, r in enumerate(claimed[start : start + 12])
        ]
        _, finished = await asyncio.gather(store.rebuild_rollups(), other.finish_runs(batch))
        assert finished == [True] * len(batch)
        await assert_stats_agree(store, T0 - 3 * H)
    await assert_hourly_counts_agree(store, T0 - 3 * H, T0)
    stats = await store.run_stats(T0 - 3 * H)
    assert sum(s.total for s in stats) == 60


@pytest.mark.parametrize(
    "store_url",
    [pytest.param("postgres", id="postgres", marks=pytest.mark.external_service)],
    indirect=True,
)
async def test_postgres_rebuild_and_a_finish_in_flight_count_it_once(store: Store) -> None:
    """A finish transaction writes its runs, then their rollups, then commits. A rebuild
    between the first two does not see the run (uncommitted) and the finish adds it to
    the rows rebuilt; a rebuild after the second waits for the commit (its table lock)
    and counts it. Without the lock, its delete would wait for the finish's row locks
    only after reading the runs, and lose the run."""
    assert isinstance(store, SQLStore)
    first, second = await add_runs(
        store, *(make_run(schedule_id=f"s{i}", scheduled_for=T0 - (i + 1) * H) for i in range(2))
    )
    runs = store._t.runs
    engine = store._db._engine  # type: ignore[attr-defined]

    async def finish_in_flight(run_id: str, rebuild_between: bool) -> int:
        async with engine.connect() as conn:
            tx = await conn.begin()
            done = {"status": RunStatus.SUCCESS.value, "duration": 2.0, "finished_at": T0}
            await conn.execute(sa.update(runs).where(runs.c.id == run_id).values(**done))
            if rebuild_between:
                counted = (await store.rebuild_rollups()).runs
            run = next(r for r in (first, second) if r.id == run_id)
            row = [(run.task_name, run.scheduled_for, RunStatus.SUCCESS.value, 2.0)]
            await conn.run_sync(lambda c: store._roll(c, row))
            if not rebuild_between:
                rebuild = asyncio.create_task(store.rebuild_rollups())
                await asyncio.sleep(0.5)
                assert not rebuild.done()  # waiting for this transaction's commit
            await tx.commit()
        if not rebuild_between:
            counted = (await rebuild).runs
        return counted

    assert await finish_in_flight(first.id, rebuild_between=True) == 0
    await assert_stats_agree(store, WEEK)
    assert await finish_in_flight(second.id, rebuild_between=False) == 2
    await assert_stats_agree(store, WEEK)
    (stats,) = await store.run_stats(WEEK)
    assert stats.counts == {"success": 2}
