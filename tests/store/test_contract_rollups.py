"""Run statistics from rollups, on every backend: counts, success rate and mean equal the
exact query's, percentiles are within the stated relative error of it (and say so), and
stay so while runs are finished, lost, cancelled, requeued and purged. Every store keeps
rollups (SQL in the finish transaction, MongoDB as hourly caches: see
``store/mongo/rollups.py``)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from schedkit.models import HourlyRunCount, Run, RunFilter, RunStatus, TaskStats
from schedkit.store import Store
from schedkit.store._rollups import RELATIVE_ERROR
from tests.store._contract import SEC, T0, add_runs, fin, lost, make_run, outcome, rq

HOUR = timedelta(hours=1)
MIN = timedelta(minutes=1)
TOLERANCE = RELATIVE_ERROR * (1 + 1e-9)


async def assert_stats_agree(store: Store, since: datetime, task_name: str | None = None) -> None:
    """The default stats against the exact query, window from ``since``; and the count
    of all runs (SQL stores: read from the rollups too) against the runs listed."""
    assert await store.count_runs() == len(await store.list_runs(limit=1_000_000))
    exact = await store.run_stats(since, task_name, exact=True)
    approx = await store.run_stats(since, task_name)
    assert [s.task_name for s in approx] == [s.task_name for s in exact]
    for a, e in zip(approx, exact, strict=True):
        assert_close(a, e)


def assert_close(a: TaskStats, e: TaskStats) -> None:
    assert not e.percentiles_approximate and e.relative_error is None
    assert dict(a.counts) == dict(e.counts), a.task_name
    assert a.total == e.total and a.success_rate == e.success_rate
    if e.mean_duration is None:
        assert a.mean_duration is None
    else:
        assert a.mean_duration == pytest.approx(e.mean_duration, rel=1e-9)
    for got, want in (
        (a.p50_duration, e.p50_duration),
        (a.p95_duration, e.p95_duration),
        (a.p99_duration, e.p99_duration),
    ):
        if want is None:
            assert got is None
        else:
            assert got is not None and abs(got - want) <= TOLERANCE * want, (a.task_name, got, want)
    if a.percentiles_approximate:
        assert a.relative_error == RELATIVE_ERROR


def history(rng: random.Random, start: datetime, hours: int, per_hour: int) -> list[Run]:
    """Finished and active runs of three tasks over ``hours`` hours from ``start``."""
    statuses = [RunStatus.SUCCESS] * 6 + [
        RunStatus.FAILED,
        RunStatus.SKIPPED,
        RunStatus.MISSED,
        RunStatus.TIMEOUT,
        RunStatus.PENDING,
    ]
    runs = []
    for h in range(hours):
        for i in range(per_hour):
            status = rng.choice(statuses)
            at = start + h * HOUR + rng.uniform(0, 3599) * SEC
            timed = status in (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.TIMEOUT)
            runs.append(
                make_run(
                    task_name=rng.choice(["a", "b", "电费"]),
                    schedule_id=f"s{h}-{i}",
                    scheduled_for=at,
                    not_before=at,
                    status=status,
                    duration=10 ** rng.uniform(-2, 3) if timed else None,
                    finished_at=at + SEC if status.finished else None,
                )
            )
    return runs


async def finish(
    store: Store, done: Sequence[Run], failed: Sequence[Run], *, failed_duration: float
) -> None:
    """Runs claimed by n1 finished: ``done`` successes of 1 s, 2 s, ... ending a second
    apart from T0, ``failed`` failures of ``failed_duration`` ending an hour after T0."""
    results = [
        fin(r.id, r.attempt, "n1", outcome(duration=1.0 + i, finished_at=T0 + i * SEC))
        for i, r in enumerate(done)
    ]
    results += [
        fin(
            r.id,
            r.attempt,
            "n1",
            outcome(RunStatus.FAILED, duration=failed_duration, finished_at=T0 + HOUR),
        )
        for r in failed
    ]
    assert await store.finish_runs(results) == [True] * len(results)


async def test_stats_from_rollups_agree_with_the_exact_query(store: Store) -> None:
    rng = random.Random(3)
    # 60 hours of history, the window edges falling inside hours and days.
    await add_runs(store, *history(rng, T0 - 50 * HOUR, 60, 15))
    # T0 is 08:30:15: windows read as days minus their start (from 00:10, 01:40, 08:30)
    # and as hours up to a day (from 12:10, 22:30), their edges added and subtracted.
    windows = [T0 - 48 * HOUR, T0 - 30 * HOUR, T0 - 24 * HOUR, T0, T0 - 7 * 24 * HOUR]
    windows += [T0 - delta for delta in (8 * HOUR + 20 * MIN, 31 * HOUR - 10 * MIN)]
    windows += [T0 - delta for delta in (20 * HOUR + 20 * MIN, 10 * HOUR)]
    for since in windows:
        await assert_stats_agree(store, since)
        await assert_stats_agree(store, since, "电费")
    stats = await store.run_stats(T0 - 24 * HOUR)
    assert stats and all(s.percentiles_approximate for s in stats)
    # An hour-aligned window has no partial edge; a window past every run, no stats.
    hour = T0.replace(minute=0, second=0, microsecond=0)
    await assert_stats_agree(store, hour - 5 * HOUR)
    assert await store.run_stats(T0 + 20 * HOUR) == []
    assert await store.run_stats(T0, "no such task") == []


async def test_rollups_follow_finish_lose_cancel_requeue_and_purge(store: Store) -> None:
    since = T0 - 30 * HOUR
    pending = [
        make_run(
            task_name="t",
            schedule_id=f"p{i}",
            scheduled_for=T0 - i * 3 * HOUR,
            not_before=T0 - i * 3 * HOUR,
        )
        for i in range(8)
    ]
    await add_runs(store, *pending)
    await assert_stats_agree(store, since)

    claimed = {r.id: r for r in await store.claim_runs("n1", T0, 6)}
    assert len(claimed) == 6
    ran = sorted(claimed.values(), key=lambda r: r.id)
    done, failed, silent = ran[:3], ran[3:5], ran[5]
    await finish(store, done, failed, failed_duration=50.0)
    await assert_stats_agree(store, since)

    # The reaper marks a silent run lost; a cancelled pending run is finished too.
    assert await store.lose_runs([lost(silent, stale_before=T0 + SEC, now=T0 + 2 * SEC)]) == [True]
    left = [r for r in pending if r.id not in claimed]
    assert await store.request_cancel(left[0].id, T0, "operator") is not None
    stats = await store.run_stats(since, exact=True)
    assert dict(stats[0].counts) == {
        "success": 3,
        "failed": 2,
        "lost": 1,
        "cancelled": 1,
        "pending": 1,
    }
    await assert_stats_agree(store, since)

    # A failed run sent back for another attempt leaves its rollup.
    again = failed[0]
    assert await store.requeue_run(
        rq(again.id, again.attempt, [RunStatus.FAILED], T0, {"error": "retried"})
    )
    await assert_stats_agree(store, since)
    assert (await store.run_stats(since))[0].counts["failed"] == 1
    # Sent again (the attempt moved on): nothing changes, the rollups neither.
    assert not await store.requeue_run(
        rq(again.id, again.attempt, [RunStatus.FAILED], T0, {"error": "retried"})
    )
    assert (await store.run_stats(since))[0].counts["failed"] == 1

    # The purge takes the runs finished before the cut out of the rollups.
    assert await store.purge_runs(T0 + 30 * SEC) >= 4
    await assert_stats_agree(store, since)
    stats = await store.run_stats(since)
    assert dict(stats[0].counts) == {"failed": 1, "pending": 2}
    assert await store.purge_runs(T0 + 2 * HOUR) == 1
    assert [dict(s.counts) for s in await store.run_stats(since)] == [{"pending": 2}]
    await assert_stats_agree(store, since)


async def assert_hourly_counts_agree(store: Store, since: datetime, until: datetime) -> None:
    """``run_counts_per_hour`` against every run of its whole hours counted one by one."""
    start = since.replace(minute=0, second=0, microsecond=0)
    end = until.replace(minute=0, second=0, microsecond=0) + HOUR
    runs = await store.list_runs(RunFilter(since=start, until=end), limit=100_000)
    counted = Counter(
        (r.scheduled_for.replace(minute=0, second=0, microsecond=0), r.status) for r in runs
    )
    want = [
        HourlyRunCount(hour=hour, status=status, count=n)
        for (hour, status), n in sorted(counted.items())
    ]
    got = await store.run_counts_per_hour(since, until)
    assert got == want
    for c in got:
        assert c.hour.utcoffset() == timedelta(0) and c.hour.minute == 0


async def test_hourly_counts_follow_finish_lose_cancel_requeue_and_purge(store: Store) -> None:
    rng = random.Random(7)
    # 32 hours of finished and pending runs of three tasks, the last ones after T0.
    await add_runs(store, *history(rng, T0 - 30 * HOUR, 32, 6))
    windows = [(T0 - 24 * HOUR, T0), (T0 - 30 * HOUR, T0 + 2 * HOUR), (T0 - 5 * HOUR, T0 - HOUR)]

    async def agree() -> None:
        for since, until in windows:
            await assert_hourly_counts_agree(store, since, until)

    await agree()
    counts = await store.run_counts_per_hour(T0 - 30 * HOUR, T0 + 2 * HOUR)
    assert {c.status for c in counts} >= {RunStatus.SUCCESS, RunStatus.PENDING}

    # Claimed (running), then finished, failed, lost; a pending run cancelled.
    claimed = await store.claim_runs("n1", T0, 8)
    assert len(claimed) == 8
    await agree()
    done, failed, silent = claimed[:3], claimed[3:5], claimed[5]
    await finish(store, done, failed, failed_duration=5.0)
    assert await store.lose_runs([lost(silent, stale_before=T0 + SEC, now=T0 + 2 * SEC)]) == [True]
    waiting = await store.list_runs(RunFilter(statuses=frozenset({RunStatus.PENDING})), limit=1)
    assert await store.request_cancel(waiting[0].id, T0, "operator") is not None
    await agree()

    # A failed run sent back for another attempt leaves its hour's rollup.
    again = failed[0]
    assert await store.requeue_run(
        rq(again.id, again.attempt, [RunStatus.FAILED], T0, {"error": "retried"})
    )
    await agree()

    # The purge takes the runs finished before the cut out of the counts.
    assert await store.purge_runs(T0 - 10 * HOUR) > 0
    await agree()
    assert await store.purge_runs(T0 + 2 * HOUR) > 0
    await agree()
    left = await store.run_counts_per_hour(T0 - 30 * HOUR, T0 + 2 * HOUR)
    assert {c.status for c in left} <= {RunStatus.PENDING, RunStatus.RUNNING}
    assert await store.run_counts_per_hour(T0 + 5 * HOUR, T0 + 9 * HOUR) == []
