"""The store contract, atomic steps: fencing, claiming, finishing, leases, compare-and-set.

Concurrency tests race several *stores* on one database (separate connection pools, as
separate nodes would have) and, for fencing and claiming, several processes. Only the
public :class:`~schedkit.store.Store` API is used (see ``test_contract.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

import schedkit.store
from schedkit.models import RunFilter, RunStatus, TriggerSource
from schedkit.store import Store
from tests.store._contract import (
    CHINESE,
    SEC,
    T0,
    add_runs,
    assert_utc,
    claim_one,
    fin,
    make_run,
    make_schedule,
    outcome,
    rq,
)
from tests.store.conftest import MoreStores

RunWorkers = Callable[[int, int], Awaitable[list[dict[str, list[str]]]]]


# A worker process: opens the store, says "ready", waits for a line on stdin (so that
# all workers start together), then in several coroutines each (1) inserts a run for the
# same fire of schedule "race" and (2) claims batches until none is left. It prints
# {"inserted": [ids it was told were inserted], "claimed": [ids it claimed]}.
_WORKER = r"""
import asyncio, json, sys
from datetime import datetime
from schedkit.models import Run, TriggerSource, new_id, utcnow
from schedkit.store import create_store

async def main(url, name, tasks, fire_time):
    store = create_store(url)
    await store.open()
    try:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

        async def one(i):
            run = Run(id=new_id(), task_name="t", schedule_id="race",
                      trigger_source=TriggerSource.SCHEDULE, scheduled_for=fire_time)
            inserted = await store.insert_runs([run])
            claimed = []
            while batch := await store.claim_runs(f"{name}-{i}", utcnow(), 5):
                claimed.extend(r.id for r in batch)
            return inserted, claimed

        results = await asyncio.gather(*(one(i) for i in range(tasks)))
        print(json.dumps({"inserted": [i for ins, _ in results for i in ins],
                          "claimed": [i for _, cl in results for i in cl]}), flush=True)
    finally:
        await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), datetime.fromisoformat(sys.argv[4])))
"""


@pytest.fixture
def run_workers(store_url: str) -> RunWorkers:
    """``await run_workers(n, tasks)``: n worker processes with ``tasks`` coroutines
    each, all on the test's database, started together; their answers."""
    # The workers import schedkit from where this process did (installed, or a source tree).
    package_root = Path(schedkit.store.__file__).parent.parent.parent
    path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(package_root)) if p)
    env = {**os.environ, "PYTHONPATH": path}

    async def run(n: int, tasks: int) -> list[dict[str, list[str]]]:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _WORKER,
                store_url,
                f"p{i}",
                str(tasks),
                T0.isoformat(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
            for i in range(n)
        ]
        try:
            for proc in procs:
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), 60)
                if line.strip() != b"ready":
                    _, err = await proc.communicate()
                    pytest.fail(f"worker did not start: {err.decode()[-3000:]}")
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write(b"go\n")
                await proc.stdin.drain()
            answers = []
            for proc in procs:
                out, err = await asyncio.wait_for(proc.communicate(), 60)
                assert proc.returncode == 0, err.decode()[-3000:]
                answers.append(json.loads(out))
            return answers
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()

    return run


# -- fencing (invariant 1) --------------------------------------------------------------


async def test_insert_runs_is_insert_if_absent(store: Store) -> None:
    first = make_run()
    assert await store.insert_runs([first]) == [first.id]
    twin = make_run()  # same (schedule_id, scheduled_for), new id
    assert await store.insert_runs([twin]) == []
    assert await store.get_run(twin.id) is None

    # A batch: only the new keys go in, and the ids come back in input order.
    fresh1 = make_run(scheduled_for=T0 + SEC)
    fresh2 = make_run(scheduled_for=T0 + 2 * SEC)
    other_schedule = make_run(schedule_id="s2")  # same time, other schedule: distinct
    inserted = await store.insert_runs([fresh2, make_run(), fresh1, other_schedule])
    assert inserted == [fresh2.id, fresh1.id, other_schedule.id]
    assert await store.count_runs(RunFilter(schedule_id="s")) == 3
    assert (await store.get_run(first.id)) == first  # the original is untouched


