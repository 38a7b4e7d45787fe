"""The store contract, reliability (issue #16): compare-and-set schedule writes, ticks
fenced by the leader's lease term, the reaper's one-step verdict on silent runs,
idempotent finishes, and the state area's prefix listing. Every backend, public API only.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from schedkit.errors import ConflictError, ScheduleConflictError
from schedkit.models import RunStatus
from schedkit.store import FireRecord, LeaseFence, Store
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

# -- schedules: compare-and-set -----------------------------------------------------------


async def test_put_schedule_is_compare_and_set(store: Store) -> None:
    first = make_schedule(version=1)
    await store.put_schedule(first, expected_version=0)
    with pytest.raises(ScheduleConflictError) as exists:
        await store.put_schedule(first, expected_version=0)
    assert (exists.value.schedule_id, exists.value.expected, exists.value.actual) == ("s", 0, 1)
    # A create of one that exists: said as such, not as a concurrent change to re-read.
    assert isinstance(exists.value, ConflictError) and "exists already" in str(exists.value)

    second = replace(first, kwargs={"n": 2}, version=2)
    await store.put_schedule(second, expected_version=1)
    stale = replace(first, kwargs={"n": "stale"}, version=2)
    with pytest.raises(ScheduleConflictError) as conflict:
        await store.put_schedule(stale, expected_version=1)
    assert (conflict.value.expected, conflict.value.actual) == (1, 2)
    assert "re-read" in str(conflict.value)
    assert await store.get_schedule("s") == second  # the loser wrote nothing

    with pytest.raises(ValueError, match="version 3"):  # must carry expected + 1
        await store.put_schedule(replace(second, version=2), expected_version=2)
    with pytest.raises(ScheduleConflictError) as missing:
        await store.put_schedule(make_schedule(id="nope", version=5), expected_version=4)
    assert missing.value.actual is None


async def test_a_create_is_an_insert_at_any_version(store: Store) -> None:
    """A schedule created again under a deleted one's id continues from the deleted
    one's version: expected_version 0 inserts it at the version it carries."""
    await store.put_schedule(make_schedule(version=3), expected_version=0)
    stored = await store.get_schedule("s")
    assert stored is not None and stored.version == 3
    with pytest.raises(ScheduleConflictError) as exists:
        await store.put_schedule(make_schedule(version=7), expected_version=0)
    assert (exists.value.expected, exists.value.actual) == (0, 3)
    await store.put_schedule(make_schedule(kwargs={"n": 4}, version=4), expected_version=3)
    assert await store.delete_schedule("s", expected_version=4)
    with pytest.raises(ValueError, match="versions start at 1"):
        await store.put_schedule(make_schedule(version=0), expected_version=0)


async def test_delete_schedule_with_an_expected_version(store: Store) -> None:
    await store.put_schedule(make_schedule(version=1), expected_version=0)
    with pytest.raises(ScheduleConflictError):
        await store.delete_schedule("s", expected_version=2)
    assert await store.get_schedule("s") is not None
    assert await store.delete_schedule("s", expected_version=1)
    assert not await store.delete_schedule("s", expected_version=1)  # gone: nothing to do
    assert not await store.delete_schedule("s")


async def test_concurrent_schedule_writers_exactly_one_wins(
    store: Store, more_stores: MoreStores
) -> None:
    """Two users editing one schedule read at version 1: before compare-and-set both
    "succeeded" at version 2 with different kwargs and one edit was silently lost."""
    stores = [store, *await more_stores(3)]
    base = make_schedule(version=1)
    await store.put_schedule(base, expected_version=0)
    for expected in (1, 2):
        edits = [replace(base, kwargs={"writer": i}, version=expected + 1) for i in range(8)]
        results = await asyncio.gather(
            *(
                stores[i % len(stores)].put_schedule(edit, expected_version=expected)
                for i, edit in enumerate(edits)
            ),
            return_exceptions=True,
        )
        winners = [i for i, result in enumerate(results) if result is None]
        assert len(winners) == 1
        assert all(isinstance(r, ScheduleConflictError) for r in results if r is not None)
        assert await store.get_schedule("s") == edits[winners[0]]


# -- record_fires fenced by the lease term ------------------------------------------------


