"""The store contract, queued runs settled when their schedule is replaced or deleted.

A run queued behind another (``queue_one``) waits while its schedule has
``max_instances`` other active runs. Raising the limit, or lifting it (``allow``), must
release it at once, not when its blocker ends: a re-audit (PostgreSQL, FerretDB) found a
queued run held for the whole 30 s of a run after ``max_instances`` went from 1 to 2,
every fire meanwhile skipped. Deleting the schedule does not: its queued run still waits
for the run it is queued behind (a deletion must not start two at once), and then runs.
Every backend, public API only.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from schedkit.models import OverlapPolicy, Run, RunStatus
from schedkit.store import Store
from tests.store._contract import SEC, T0, add_runs, fin, make_run, make_schedule, outcome, seed
from tests.store.conftest import MoreStores


async def _save(
    store: Store, max_instances: int, overlap: OverlapPolicy = OverlapPolicy.QUEUE_ONE
) -> None:
    """Schedule ``s`` with that limit, written by put_schedule (its next version)."""
    current = await store.get_schedule("s")
    version = 1 if current is None else current.version + 1
    await seed(store, make_schedule(overlap=overlap, max_instances=max_instances, version=version))


async def _running(store: Store, *runs: Run) -> None:
    await add_runs(store, *runs)
    for run in runs:
        assert await store.claim_runs("n1", T0, 1, run_ids=[run.id])


async def _blocked_by(store: Store, run: Run) -> str | None:
    got = await store.get_run(run.id)
    assert got is not None and got.status is RunStatus.PENDING
    return got.blocked_by


async def _one_running_one_queued(store: Store) -> tuple[Run, Run]:
    await _save(store, max_instances=1)
    running = make_run(scheduled_for=T0)
    await _running(store, running)
    queued = make_run(scheduled_for=T0 + 2 * SEC, blocked_by=running.id)
    await add_runs(store, queued)
    return running, queued


async def test_raising_max_instances_releases_a_queued_run_at_once(store: Store) -> None:
    _, queued = await _one_running_one_queued(store)
    await _save(store, max_instances=2)
    assert await _blocked_by(store, queued) is None
    claimed = await store.claim_runs("n9", T0 + 3600 * SEC, 10)
    assert [r.id for r in claimed] == [queued.id]


async def test_lifting_the_limit_releases_a_queued_run_at_once(store: Store) -> None:
    _, queued = await _one_running_one_queued(store)
    await _save(store, max_instances=1, overlap=OverlapPolicy.ALLOW)
    assert await _blocked_by(store, queued) is None


@pytest.mark.parametrize("how", ["deleted", "deleted-at-version"])
async def test_deleting_the_schedule_leaves_a_queued_run_behind_its_blocker(
    store: Store, how: str
) -> None:
    running, queued = await _one_running_one_queued(store)
    if how == "deleted":
        assert await store.delete_schedule("s")
    else:
        assert await store.delete_schedule("s", expected_version=1)
    assert await _blocked_by(store, queued) == running.id


async def test_replacing_many_schedules_settles_their_queued_runs(store: Store) -> None:
    _, queued = await _one_running_one_queued(store)
    stored = await store.get_schedule("s")
    assert stored is not None
    await store.replace_schedules([dataclasses.replace(stored, max_instances=2, version=2)])
    assert await _blocked_by(store, queued) is None


async def test_a_save_that_keeps_or_lowers_the_limit_keeps_the_run_queued(store: Store) -> None:
    await _save(store, max_instances=2)
    one, two = make_run(scheduled_for=T0), make_run(scheduled_for=T0 + SEC)
    await _running(store, one, two)
    queued = make_run(scheduled_for=T0 + 2 * SEC, blocked_by=two.id)
    await add_runs(store, queued)

    await _save(store, max_instances=2)
    assert await _blocked_by(store, queued) == two.id
    await _save(store, max_instances=1)
    assert await _blocked_by(store, queued) == two.id
    assert await store.claim_runs("n9", T0 + 3600 * SEC, 10) == []


async def test_a_limit_raised_while_a_blocker_ends_never_leaves_the_run_queued(
    store: Store, more_stores: MoreStores
) -> None:
    """The newest run ends (two connections) as the limit goes from 1 to 2: its end may
    read the old limit and queue the run behind the older one, but whichever writes
    last, the run ends up released (one run active, two allowed)."""
    (other,) = await more_stores(1)
    for i in range(12):
        at = T0 + 10 * i * SEC
        await _save(store, max_instances=1)
        first, newest = make_run(scheduled_for=at), make_run(scheduled_for=at + SEC)
        await _running(store, first, newest)
        queued = make_run(scheduled_for=at + 2 * SEC, blocked_by=newest.id)
        await add_runs(store, queued)
        ended, _ = await asyncio.gather(
            other.finish_run(fin(newest.id, 1, "n1", outcome())), _save(store, max_instances=2)
        )
        assert ended
        assert await _blocked_by(store, queued) is None, f"round {i}: left queued"
        for run, node in ((first, "n1"), (queued, None)):
            done = outcome(RunStatus.SUCCESS if node else RunStatus.SKIPPED)
            assert await store.finish_run(fin(run.id, 1, node, done))