async def test_manual_runs_are_never_deduplicated(store: Store) -> None:
    manual = [make_run(schedule_id=None, trigger_source=TriggerSource.MANUAL) for _ in range(2)]
    assert await store.insert_runs(manual) == [r.id for r in manual]
    again = make_run(schedule_id=None, trigger_source=TriggerSource.MANUAL)
    assert await store.insert_runs([again]) == [again.id]
    assert await store.count_runs() == 3


async def test_concurrent_inserts_of_one_fire_yield_one_run(
    store: Store, more_stores: MoreStores
) -> None:
    stores = [store, *await more_stores(4)]
    runs = [make_run(task_name=f"t{i}") for i in range(50)]
    results = await asyncio.gather(
        *(stores[i % len(stores)].insert_runs([run]) for i, run in enumerate(runs))
    )
    winners = [ids for ids in results if ids]
    assert len(winners) == 1 and len(winners[0]) == 1
    stored = await store.list_runs(RunFilter(schedule_id="s"))
    assert [r.id for r in stored] == winners[0]


# -- claiming (invariant 3) ---------------------------------------------------------------


async def test_claim_order_filters_and_new_state(store: Store) -> None:
    now = T0 + 60 * SEC
    low_old = make_run(schedule_id="a", priority=1, not_before=T0)
    high_late = make_run(schedule_id="b", priority=3, not_before=T0 + 30 * SEC)
    high_early = make_run(schedule_id="c", priority=3, not_before=T0 + 10 * SEC)
    mid = make_run(schedule_id="d", priority=2, not_before=T0 + 20 * SEC)
    same_time = sorted(
        (make_run(schedule_id=f"e{i}", not_before=now) for i in range(2)), key=lambda r: r.id
    )
    future = make_run(schedule_id="f", priority=9, not_before=now + SEC)
    blocked = make_run(schedule_id="g", priority=9, blocked_by=low_old.id)
    other_task = make_run(schedule_id="h", task_name="other", priority=9)
    running = make_run(
        schedule_id="i",
        priority=9,
        status=RunStatus.RUNNING,
        node_id="x",
        started_at=T0,
        heartbeat_at=T0,
    )
    finished = make_run(schedule_id="j", priority=9, status=RunStatus.SUCCESS, finished_at=T0)
    await add_runs(
        store,
        low_old,
        high_late,
        high_early,
        mid,
        *same_time,
        future,
        blocked,
        other_task,
        running,
        finished,
    )

    claimed = await store.claim_runs("node-1", now, 3, task_names=["t"])
    assert [r.id for r in claimed] == [high_early.id, high_late.id, mid.id]
    for run in claimed:
        assert run.status is RunStatus.RUNNING
        assert run.node_id == "node-1"
        assert run.started_at == now and run.heartbeat_at == now
        assert await store.get_run(run.id) == run

    rest = await store.claim_runs("node-2", now, 10, task_names=["t"])
    assert [r.id for r in rest] == [same_time[0].id, same_time[1].id, low_old.id]
    assert await store.claim_runs("node-2", now, 10, task_names=["t"]) == []
    assert await store.claim_runs("node-2", now, 10, task_names=[]) == []

    # Without a task filter, the other task's run is claimable; the future, blocked,
    # running and finished ones never are.
    assert [r.id for r in await store.claim_runs("node-3", now, 10)] == [other_task.id]
    for run, status in (
        (future, RunStatus.PENDING),
        (blocked, RunStatus.PENDING),
        (running, RunStatus.RUNNING),
        (finished, RunStatus.SUCCESS),
    ):
        got = await store.get_run(run.id)
        assert got is not None and got.status is status
    # Once its time comes, the future run is claimable.
    assert [r.id for r in await store.claim_runs("node-3", now + SEC, 10)] == [future.id]