async def test_record_fires_writes_nothing_without_the_lease(store: Store) -> None:
    """An ex-leader (expired lease, or taken over) could still insert runs and advance
    schedules: leadership was checked when planning, not when writing."""
    await store.put_schedule(make_schedule(version=1), expected_version=0)
    lease = await store.acquire_lease("scheduler", "a", 10, T0)
    assert lease is not None
    held = LeaseFence(name="scheduler", holder="a", term=lease.term)
    advance = [adv("s", 1, T0 + SEC, T0)]

    for fence, now in (
        (held, T0 + 10 * SEC),  # expired (expires_at is exclusive)
        (replace(held, holder="b"), T0 + SEC),  # someone else's
        (replace(held, term=lease.term + 1), T0 + SEC),  # a term never held
        (LeaseFence(name="other", holder="a", term=1), T0 + SEC),  # no such lease
    ):
        run = make_run()
        record = await store.record_fires([run], advance, fence=fence, now=now)
        assert record == FireRecord(inserted=[], advanced=0, fenced=True)
        assert await store.get_run(run.id) is None
        got = await store.get_schedule("s")
        assert got is not None and got.next_fire_time == T0  # not advanced

    run = make_run()
    record = await store.record_fires([run], advance, fence=held, now=T0 + 9 * SEC)
    assert record == FireRecord(inserted=[run.id], advanced=1, fenced=False)

    # Taken over after expiry: the old holder's term no longer writes, the new one does.
    taken = await store.acquire_lease("scheduler", "b", 10, T0 + 11 * SEC)
    assert taken is not None and taken.term == lease.term + 1
    late = make_run(scheduled_for=T0 + SEC)
    advance = [adv("s", 1, T0 + 2 * SEC, T0 + SEC)]
    record = await store.record_fires([late], advance, fence=held, now=T0 + 11 * SEC)
    assert record.fenced and await store.get_run(late.id) is None
    new = LeaseFence(name="scheduler", holder="b", term=taken.term)
    record = await store.record_fires([late], advance, fence=new, now=T0 + 11 * SEC)
    assert record == FireRecord(inserted=[late.id], advanced=1)


async def test_record_fires_racing_a_takeover_writes_under_one_term(
    store: Store, more_stores: MoreStores
) -> None:
    """A tick written while another node takes the lease over: the tick either lands
    before the takeover (it wrote) or is fenced (it wrote nothing), never half."""
    (other,) = await more_stores(1)
    for i in range(6):
        name = f"leader-{i}"
        sid = f"s{i}"
        await store.put_schedule(make_schedule(id=sid, version=1), expected_version=0)
        lease = await store.acquire_lease(name, "a", 10, T0)
        assert lease is not None
        fence = LeaseFence(name=name, holder="a", term=lease.term)
        run = make_run(schedule_id=sid)
        record, taken = await asyncio.gather(
            store.record_fires([run], [adv(sid, 1, T0 + SEC, T0)], fence=fence, now=T0 + 9 * SEC),
            other.acquire_lease(name, "b", 10, T0 + 10 * SEC),
        )
        assert taken is not None
        got = await store.get_schedule(sid)
        assert got is not None
        if record.fenced:
            assert await store.get_run(run.id) is None and got.next_fire_time == T0
        else:
            assert record.inserted == [run.id] and got.next_fire_time == T0 + SEC


# -- the reaper: stale_runs, lose_runs ------------------------------------------------------


async def test_stale_runs_oldest_heartbeat_first(store: Store) -> None:
    runs = [make_run(schedule_id=k) for k in ("a", "b", "c", "d")]
    await add_runs(store, *runs)
    assert len(await store.claim_runs("n1", T0, 10)) == 4
    await store.heartbeat_runs("n1", [runs[0].id], T0 + 20 * SEC)
    await store.heartbeat_runs("n1", [runs[1].id], T0 + 10 * SEC)
    await store.heartbeat_runs("n1", [runs[3].id], T0 + 40 * SEC)  # fresh
    await add_runs(store, make_run(schedule_id="pending"))
    stale = await store.stale_runs(T0 + 30 * SEC, 10)
    assert [r.id for r in stale] == [runs[2].id, runs[1].id, runs[0].id]
    assert [r.heartbeat_at for r in stale] == [T0, T0 + 10 * SEC, T0 + 20 * SEC]
    assert [r.id for r in await store.stale_runs(T0 + 30 * SEC, 2)] == [runs[2].id, runs[1].id]
    assert await store.stale_runs(T0 + 30 * SEC, 0) == []


