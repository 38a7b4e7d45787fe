"""The store contract: a run whose cancel was requested while it ran is never sent back
to ``pending`` (docs/lifecycle.md: "a cancelled run is never retried"). Its node learns
of the request at its next heartbeat; an attempt that ends before then, requeued for a
retry or judged lost with a retry, ends the run ``cancelled`` instead, in the same
atomic step. Every backend, public API only."""

from __future__ import annotations

from datetime import datetime

from schedkit.models import Run, RunStatus
from schedkit.store import Store
from schedkit.store._common import CANCELLED_IN_ATTEMPT
from tests.store._contract import SEC, T0, add_runs, claim_one, fin, lost, make_run, outcome, rq


async def cancel_requested_while_running(store: Store) -> tuple[Run, Run]:
    """A claimed run with retries left whose cancel was requested, and a run queued
    behind it."""
    run = make_run(schedule_id="c", max_attempts=3)
    await add_runs(store, run)
    claimed = await claim_one(store, run)
    queued = make_run(schedule_id="c", scheduled_for=T0 + SEC, blocked_by=run.id)
    await add_runs(store, queued)
    requested = await store.request_cancel(run.id, T0 + SEC, "stop it")
    assert requested is not None and requested.status is RunStatus.RUNNING
    assert requested.cancel_requested
    # The canceller's reason is kept with the request: the node ends the run with it.
    stored = await store.get_run(run.id)
    assert stored is not None and (stored.cancel_requested, stored.reason) == (True, "stop it")
    assert requested.reason == "stop it"
    return claimed, queued


async def assert_ended_cancelled(store: Store, run: Run, queued: Run, now: datetime) -> None:
    got = await store.get_run(run.id)
    assert got is not None
    assert (got.status, got.attempt, got.finished_at) == (RunStatus.CANCELLED, 1, now)
    assert got.reason == CANCELLED_IN_ATTEMPT
    assert got.attempt_errors == []  # no retry was made
    released = await store.get_run(queued.id)
    assert released is not None and released.blocked_by is None
    claimed = await store.claim_runs("n2", now + 600 * SEC, 10)
    assert [r.id for r in claimed] == [queued.id]  # the cancelled run is not retried
    for exact in (True, False):
        (stats,) = await store.run_stats(T0 - 3600 * SEC, "t", exact=exact)
        assert stats.counts.get(RunStatus.CANCELLED.value) == 1, exact


async def test_a_requeue_of_a_run_whose_cancel_was_requested_cancels_it(store: Store) -> None:
    run, queued = await cancel_requested_while_running(store)
    now, error = T0 + 5 * SEC, {"attempt": 1, "status": "failed"}
    item = rq(run.id, 1, [RunStatus.RUNNING], now + 60 * SEC, error, now=now)
    assert await store.requeue_run(item) is RunStatus.CANCELLED
    await assert_ended_cancelled(store, run, queued, now)
    assert await store.requeue_run(item) is None  # the attempt is over


async def test_a_lost_verdict_with_a_retry_cancels_a_run_whose_cancel_was_requested(
    store: Store,
) -> None:
    run, queued = await cancel_requested_while_running(store)
    now = T0 + 60 * SEC
    verdict = lost(run, stale_before=T0 + 30 * SEC, now=now, retry_at=now + 60 * SEC)
    assert await store.lose_runs([verdict]) == [True]
    await assert_ended_cancelled(store, run, queued, now)
    assert await store.lose_runs([verdict]) == [False]


async def test_a_requeue_without_a_cancel_request_says_pending(store: Store) -> None:
    run = make_run(max_attempts=3)
    await add_runs(store, run)
    await claim_one(store, run)
    item = rq(run.id, 1, [RunStatus.RUNNING], T0 + 60 * SEC, {"attempt": 1})
    assert await store.requeue_run(item) is RunStatus.PENDING
    got = await store.get_run(run.id)
    assert got is not None and (got.status, got.attempt) == (RunStatus.PENDING, 2)


async def test_an_explicit_retry_of_a_cancelled_run_is_not_cancelled_again(store: Store) -> None:
    """An audit: a workflow step cancelled while it ran, then retried (``schedkit workflow
    retry``, accepted), was cancelled again at its first heartbeat: the retry left the
    earlier attempt's cancel request on the run. The request belonged to that attempt."""
    run, _queued = await cancel_requested_while_running(store)
    ended = outcome(RunStatus.CANCELLED, reason="cancel requested")
    assert await store.finish_run(fin(run.id, 1, "n1", ended))
    now = T0 + 60 * SEC
    item = rq(run.id, 1, [RunStatus.CANCELLED, RunStatus.FAILED], now, {"attempt": 1}, now=now)
    assert await store.requeue_run(item) is RunStatus.PENDING
    got = await store.get_run(run.id)
    assert got is not None and (got.status, got.attempt) == (RunStatus.PENDING, 2)
    assert not got.cancel_requested
    (again,) = [r for r in await store.claim_runs("n2", now, 10) if r.id == run.id]
    assert not again.cancel_requested
    assert await store.heartbeat_runs("n2", [run.id], now + SEC) == {run.id: False}