async def test_concurrent_claimers_take_each_run_exactly_once(
    store: Store, more_stores: MoreStores
) -> None:
    runs = [make_run(schedule_id=f"s{i}", priority=i % 3) for i in range(150)]
    await add_runs(store, *runs)
    stores = [store, *await more_stores(3)]

    async def claimer(s: Store, node: str) -> list[str]:
        got: list[str] = []
        while batch := await s.claim_runs(node, T0, 7):
            got.extend(r.id for r in batch)
        return got

    results = await asyncio.gather(
        *(claimer(stores[i % len(stores)], f"node-{i}") for i in range(8))
    )
    claimed = [run_id for ids in results for run_id in ids]
    assert Counter(claimed).most_common(1)[0][1] == 1  # none twice
    assert sorted(claimed) == sorted(r.id for r in runs)  # none lost
    owner = {run_id: f"node-{i}" for i, ids in enumerate(results) for run_id in ids}
    for run in await store.list_runs(limit=1000):
        assert run.status is RunStatus.RUNNING and run.node_id == owner[run.id]


async def test_several_processes_fence_fires_and_claim_each_run_once(
    store: Store, run_workers: RunWorkers
) -> None:
    """Invariants 1 and 3 across processes (for SQLite: across file locks)."""
    now = datetime.now(UTC)
    runs = [make_run(schedule_id=f"s{i}", not_before=now - SEC) for i in range(60)]
    await add_runs(store, *runs)
    answers = await run_workers(2, 4)

    inserted = [run_id for answer in answers for run_id in answer["inserted"]]
    assert len(inserted) == 1  # eight racing inserts of one fire: one run
    race = await store.list_runs(RunFilter(schedule_id="race"))
    assert [r.id for r in race] == inserted

    claimed = [run_id for answer in answers for run_id in answer["claimed"]]
    assert len(claimed) == len(set(claimed))  # none twice
    # None lost (the race run may have been inserted after the last claim).
    assert {r.id for r in runs} <= set(claimed) <= {r.id for r in runs} | set(inserted)


# -- finishing, retrying, cancelling, reaping (invariants 4 and 5) ----------------------------


async def test_finish_run_is_fenced_by_attempt_node_and_status(store: Store) -> None:
    run = make_run()
    await add_runs(store, run)
    assert not await store.finish_run(fin(run.id, 1, "n1", outcome()))  # still pending
    claimed = await claim_one(store, run, "n1")

    assert not await store.finish_run(fin(run.id, 2, "n1", outcome()))  # wrong attempt
    assert not await store.finish_run(fin(run.id, 1, "n2", outcome()))  # wrong node
    assert not await store.finish_run(fin(run.id, 1, None, outcome()))  # not pending
    assert not await store.finish_run(fin("unknown", 1, "n1", outcome()))
    assert await store.get_run(run.id) == claimed  # nothing changed

    final = outcome(
        RunStatus.FAILED,
        finished_at=T0 + 5 * SEC,
        duration=4.25,
        result={"partial": [1, 2]},
        error={"type": "RuntimeError", "message": CHINESE},
        reason="boom",
    )
    assert await store.finish_run(fin(run.id, 1, "n1", final))
    got = await store.get_run(run.id)
    assert got == replace(
        claimed,
        status=RunStatus.FAILED,
        finished_at=T0 + 5 * SEC,
        duration=4.25,
        result={"partial": [1, 2]},
        error={"type": "RuntimeError", "message": CHINESE},
        reason="boom",
    )
    # Finished: a second finish (a duplicate or a zombie) cannot overwrite it.
    assert not await store.finish_run(fin(run.id, 1, "n1", outcome(RunStatus.SUCCESS)))
    assert await store.get_run(run.id) == got