async def test_lose_runs_final_in_one_step(store: Store) -> None:
    run = make_run(schedule_id="dead")
    await add_runs(store, run)
    claimed = await claim_one(store, run)
    queued = make_run(schedule_id="dead", scheduled_for=T0 + SEC, blocked_by=run.id)
    await add_runs(store, queued)
    now, stale_before = T0 + 60 * SEC, T0 + 30 * SEC
    verdict = lost(claimed, stale_before=stale_before, now=now)

    assert await store.lose_runs([replace(verdict, attempt=2)]) == [False]
    assert await store.lose_runs([replace(verdict, node_id="n2")]) == [False]
    assert await store.lose_runs([verdict]) == [True]
    got = await store.get_run(run.id)
    assert got is not None
    assert (got.status, got.finished_at, got.reason) == (RunStatus.LOST, now, verdict.reason)
    released = await store.get_run(queued.id)
    assert released is not None and released.blocked_by is None
    # Applied once; the zombie node can neither heartbeat nor finish it, and its
    # heartbeat says the run is no longer its (so it stops the run's code).
    assert await store.lose_runs([verdict]) == [False]
    assert await store.heartbeat_runs("n1", [run.id], now) == {}
    assert not await store.finish_run(fin(run.id, 1, "n1", outcome()))


async def test_lose_runs_retry_goes_straight_back_to_pending(store: Store) -> None:
    """The reaper used to mark a run lost, then requeue it in a second step: a leader
    dying in between left a lost run with retries left that was never retried. The
    verdict is now one step: no ``lost`` state is ever stored for a retried attempt."""
    run = make_run(max_attempts=3)
    await add_runs(store, run)
    claimed = await claim_one(store, run)
    retry_at = T0 + 90 * SEC
    verdict = lost(claimed, stale_before=T0 + 30 * SEC, now=T0 + 60 * SEC, retry_at=retry_at)
    assert await store.lose_runs([verdict]) == [True]
    got = await store.get_run(run.id)
    assert got is not None
    assert (got.status, got.attempt, got.not_before) == (RunStatus.PENDING, 2, retry_at)
    assert got.attempt_errors == [verdict.attempt_error]
    cleared = (got.node_id, got.started_at, got.heartbeat_at, got.finished_at, got.reason)
    assert cleared == (None, None, None, None, None)
    assert await store.lose_runs([verdict]) == [False]  # attempt 1 is over
    assert await store.claim_runs("n2", T0 + 60 * SEC, 10) == []  # not before retry_at
    (again,) = await store.claim_runs("n2", retry_at, 10)
    assert (again.id, again.attempt, again.node_id) == (run.id, 2, "n2")


async def test_a_lost_run_sent_back_for_its_retry_keeps_its_queue_blocked(
    store: Store,
) -> None:
    """A run queued behind a lost run (a backfill chain, ``queue_one``) waits for the
    lost run's retry to end, not for the verdict that sent it back: releasing it then
    had two runs of a ``--concurrency 1`` backfill running at once (an audit, kill -9)."""
    run = make_run(schedule_id="dead", max_attempts=2)
    queued = make_run(schedule_id="dead", scheduled_for=T0 + SEC, blocked_by=run.id)
    await add_runs(store, run, queued)
    claimed = await claim_one(store, run)
    retry_at = T0 + 61 * SEC
    verdict = lost(claimed, stale_before=T0 + 30 * SEC, now=T0 + 60 * SEC, retry_at=retry_at)
    assert await store.lose_runs([verdict]) == [True]
    waiting = await store.get_run(queued.id)
    assert waiting is not None and waiting.blocked_by == run.id
    (retry,) = await store.claim_runs("n2", retry_at, 10)
    assert retry.id == run.id
    assert await store.finish_run(fin(run.id, 2, "n2", outcome()))
    released = await store.get_run(queued.id)
    assert released is not None and released.blocked_by is None


async def test_a_lost_run_ended_cancelled_instead_of_retried_releases_its_queue(
    store: Store,
) -> None:
    run = make_run(schedule_id="dead", max_attempts=2)
    queued = make_run(schedule_id="dead", scheduled_for=T0 + SEC, blocked_by=run.id)
    await add_runs(store, run, queued)
    claimed = await claim_one(store, run)
    await store.request_cancel(run.id, T0 + SEC, "stop it")
    verdict = lost(claimed, stale_before=T0 + 30 * SEC, now=T0 + 60 * SEC, retry_at=T0)
    assert await store.lose_runs([verdict]) == [True]
    got = await store.get_run(run.id)
    assert got is not None and got.status is RunStatus.CANCELLED
    released = await store.get_run(queued.id)
    assert released is not None and released.blocked_by is None


