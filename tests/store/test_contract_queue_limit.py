"""The store contract, a queued run released only within its schedule's ``max_instances``.

A ``queue_one`` fire queues behind the newest active run of its schedule. When more runs
are active than ``max_instances`` allows (several left from an ``allow`` generation, a
limit lowered, a schedule re-created), that run's end must not start the queued run
beside the older ones: it waits on, behind another of them, until few enough remain (a
cluster audit on PostgreSQL found 6 overlapping pairs). Every backend, public API only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from schedkit.models import OverlapPolicy, Run, RunStatus
from schedkit.store import Store
from tests.store._contract import (
    SEC,
    T0,
    add_runs,
    adv,
    fin,
    lost,
    make_run,
    make_schedule,
    outcome,
    rq,
    seed,
)
from tests.store.conftest import MoreStores

End = Callable[[Store, Run], Awaitable[None]]


async def _limited(
    store: Store, max_instances: int = 1, overlap: OverlapPolicy = OverlapPolicy.QUEUE_ONE
) -> None:
    """Schedule ``s`` with that policy (its next version when it exists already)."""
    current = await store.get_schedule("s")
    version = 1 if current is None else current.version + 1
    schedule = make_schedule(overlap=overlap, max_instances=max_instances, version=version)
    await seed(store, schedule)


async def _running(store: Store, run: Run, node: str = "n1") -> Run:
    await add_runs(store, run)
    (claimed,) = await store.claim_runs(node, T0, 1, run_ids=[run.id])
    return claimed


async def _waiting_for_retry(store: Store, run: Run) -> Run:
    """``run`` after an attempt failed: pending for its retry (still active)."""
    claimed = await _running(store, run)
    error = {"attempt": 1, "status": "failed"}
    retry = rq(run.id, 1, [RunStatus.RUNNING], T0 + 3600 * SEC, error)
    assert await store.requeue_run(retry) is RunStatus.PENDING
    return claimed


async def _finish(store: Store, run: Run) -> None:
    assert await store.finish_run(fin(run.id, 1, "n1", outcome()))


async def _lose(store: Store, run: Run) -> None:
    (claimed,) = await store.get_runs([run.id])
    verdict = lost(claimed, stale_before=T0 + 30 * SEC, now=T0 + 60 * SEC)
    assert await store.lose_runs([verdict]) == [True]


async def _cancelled_with_its_attempt(store: Store, run: Run) -> None:
    """A running attempt whose cancel was requested ends cancelled when requeued."""
    got = await store.request_cancel(run.id, T0 + SEC, "by hand")
    assert got is not None and got.cancel_requested
    error = {"attempt": 1, "status": "cancelled"}
    done = await store.requeue_run(rq(run.id, 1, [RunStatus.RUNNING], T0 + SEC, error))
    assert done is RunStatus.CANCELLED


ENDS = pytest.mark.parametrize(
    "end",
    [_finish, _lose, _cancelled_with_its_attempt],
    ids=["finished", "lost", "cancelled-in-attempt"],
)


async def _blocked_by(store: Store, run: Run) -> str | None:
    got = await store.get_run(run.id)
    assert got is not None and got.status is RunStatus.PENDING
    return got.blocked_by


async def _claimable(store: Store) -> list[str]:
    return [r.id for r in await store.claim_runs("n9", T0 + 7200 * SEC, 10)]


@ENDS
@pytest.mark.parametrize("older", ["running", "retrying"])
async def test_a_queued_run_waits_for_every_run_over_the_limit(
    store: Store, end: End, older: str
) -> None:
    await _limited(store)
    first = make_run(scheduled_for=T0)
    if older == "running":
        await _running(store, first)
    else:
        await _waiting_for_retry(store, first)
    newest = make_run(scheduled_for=T0 + SEC)
    await _running(store, newest)
    queued = make_run(scheduled_for=T0 + 2 * SEC, blocked_by=newest.id)
    await add_runs(store, queued)

    await end(store, newest)
    assert await _blocked_by(store, queued) == first.id
    if older == "running":
        assert await _claimable(store) == []
        await end(store, first)
    else:
        # Its retry is claimed, then that attempt ends for good.
        assert await _claimable(store) == [first.id]
        assert await store.finish_run(fin(first.id, 2, "n9", outcome()))
    assert await _blocked_by(store, queued) is None
    assert await _claimable(store) == [queued.id]


async def test_a_queued_run_waits_for_a_run_pending_for_its_retry(store: Store) -> None:
    """Pending runs cancelled: the newest before it started, then the older one while
    it waited for its retry (the audit's run, before its attempt 3 ran long)."""
    await _limited(store)
    first = make_run(scheduled_for=T0)
    await _waiting_for_retry(store, first)
    newest = make_run(scheduled_for=T0 + SEC, not_before=T0 + 3600 * SEC)
    queued = make_run(scheduled_for=T0 + 2 * SEC, blocked_by=newest.id)
    await add_runs(store, newest, queued)

    cancelled = await store.request_cancel(newest.id, T0 + SEC, "by hand")
    assert cancelled is not None and cancelled.status is RunStatus.CANCELLED
    assert await _blocked_by(store, queued) == first.id
    cancelled = await store.request_cancel(first.id, T0 + SEC, "by hand")
    assert cancelled is not None and cancelled.status is RunStatus.CANCELLED
    assert await _blocked_by(store, queued) is None


async def test_a_queued_run_starts_once_the_runs_fit_max_instances(store: Store) -> None:
    await _limited(store, max_instances=2)
    one, two, three = (make_run(scheduled_for=T0 + i * SEC) for i in range(3))
    for run in (one, two, three):
        await _running(store, run)
    queued = make_run(scheduled_for=T0 + 3 * SEC, blocked_by=three.id)
    await add_runs(store, queued)

    await _finish(store, three)
    assert await _blocked_by(store, queued) == two.id
    # One run left beside it: within the limit of two.
    await _finish(store, two)
    assert await _blocked_by(store, queued) is None


@pytest.mark.parametrize(
    "change", ["allow", "deleted", "backfill"], ids=["policy-allow", "deleted", "backfill"]
)
async def test_a_run_with_no_limit_to_keep_is_released_as_before(store: Store, change: str) -> None:
    """No limit applies: the schedule now allows any overlap, is gone, or the runs are a
    backfill's (their own key space: chains run side by side up to its concurrency)."""
    await _limited(store)
    sid = "s:backfill" if change == "backfill" else "s"
    if change == "allow":
        await _limited(store, overlap=OverlapPolicy.ALLOW)
    elif change == "deleted":
        assert await store.delete_schedule("s")
    other = make_run(schedule_id=sid, scheduled_for=T0)
    await _running(store, other)
    blocker = make_run(schedule_id=sid, scheduled_for=T0 + SEC)
    await _running(store, blocker)
    queued = make_run(schedule_id=sid, scheduled_for=T0 + 2 * SEC, blocked_by=blocker.id)
    await add_runs(store, queued)
    await _finish(store, blocker)
    assert await _blocked_by(store, queued) is None


async def test_a_run_queued_behind_an_ended_run_is_written_behind_an_active_one(
    store: Store,
) -> None:
    """The tick read two active runs and queued behind the newest, which ended before the
    write: the run is stored waiting for the other, not released."""
    await _limited(store)
    first = make_run(scheduled_for=T0)
    await _waiting_for_retry(store, first)
    newest = make_run(scheduled_for=T0 + SEC)
    await _running(store, newest)
    await _finish(store, newest)
    queued = make_run(scheduled_for=T0 + 2 * SEC, blocked_by=newest.id)
    advance = adv("s", 1, T0 + 3 * SEC, queued.scheduled_for)
    record = await store.record_fires([queued], [advance], fence=None, now=T0)
    assert record.inserted == [queued.id]
    assert await _blocked_by(store, queued) == first.id


async def test_two_released_runs_of_one_schedule_do_not_both_start(store: Store) -> None:
    """Two runs waiting for the same run (older schedkit, a manual insert): one starts."""
    await _limited(store)
    blocker = make_run(scheduled_for=T0)
    await _running(store, blocker)
    a = make_run(scheduled_for=T0 + SEC, blocked_by=blocker.id)
    b = make_run(scheduled_for=T0 + 2 * SEC, blocked_by=blocker.id)
    await add_runs(store, a, b)
    await _finish(store, blocker)
    assert await _blocked_by(store, a) is None
    assert await _blocked_by(store, b) == a.id


async def test_a_queued_run_is_never_stranded_when_both_runs_end_at_once(
    store: Store, more_stores: MoreStores
) -> None:
    """The newest and the older run end together (two connections): whichever commits
    first, the queued run ends up released, never left behind a run that is over."""
    (other,) = await more_stores(1)
    await _limited(store)
    for i in range(12):
        at = T0 + 10 * i * SEC
        first = make_run(scheduled_for=at)
        newest = make_run(scheduled_for=at + SEC)
        await _running(store, first)
        await _running(store, newest)
        queued = make_run(scheduled_for=at + 2 * SEC, blocked_by=newest.id)
        await add_runs(store, queued)
        ended = await asyncio.gather(
            store.finish_run(fin(newest.id, 1, "n1", outcome())),
            other.finish_run(fin(first.id, 1, "n1", outcome())),
        )
        assert ended == [True, True]
        assert await _blocked_by(store, queued) is None, f"round {i}: stranded"
        assert await store.finish_run(fin(queued.id, 1, None, outcome(RunStatus.SKIPPED)))