async def test_finish_runs_applies_each_item_on_its_own(store: Store) -> None:
    ok, wrong_attempt, wrong_node = (make_run(schedule_id=k) for k in "abc")
    pending = make_run(schedule_id="e")
    blocked = make_run(schedule_id="f", blocked_by=ok.id)
    await add_runs(store, ok, wrong_attempt, wrong_node)
    assert len(await store.claim_runs("n1", T0, 10)) == 3
    await add_runs(store, pending, blocked)
    done = outcome(result={"结果": [1, 2]}, error=None, reason="完成")
    skipped = outcome(RunStatus.SKIPPED, duration=None, reason="overlap")

    applied = await store.finish_runs(
        [
            fin(ok.id, 1, "n1", done),
            fin(wrong_attempt.id, 2, "n1", done),
            fin(wrong_node.id, 1, "n2", done),
            fin(pending.id, 1, None, skipped),
            fin("unknown", 1, "n1", done),
        ]
    )
    assert applied == [True, False, False, True, False]
    got = await store.get_run(ok.id)
    assert got is not None
    assert (got.status, got.result, got.error, got.reason, got.duration, got.finished_at) == (
        RunStatus.SUCCESS,
        {"结果": [1, 2]},
        None,
        "完成",
        1.5,
        T0 + 10 * SEC,
    )
    got = await store.get_run(pending.id)
    assert got is not None and (got.status, got.reason) == (RunStatus.SKIPPED, "overlap")
    for run in (wrong_attempt, wrong_node):
        got = await store.get_run(run.id)
        assert got is not None and got.status is RunStatus.RUNNING
    released = await store.get_run(blocked.id)
    assert released is not None and released.blocked_by is None  # behind a final outcome

    # A run named twice in one batch: the second item sees the first one's effect.
    await claim_one(store, blocked, "n3")
    failed = outcome(RunStatus.FAILED, error={"m": "x"})
    assert await store.finish_runs(
        [fin(blocked.id, 1, "n3", failed), fin(blocked.id, 1, "n3", done)]
    ) == [True, False]
    got = await store.get_run(blocked.id)
    assert got is not None and got.status is RunStatus.FAILED
    assert await store.finish_runs([]) == []


@pytest.mark.timeout(60)
async def test_a_batch_of_150_finishes_each_its_own_applies_in_one_call(store: Store) -> None:
    # A busy node ends runs in batches, each with its own times and result. FerretDB v1
    # never answered an update command holding 100 single-document updates: the MongoDB
    # store's batch of 100+ finishes hung (found by the throughput benchmark).
    runs = await add_runs(store, *(make_run(schedule_id=f"s{i:03d}") for i in range(150)))
    assert len(await store.claim_runs("n1", T0, 150)) == 150
    items = [
        fin(run.id, 1, "n1", outcome(finished_at=T0 + (10 + i) * SEC, result={"i": i}))
        for i, run in enumerate(runs)
    ]
    assert await store.finish_runs(items) == [True] * 150
    stored = {r.id: r for r in await store.get_runs([r.id for r in runs])}
    for i, run in enumerate(runs):
        got = stored[run.id]
        assert (got.status, got.result, got.finished_at) == (
            RunStatus.SUCCESS,
            {"i": i},
            T0 + (10 + i) * SEC,
        )


async def test_finish_pending_run_without_node(store: Store) -> None:
    run = make_run()
    await add_runs(store, run)
    skipped = outcome(RunStatus.SKIPPED, duration=None, reason="overlap: skip")
    assert not await store.finish_run(fin(run.id, 2, None, skipped))  # wrong attempt
    assert await store.finish_run(fin(run.id, 1, None, skipped))
    got = await store.get_run(run.id)
    assert got is not None
    assert (got.status, got.reason, got.finished_at) == (
        RunStatus.SKIPPED,
        "overlap: skip",
        T0 + 10 * SEC,
    )
    assert got.node_id is None


async def test_final_outcome_releases_blocked_runs(store: Store) -> None:
    first = make_run(scheduled_for=T0)
    queued = make_run(scheduled_for=T0 + SEC, blocked_by=first.id)
    unrelated = make_run(scheduled_for=T0 + 2 * SEC, blocked_by="some-other-run")
    await add_runs(store, first, queued, unrelated)
    await claim_one(store, first, now=T0 + 5 * SEC)  # the blocked ones are not claimable

    assert await store.finish_run(fin(first.id, 1, "n1", outcome()))
    released = await store.get_run(queued.id)
    assert released is not None and released.blocked_by is None
    still = await store.get_run(unrelated.id)
    assert still is not None and still.blocked_by == "some-other-run"
    assert [r.id for r in await store.claim_runs("n2", T0 + 5 * SEC, 10)] == [queued.id]