async def test_lose_runs_a_heartbeat_first_wins(store: Store, more_stores: MoreStores) -> None:
    runs = [make_run(schedule_id=f"s{i}") for i in range(10)]
    await add_runs(store, *runs)
    claimed = await store.claim_runs("n1", T0, 10)
    (reaper,) = await more_stores(1)
    # Beaten by a heartbeat that lands first.
    await store.heartbeat_runs("n1", [claimed[0].id], T0 + 40 * SEC)
    verdict = lost(claimed[0], stale_before=T0 + 30 * SEC, now=T0 + 60 * SEC)
    assert await reaper.lose_runs([verdict]) == [False]
    got = await store.get_run(claimed[0].id)
    assert got is not None and got.status is RunStatus.RUNNING
    # Racing: whatever the order, a run is either lost or keeps its fresh heartbeat.
    rest = claimed[1:]
    verdicts = [lost(r, stale_before=T0 + 30 * SEC, now=T0 + 60 * SEC) for r in rest]
    applied, _ = await asyncio.gather(
        reaper.lose_runs(verdicts),
        store.heartbeat_runs("n1", [r.id for r in rest], T0 + 40 * SEC),
    )
    for run, was_lost in zip(rest, applied, strict=True):
        got = await store.get_run(run.id)
        assert got is not None
        if was_lost:
            assert got.status is RunStatus.LOST
        else:
            assert (got.status, got.heartbeat_at) == (RunStatus.RUNNING, T0 + 40 * SEC)


# -- finishing is idempotent --------------------------------------------------------------------


async def test_a_finish_sent_again_counts_as_applied(store: Store) -> None:
    """A finish whose commit acknowledgement was lost is sent again: it used to get
    False and the engine logged the outcome as dropped (no FINISHED event)."""
    run, pending = make_run(schedule_id="a"), make_run(schedule_id="b")
    await add_runs(store, run)
    await claim_one(store, run)
    await add_runs(store, pending)
    done, skipped = outcome(), outcome(RunStatus.SKIPPED, reason="calendar")
    assert await store.finish_runs([fin(run.id, 1, "n1", done), fin(pending.id, 1, None, skipped)])
    assert await store.finish_runs(
        [fin(run.id, 1, "n1", done), fin(pending.id, 1, None, skipped)]
    ) == [True, True]
    # Not the same finish: another status, instant, node or attempt is refused.
    assert (
        await store.finish_runs(
            [
                fin(run.id, 1, "n1", outcome(RunStatus.FAILED)),
                fin(run.id, 1, "n1", outcome(finished_at=T0 + 11 * SEC)),
                fin(run.id, 1, "n2", done),
                fin(run.id, 2, "n1", done),
                fin(pending.id, 1, "n1", skipped),
            ]
        )
        == [False] * 5
    )
    got = await store.get_run(run.id)
    assert got is not None and (got.status, got.finished_at) == (done.status, done.finished_at)


# -- key/value state: listing by prefix -------------------------------------------------------


async def test_list_state_by_prefix(store: Store) -> None:
    for key in ("cal:b", "cal:a", "calx", "c", "cal%", "ca_:x", "cal:a:2", "other"):
        assert await store.set_state(key, {"key": key}, 0)
    assert await store.set_state("cal:a", {"key": "cal:a", "v": 2}, 1)
    entries = await store.list_state("cal:")
    assert [(e.key, e.version) for e in entries] == [("cal:a", 2), ("cal:a:2", 1), ("cal:b", 1)]
    assert entries[0].value == {"key": "cal:a", "v": 2}
    # The prefix is literal: no LIKE wildcards.
    assert [e.key for e in await store.list_state("cal%")] == ["cal%"]
    assert [e.key for e in await store.list_state("ca_")] == ["ca_:x"]
    assert await store.list_state("nothing") == []
    assert len(await store.list_state("")) == 8
    await store.delete_state("cal:b")
    assert [e.key for e in await store.list_state("cal:")] == ["cal:a", "cal:a:2"]
