"""Claiming a named run (``claim_runs(..., run_ids=...)``): how a worker that received a
message for one run (a Celery hand-off) claims exactly that run, once, on every backend."""

from __future__ import annotations

import asyncio

from schedkit.models import RunStatus
from schedkit.store import Store
from tests.store._contract import SEC, T0, add_runs, fin, make_run, outcome
from tests.store.conftest import MoreStores


async def test_a_named_run_is_claimed_whatever_the_claim_order(store: Store) -> None:
    named = make_run(schedule_id="a", priority=1)
    ahead = make_run(schedule_id="b", priority=9)  # first in claim order, not named
    await add_runs(store, named, ahead)
    [claimed] = await store.claim_runs("n1", T0, 1, ["t"], run_ids=[named.id])
    assert claimed.id == named.id and claimed.status is RunStatus.RUNNING
    assert claimed.node_id == "n1" and claimed.started_at == T0
    got = await store.get_run(ahead.id)
    assert got is not None and got.status is RunStatus.PENDING


async def test_a_named_run_that_is_not_claimable_is_not_claimed(store: Store) -> None:
    running = make_run(schedule_id="r")
    done = make_run(schedule_id="d")
    future = make_run(schedule_id="f", not_before=T0 + 60 * SEC)
    blocked = make_run(schedule_id="q", blocked_by="someone")
    other_task = make_run(schedule_id="o", task_name="other")
    await add_runs(store, running, done, future, blocked, other_task)
    for run in (running, done):
        assert len(await store.claim_runs("n1", T0, 1, run_ids=[run.id])) == 1
    assert await store.finish_runs([fin(done.id, 1, "n1", outcome())]) == [True]
    for run in (running, done, future, blocked):
        assert await store.claim_runs("n2", T0, 1, ["t"], run_ids=[run.id]) == []
    assert await store.claim_runs("n2", T0, 1, ["t"], run_ids=[other_task.id]) == []
    assert await store.claim_runs("n2", T0, 1, ["t"], run_ids=[]) == []
    # Unchanged: a refused claim writes nothing.
    for run, status in ((future, RunStatus.PENDING), (blocked, RunStatus.PENDING)):
        got = await store.get_run(run.id)
        assert got is not None and got.status is status and got.node_id is None


async def test_a_named_run_raced_for_is_claimed_by_exactly_one(
    store: Store, more_stores: MoreStores
) -> None:
    """A message delivered several times at once: one claim wins, the others get []."""
    runs = [make_run(schedule_id=f"s{i}") for i in range(5)]
    await add_runs(store, *runs)
    stores = [store, *await more_stores(3)]
    for run in runs:
        results = await asyncio.gather(
            *(
                stores[i % len(stores)].claim_runs(f"node-{i}", T0, 1, ["t"], run_ids=[run.id])
                for i in range(8)
            )
        )
        winners = [i for i, got in enumerate(results) if got]
        assert len(winners) == 1, results
        [claimed] = results[winners[0]]
        assert claimed.id == run.id
        stored = await store.get_run(run.id)
        assert stored is not None and stored.node_id == f"node-{winners[0]}"