async def test_fenced_out_finish_releases_nothing(store: Store) -> None:
    first = make_run()
    queued = make_run(scheduled_for=T0 + SEC, blocked_by=first.id)
    await add_runs(store, first, queued)
    await claim_one(store, first)
    assert not await store.finish_run(fin(first.id, 1, "zombie", outcome()))  # fenced out
    got = await store.get_run(queued.id)
    assert got is not None and got.blocked_by == first.id


async def test_requeue_run(store: Store) -> None:
    run = make_run(max_attempts=3)
    await add_runs(store, run)
    await claim_one(store, run)
    assert await store.finish_run(fin(run.id, 1, "n1", outcome(RunStatus.FAILED, error={"m": "x"})))

    retry_at = T0 + 60 * SEC
    err1 = {"attempt": 1, "type": "ValueError", "message": CHINESE}
    assert not await store.requeue_run(rq(run.id, 2, [RunStatus.FAILED], retry_at, err1))
    assert not await store.requeue_run(rq(run.id, 1, [RunStatus.TIMEOUT], retry_at, err1))
    assert await store.requeue_run(
        rq(run.id, 1, [RunStatus.FAILED, RunStatus.LOST], retry_at, err1)
    )
    # Applied once only: the attempt moved on.
    assert not await store.requeue_run(rq(run.id, 1, [RunStatus.PENDING], retry_at, err1))

    got = await store.get_run(run.id)
    assert got is not None
    assert got.status is RunStatus.PENDING
    assert got.attempt == 2
    assert got.not_before == retry_at
    assert got.attempt_errors == [err1]
    assert (got.node_id, got.started_at, got.heartbeat_at) == (None, None, None)
    assert got.scheduled_for == run.scheduled_for and got.max_attempts == 3

    assert await store.claim_runs("n1", retry_at - SEC, 10) == []  # not before its time
    again = await claim_one(store, got, "n2", now=retry_at)
    assert again.attempt == 2
    err2 = {"attempt": 2, "type": "TimeoutError", "message": "slow"}
    assert await store.requeue_run(rq(run.id, 2, [RunStatus.RUNNING], retry_at, err2))
    got = await store.get_run(run.id)
    assert got is not None and got.attempt == 3 and got.attempt_errors == [err1, err2]


async def test_request_cancel_pending_running_finished(store: Store) -> None:
    pending = make_run(schedule_id="p")
    blocked = make_run(schedule_id="p", scheduled_for=T0 + SEC, blocked_by=pending.id)
    running = make_run(schedule_id="r")
    done = make_run(schedule_id="d", status=RunStatus.SUCCESS, finished_at=T0, duration=1.0)
    await add_runs(store, running)
    await claim_one(store, running)
    await add_runs(store, pending, blocked, done)
    at = T0 + 30 * SEC

    cancelled = await store.request_cancel(pending.id, at, "由张三取消")
    assert cancelled is not None
    assert (cancelled.status, cancelled.finished_at, cancelled.reason) == (
        RunStatus.CANCELLED,
        at,
        "由张三取消",
    )
    assert await store.get_run(pending.id) == cancelled
    released = await store.get_run(blocked.id)
    assert released is not None and released.blocked_by is None

    flagged = await store.request_cancel(running.id, at, "stop")
    assert flagged is not None
    assert flagged.status is RunStatus.RUNNING and flagged.cancel_requested
    assert await store.get_run(running.id) == flagged
    assert await store.heartbeat_runs("n1", [running.id], at) == {running.id: True}

    stored_done = await store.get_run(done.id)
    assert await store.request_cancel(done.id, at, "too late") == stored_done
    assert await store.request_cancel("unknown", at, "x") is None


