"""The MongoDB store's run rollups (``store/mongo/rollups.py``): the cases its protocol of
marks and lock-guarded caches is built for, driven one step at a time: a finish landing
in the middle of a refresh, a writer stopping between its run write and its mark, a
fence completed twice, a reader stopping halfway, another reader holding the hour, and
a database from before rollups. (The agreement with the exact query through finish,
lose, cancel, requeue and purge is ``test_contract_rollups.py``'s, on every store.)"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from schedkit.models import Run, RunStatus
from schedkit.store.mongo import MongoStore, rollups
from schedkit.store.mongo.codec import exit_key, to_us
from schedkit.store.mongo.rollup_marks import cache_key, hour_of, mark_key
from tests.store._contract import SEC, T0, fin, make_run, outcome
from tests.store.conftest import Raw
from tests.store.test_contract_rollups import assert_stats_agree

pytestmark = pytest.mark.external_service

HOUR = timedelta(hours=1)
SINCE = T0 - 10 * HOUR
#: A whole hour of the window, read from its rollup (not run by run).
AT = T0 - 3 * HOUR
KEY = ("t", hour_of(to_us(AT)))
ROLLUPS = "schedkit_run_rollups"


@pytest.fixture
async def store(mongo_url: str) -> AsyncIterator[MongoStore]:
    async with MongoStore(mongo_url) as s:
        yield s


async def running(store: MongoStore, n: int) -> list[Run]:
    """``n`` runs of task ``t`` in the hour of AT, claimed by node n1."""
    runs = [
        make_run(schedule_id=f"s{i}", scheduled_for=AT + i * SEC, not_before=AT) for i in range(n)
    ]
    await store.insert_runs(runs)
    claimed = await store.claim_runs("n1", T0, n)
    assert len(claimed) == n
    return sorted(claimed, key=lambda r: r.scheduled_for)


async def finish(store: MongoStore, run: Run, duration: float = 2.0) -> None:
    done = outcome(duration=duration, finished_at=T0 + SEC)
    assert await store.finish_runs([fin(run.id, run.attempt, "n1", done)]) == [True]


async def successes(store: MongoStore) -> int:
    (stats,) = await store.run_stats(SINCE)
    assert stats.percentiles_approximate
    return stats.counts.get("success", 0)


async def test_a_finish_landing_during_a_refresh_is_counted_by_the_next_read(
    store: MongoStore, raw: Raw, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = await running(store, 2)
    await finish(store, first)
    count_hours = store._count_hours

    async def then_a_finish(*args: Any) -> Any:
        counted = await count_hours(*args)  # step 3 done: the runs are read
        await finish(store, second)  # lands before the cache is written
        return counted

    monkeypatch.setattr(store, "_count_hours", then_a_finish)
    assert await successes(store) == 1  # the hour as read, the second run still running
    monkeypatch.undo()
    # The cache written lacks the second finish, and its mark says so.
    cache = await raw[ROLLUPS].find_one({"_id": cache_key(KEY)})
    assert cache is not None and cache["valid"] and cache["statuses"][0]["runs"] == 1
    assert await raw[ROLLUPS].count_documents({"_id": mark_key(KEY)}) == 1
    assert await successes(store) == 2
    assert await raw[ROLLUPS].count_documents({"kind": "mark"}) == 0
    await assert_stats_agree(store, SINCE)


async def test_a_finish_whose_mark_was_lost_is_marked_when_its_fence_is_completed(
    store: MongoStore, raw: Raw, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = await running(store, 2)
    await finish(store, first)
    assert await successes(store) == 1  # cached, fresh
    real_mark = store._mark

    async def die(keys: Any) -> None:
        raise RuntimeError("died between the run write and the mark")

    monkeypatch.setattr(store, "_mark", die)
    with pytest.raises(RuntimeError):
        await finish(store, second)
    monkeypatch.setattr(store, "_mark", real_mark)
    got = await store.get_run(second.id)
    assert got is not None and got.status is RunStatus.SUCCESS
    assert await successes(store) == 1  # no mark: the cache still looks fresh
    # Completing the fence (a reaper or a finish sent again would) writes the run
    # again, which matches nothing, and the mark; twice changes nothing more.
    key = exit_key(second.id, second.attempt, RunStatus.RUNNING)
    for _ in range(2):
        await store._complete_abandoned([key], older_than=None)
        assert await successes(store) == 2
    await assert_stats_agree(store, SINCE)


async def test_a_fence_from_before_rollups_marks_its_run_when_completed(
    store: MongoStore, raw: Raw, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = await running(store, 2)
    await finish(store, first)
    assert await successes(store) == 1

    async def die(*args: Any) -> int:
        raise RuntimeError("died after the fence, before the run write")

    monkeypatch.setattr(store, "_write", die)
    with pytest.raises(RuntimeError):
        await finish(store, second)
    monkeypatch.undo()
    key = exit_key(second.id, second.attempt, RunStatus.RUNNING)
    # As an older schedkit wrote it: no mark named.
    await raw["schedkit_claims"].update_one({"_id": key}, {"$unset": {"rollup": ""}})
    await store._complete_abandoned([key], older_than=None)
    assert await successes(store) == 2


async def test_a_refresh_stopped_halfway_leaves_the_hour_stale(store: MongoStore, raw: Raw) -> None:
    (run,) = await running(store, 1)
    await finish(store, run)
    assert await successes(store) == 1
    # Stopped after invalidating the cache and deleting the mark (steps 1 and 2), with
    # a cache that no longer matches the runs.
    await raw[ROLLUPS].update_one(
        {"_id": cache_key(KEY)}, {"$set": {"valid": False, "statuses.0.runs": 7}}
    )
    assert await successes(store) == 1
    cache = await raw[ROLLUPS].find_one({"_id": cache_key(KEY)})
    assert cache is not None and cache["valid"] and cache["statuses"][0]["runs"] == 1


async def test_a_refresh_whose_lock_was_broken_meanwhile_leaves_the_hour_stale(
    store: MongoStore, raw: Raw, monkeypatch: pytest.MonkeyPatch
) -> None:
    (run,) = await running(store, 1)
    await finish(store, run)
    count_hours = store._count_hours

    async def slower_than_recover_after(*args: Any) -> Any:
        counted = await count_hours(*args)
        # Broken as abandoned by another reader, which may now cache a newer count.
        await raw["schedkit_claims"].delete_one({"_id": f"lock:rollup:{cache_key(KEY)}"})
        return counted

    monkeypatch.setattr(store, "_count_hours", slower_than_recover_after)
    assert await successes(store) == 1
    monkeypatch.undo()
    cache = await raw[ROLLUPS].find_one({"_id": cache_key(KEY)})
    assert cache is not None and not cache["valid"]
    assert await successes(store) == 1
    cache = await raw[ROLLUPS].find_one({"_id": cache_key(KEY)})
    assert cache is not None and cache["valid"]


async def test_an_hour_another_reader_holds_is_counted_not_cached(
    store: MongoStore, raw: Raw
) -> None:
    first, second = await running(store, 2)
    await finish(store, first)
    lock = f"rollup:{cache_key(KEY)}"
    assert await store._take_locks([lock], "another reader") == {lock}
    await finish(store, second, duration=300.0)
    assert await successes(store) == 2
    assert await raw[ROLLUPS].count_documents({"_id": mark_key(KEY)}) == 1
    await store._unlock([lock], "another reader")
    await assert_stats_agree(store, SINCE)
    assert await raw[ROLLUPS].count_documents({"_id": mark_key(KEY)}) == 0


async def test_a_database_from_before_rollups_gets_them_on_open(
    mongo_url: str, raw: Raw, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    runs = [
        make_run(
            task_name=task,
            schedule_id=f"{task}{h}",
            scheduled_for=T0 - h * HOUR,
            not_before=T0 - h * HOUR,
            status=RunStatus.SUCCESS if h % 3 else RunStatus.FAILED,
            finished_at=T0,
            duration=0.5 * (h + 1),
        )
        for task in ("a", "电费")
        for h in range(24)
    ] + [make_run(schedule_id="pending", scheduled_for=T0 - HOUR)]
    async with MongoStore(mongo_url) as s:
        await s.insert_runs(runs)
    # The same history as a version 4 database holds it: no rollup documents at all.
    await raw[ROLLUPS].drop()
    await raw["schedkit_meta"].update_one({"_id": "schema"}, {"$set": {"version": 4}})
    monkeypatch.setattr(rollups, "PROGRESS_EVERY", 20)
    with caplog.at_level(logging.INFO, logger=rollups.__name__):
        async with MongoStore(mongo_url) as s:
            assert await s.schema_version() == 5
    assert "rollups: 40 finished runs read" in caplog.text
    assert "rollups: 48 of 48 hours marked" in caplog.text
    assert await raw[ROLLUPS].count_documents({"kind": "mark"}) == 48
    async with MongoStore(mongo_url) as s:
        for since in (T0 - 30 * HOUR, T0 - 5 * HOUR, SINCE):
            await assert_stats_agree(s, since)
        stats = await s.run_stats(T0 - 30 * HOUR)
        assert [(st.task_name, st.total, st.percentiles_approximate) for st in stats] == [
            ("a", 24, True),
            ("t", 1, True),
            ("电费", 24, True),
        ]
    # The reads counted every hour; opened again, the store marks nothing anew.
    async with MongoStore(mongo_url):
        assert await raw[ROLLUPS].count_documents({"kind": "mark"}) == 0
        assert await raw[ROLLUPS].count_documents({"kind": "rollup", "valid": True}) == 48


async def test_a_purge_leaves_no_rollup_documents_behind(store: MongoStore, raw: Raw) -> None:
    runs = await running(store, 3)
    for run in runs:
        await finish(store, run)
    assert await successes(store) == 3
    assert await raw[ROLLUPS].count_documents({}) == 1
    assert await store.purge_runs(T0 + HOUR) == 3
    assert await store.run_stats(SINCE) == []
    assert await raw[ROLLUPS].count_documents({}) == 0


async def test_finishes_racing_readers_end_counted_exactly_once(mongo_url: str) -> None:
    """Nodes finishing runs of one hour while others read its stats (and so refresh its
    cache) over and over: once the finishes are done, the next read counts them all."""
    async with (
        MongoStore(mongo_url) as a,
        MongoStore(mongo_url) as b,
        MongoStore(mongo_url) as c,
    ):
        runs = await running(a, 40)
        finishing = True

        async def finisher(store: MongoStore, mine: list[Run]) -> None:
            for start in range(0, len(mine), 4):
                items = [
                    fin(r.id, r.attempt, "n1", outcome(duration=0.1 * (i + 1), finished_at=T0))
                    for i, r in enumerate(mine[start : start + 4], start)
                ]
                assert await store.finish_runs(items) == [True] * len(items)

        async def reader(store: MongoStore) -> int:
            reads = 0
            while finishing or reads == 0:
                await store.run_stats(SINCE)
                reads += 1
            return reads

        readers = [asyncio.create_task(reader(s)) for s in (b, c)]
        await asyncio.gather(finisher(a, runs[::2]), finisher(b, runs[1::2]))
        finishing = False
        assert all(await asyncio.gather(*readers))
        assert await successes(c) == 40
        await assert_stats_agree(c, SINCE)
