"""The store contract, runs queued behind another (``blocked_by``: ``queue_one``, backfill
chains): a run written behind a run that has already ended is written released. A tick
reads the active runs, then writes its fires; a run ending in between released its queue
before the queued fire existed, which then waited forever and the schedule's every later
fire was skipped as "one run is already queued". Every backend, public API only."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from schedkit.models import Run, RunStatus
from schedkit.store import Store
from tests.store._contract import (
    SEC,
    T0,
    add_runs,
    adv,
    claim_one,
    fin,
    lost,
    make_run,
    make_schedule,
    outcome,
)
from tests.store.conftest import MoreStores

Write = Callable[[Store, Run], Awaitable[None]]


async def _tick(store: Store, run: Run) -> list[str]:
    """The scheduler's write of a fire of schedule ``s`` (with its advance)."""
    if await store.get_schedule("s") is None:
        await store.put_schedule(make_schedule(version=1), expected_version=0)
    advance = adv("s", 1, run.scheduled_for + SEC, run.scheduled_for)
    return (await store.record_fires([run], [advance], fence=None, now=T0)).inserted


async def _record_fires(store: Store, run: Run) -> None:
    assert await _tick(store, run) == [run.id]


async def _insert_runs(store: Store, run: Run) -> None:
    assert await store.insert_runs([run]) == [run.id]


WRITES = pytest.mark.parametrize("write", [_record_fires, _insert_runs], ids=["tick", "insert"])


async def _finish(store: Store, run: Run) -> None:
    claimed = await claim_one(store, run)
    assert await store.finish_run(fin(run.id, 1, "n1", outcome()))
    assert claimed.status is RunStatus.RUNNING


async def _lose(store: Store, run: Run) -> None:
    claimed = await claim_one(store, run)
    verdict = lost(claimed, stale_before=T0 + 30 * SEC, now=T0 + 60 * SEC)
    assert await store.lose_runs([verdict]) == [True]


async def _cancel(store: Store, run: Run) -> None:
    cancelled = await store.request_cancel(run.id, T0 + SEC, "by hand")
    assert cancelled is not None and cancelled.status is RunStatus.CANCELLED


@WRITES
@pytest.mark.parametrize("end", [_finish, _lose, _cancel], ids=["finished", "lost", "cancelled"])
async def test_a_run_queued_behind_an_ended_run_is_written_released(
    store: Store, write: Write, end: Callable[[Store, Run], Awaitable[None]]
) -> None:
    first = make_run()
    await add_runs(store, first)
    await end(store, first)
    queued = make_run(scheduled_for=T0 + SEC, not_before=T0 + SEC, blocked_by=first.id)
    await write(store, queued)
    got = await store.get_run(queued.id)
    assert got is not None and (got.status, got.blocked_by) == (RunStatus.PENDING, None)
    claimed = await store.claim_runs("n2", T0 + 90 * SEC, 10)
    assert [r.id for r in claimed] == [queued.id]


@WRITES
async def test_a_run_queued_behind_an_active_run_waits_for_its_end(
    store: Store, write: Write
) -> None:
    first = make_run()
    await add_runs(store, first)
    await claim_one(store, first)
    queued = make_run(scheduled_for=T0 + SEC, not_before=T0 + SEC, blocked_by=first.id)
    # Behind a run that is no run at all: left as written (nothing says it ended).
    orphan = make_run(scheduled_for=T0 + 2 * SEC, not_before=T0 + SEC, blocked_by="nobody")
    await write(store, queued)
    await write(store, orphan)
    got = await store.get_run(queued.id)
    assert got is not None and got.blocked_by == first.id
    assert await store.claim_runs("n2", T0 + 90 * SEC, 10) == []

    assert await store.finish_run(fin(first.id, 1, "n1", outcome()))
    got = await store.get_run(queued.id)
    assert got is not None and got.blocked_by is None
    still = await store.get_run(orphan.id)
    assert still is not None and still.blocked_by == "nobody"
    assert [r.id for r in await store.claim_runs("n2", T0 + 90 * SEC, 10)] == [queued.id]


async def test_a_backfill_chain_written_in_one_batch_stays_chained(store: Store) -> None:
    """Blockers inserted in the same write are pending: their queue stays blocked."""
    first = make_run(schedule_id="bf")
    second = make_run(schedule_id="bf", scheduled_for=T0 + SEC, blocked_by=first.id)
    third = make_run(schedule_id="bf", scheduled_for=T0 + 2 * SEC, blocked_by=second.id)
    await add_runs(store, first, second, third)
    stored = {r.id: r.blocked_by for r in await store.get_runs([second.id, third.id])}
    assert stored == {second.id: first.id, third.id: second.id}


async def test_a_run_queued_while_its_blocker_finishes_is_never_stranded(
    store: Store, more_stores: MoreStores
) -> None:
    """The tick's write and the finish race (two connections): whichever commits first,
    the queued run ends up released."""
    (other,) = await more_stores(1)
    for i in range(15):
        first = make_run(scheduled_for=T0 + 2 * i * SEC)
        await add_runs(store, first)
        await claim_one(store, first, now=T0 + 2 * i * SEC)
        queued = make_run(scheduled_for=T0 + (2 * i + 1) * SEC, not_before=T0, blocked_by=first.id)
        finished, inserted = await asyncio.gather(
            other.finish_run(fin(first.id, 1, "n1", outcome())), _tick(store, queued)
        )
        assert finished and inserted == [queued.id]
        got = await store.get_run(queued.id)
        assert got is not None and got.blocked_by is None, f"round {i}: stranded"
        assert await store.finish_run(fin(queued.id, 1, None, outcome(RunStatus.SKIPPED)))


async def test_a_tick_with_runs_and_no_advance_is_written(store: Store) -> None:
    """The contract allows a tick of runs without schedule advances; MongoDB's raised
    TypeError (an insert of no lock documents) instead of writing them."""
    run = make_run(status=RunStatus.PENDING)
    record = await store.record_fires([run], [], fence=None, now=T0)
    assert record.inserted == [run.id]
    stored = await store.get_run(run.id)
    assert stored is not None and stored.status is RunStatus.PENDING