async def test_heartbeat_runs(store: Store) -> None:
    mine, theirs, pending = (
        make_run(schedule_id="a"),
        make_run(schedule_id="b"),
        make_run(schedule_id="c"),
    )
    await add_runs(store, mine, theirs)
    claimed = await store.claim_runs("n1", T0, 1)
    (mine_claimed,) = claimed
    (theirs_claimed,) = await store.claim_runs("n2", T0, 1)
    await add_runs(store, pending)
    later = T0 + 15 * SEC

    ids = [mine_claimed.id, theirs_claimed.id, pending.id, "unknown"]
    # Only the node's own running run is held (and not flagged): the others are not its.
    assert await store.heartbeat_runs("n1", ids, later) == {mine_claimed.id: False}
    got_mine = await store.get_run(mine_claimed.id)
    got_theirs = await store.get_run(theirs_claimed.id)
    got_pending = await store.get_run(pending.id)
    assert got_mine is not None and got_mine.heartbeat_at == later
    assert got_theirs is not None and got_theirs.heartbeat_at == T0  # another node's run
    assert got_pending is not None and got_pending.heartbeat_at is None
    assert await store.heartbeat_runs("n1", [], later) == {}

    await store.request_cancel(mine_claimed.id, later, "stop")
    assert await store.heartbeat_runs("n1", [mine_claimed.id], later + SEC) == {
        mine_claimed.id: True
    }


# -- leases ---------------------------------------------------------------------------------


async def test_lease_lifecycle(store: Store) -> None:
    assert await store.get_lease("scheduler") is None
    lease = await store.acquire_lease("scheduler", "a", 10, T0)
    assert lease is not None
    assert (lease.holder, lease.term, lease.acquired_at, lease.expires_at) == (
        "a",
        1,
        T0,
        T0 + 10 * SEC,
    )
    assert await store.get_lease("scheduler") == lease

    # Another holder cannot take a valid lease.
    assert await store.acquire_lease("scheduler", "b", 10, T0 + 5 * SEC) is None
    # The holder renews (same term) or re-acquires (extends, same term).
    renewed = await store.renew_lease("scheduler", "a", 1, 10, T0 + 5 * SEC)
    assert renewed is not None
    assert (renewed.term, renewed.acquired_at, renewed.expires_at) == (1, T0, T0 + 15 * SEC)
    extended = await store.acquire_lease("scheduler", "a", 10, T0 + 8 * SEC)
    assert extended is not None and (extended.term, extended.expires_at) == (1, T0 + 18 * SEC)
    # Renewing with the wrong term or as someone else fails.
    assert await store.renew_lease("scheduler", "a", 2, 10, T0 + 9 * SEC) is None
    assert await store.renew_lease("scheduler", "b", 1, 10, T0 + 9 * SEC) is None
    # Other leases are independent.
    other = await store.acquire_lease("reaper", "b", 10, T0 + 9 * SEC)
    assert other is not None and other.term == 1

    # Expiry: renewing too late fails; another holder takes over with term + 1.
    expired_at = T0 + 18 * SEC
    assert await store.renew_lease("scheduler", "a", 1, 10, expired_at) is None
    taken = await store.acquire_lease("scheduler", "b", 10, expired_at + SEC)
    assert taken is not None
    assert (taken.holder, taken.term, taken.acquired_at) == ("b", 2, expired_at + SEC)
    # The old holder is fenced out.
    assert await store.renew_lease("scheduler", "a", 1, 10, expired_at + 2 * SEC) is None
    assert await store.acquire_lease("scheduler", "a", 10, expired_at + 2 * SEC) is None

    # Only the holder can release; after that anyone can take it, at a new term.
    assert not await store.release_lease("scheduler", "a")
    assert await store.acquire_lease("scheduler", "a", 10, expired_at + 3 * SEC) is None
    assert await store.release_lease("scheduler", "b")
    assert await store.renew_lease("scheduler", "b", 2, 10, expired_at + 3 * SEC) is None
    after = await store.acquire_lease("scheduler", "a", 10, expired_at + 3 * SEC)
    assert after is not None and (after.holder, after.term) == ("a", 3)
    assert not await store.release_lease("nothing", "a")


async def test_concurrent_lease_acquire_has_one_winner(
    store: Store, more_stores: MoreStores
) -> None:
    stores = [store, *await more_stores(3)]
    for round_, now in enumerate((T0, T0 + 20 * SEC)):  # free, then expired
        results = await asyncio.gather(
            *(stores[i % len(stores)].acquire_lease("leader", f"h{i}", 10, now) for i in range(12))
        )
        winners = [lease for lease in results if lease is not None]
        assert len(winners) == 1
        assert winners[0].term == round_ + 1
        assert await store.get_lease("leader") == winners[0]


async def test_state_compare_and_set(store: Store) -> None:
    assert await store.get_state("alerts") is None
    value = {"firing": {"规则": [1, 2]}, "n": 1}
    assert await store.set_state("alerts", value, 0)
    assert not await store.set_state("alerts", {"other": 1}, 0)  # exists already
    entry = await store.get_state("alerts")
    assert entry is not None and (entry.value, entry.version) == (value, 1)
    assert_utc(entry.updated_at)
    assert not await store.set_state("alerts", {"stale": True}, 2)
    assert await store.set_state("alerts", {"n": 2}, 1)
    entry = await store.get_state("alerts")
    assert entry is not None and (entry.value, entry.version) == ({"n": 2}, 2)
    await store.delete_state("alerts")
    assert await store.get_state("alerts") is None
    await store.delete_state("alerts")  # deleting nothing is fine
    assert await store.set_state("alerts", {"again": True}, 0)


async def test_concurrent_compare_and_set_has_one_winner(
    store: Store, more_stores: MoreStores
) -> None:
    stores = [store, *await more_stores(3)]
    for expected in (0, 1):  # creating, then updating
        results = await asyncio.gather(
            *(stores[i % len(stores)].set_state("k", {"writer": i}, expected) for i in range(12))
        )
        assert results.count(True) == 1
        entry = await store.get_state("k")
        assert entry is not None
        assert entry.version == expected + 1
        assert entry.value == {"writer": results.index(True)}


async def test_claims_route_runs_by_the_labels_nodes_offer(store: Store) -> None:
    """A run that requires labels is claimed only by a node offering every one of them;
    a run requiring none by any node; the labels round-trip on every read."""
    plain = make_run(task_name="t", schedule_id=None, priority=1)
    gpu = make_run(task_name="t", schedule_id=None, priority=2, labels=("gpu",))
    gpu_reports = make_run(task_name="t", schedule_id=None, priority=3, labels=("gpu", "reports"))
    intranet = make_run(task_name="t", schedule_id=None, priority=4, labels=("intranet",))
    await add_runs(store, plain, gpu, gpu_reports, intranet)
    got = await store.get_run(gpu_reports.id)
    assert got is not None and got.labels == ("gpu", "reports")

    # Offering only "reports" claims none of the labelled runs, only the plain one.
    assert [r.id for r in await store.claim_runs("n-reports", T0, 10, labels=["reports"])] == [
        plain.id
    ]
    # Offering gpu + reports (+ an unused label) claims both gpu runs, highest priority
    # first, never the intranet one.
    claimed = await store.claim_runs("n-gpu", T0, 10, labels=["reports", "gpu", "x"])
    assert [r.id for r in claimed] == [gpu_reports.id, gpu.id]
    assert claimed[0].labels == ("gpu", "reports")
    # A node without labels finds nothing left it may take.
    assert await store.claim_runs("n-plain", T0, 10) == []
    (last,) = await store.claim_runs("n-intranet", T0, 10, labels=["intranet"])
    assert last.id == intranet.id and last.labels == ("intranet",)
    listed = await store.list_runs(RunFilter(node_id="n-gpu"))
    assert {r.labels for r in listed} == {("gpu",), ("gpu", "reports")}


async def test_schedule_labels_round_trip(store: Store) -> None:
    schedule = make_schedule(id="gpu-nightly", labels=("gpu", "reports"))
    await store.put_schedule(schedule, expected_version=0)
    got = await store.get_schedule("gpu-nightly")
    assert got is not None and got.labels == ("gpu", "reports")
    [listed] = await store.list_schedules()
    assert listed.labels == ("gpu", "reports")
