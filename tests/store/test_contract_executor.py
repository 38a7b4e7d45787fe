"""Where a run executes (``Run.executor``) and a schedule's choice of it
(``Schedule.executor``), on every backend: both round-trip, a claim for ``local`` never
takes a run recorded for another executor (its hand-off claims it by id), and a retry
keeps the run's executor."""

from __future__ import annotations

from dataclasses import replace

from schedkit.models import LOCAL_EXECUTOR, RunFilter, RunStatus
from schedkit.store import Store
from tests.store._contract import SEC, T0, add_runs, make_run, make_schedule, rq


async def test_the_run_executor_round_trips_and_filters(store: Store) -> None:
    local = make_run(schedule_id="a")
    celery = make_run(schedule_id="b", executor="celery")
    await add_runs(store, local, celery)
    got_local, got_celery = await store.get_run(local.id), await store.get_run(celery.id)
    assert got_local is not None and got_local.executor == LOCAL_EXECUTOR
    assert got_celery is not None and got_celery.executor == "celery"
    pending = frozenset({RunStatus.PENDING})
    listed = await store.list_runs(RunFilter(executor="celery", statuses=pending))
    assert [r.id for r in listed] == [celery.id]
    assert [r.id for r in await store.list_runs(RunFilter(executor=LOCAL_EXECUTOR))] == [local.id]
    assert await store.count_runs(RunFilter(executor="celery")) == 1
    assert await store.count_runs(RunFilter(executor="other")) == 0


async def test_a_local_claim_never_takes_a_run_of_another_executor(store: Store) -> None:
    # The celery run is first in claim order: a local claim must pass over it.
    celery = make_run(schedule_id="c", priority=9, executor="celery")
    local = make_run(schedule_id="l", priority=1)
    await add_runs(store, celery, local)
    claimed = await store.claim_runs("node", T0, 10, ["t"], executor=LOCAL_EXECUTOR)
    assert [r.id for r in claimed] == [local.id]
    assert claimed[0].executor == LOCAL_EXECUTOR
    assert await store.claim_runs("node", T0, 10, ["t"], executor=LOCAL_EXECUTOR) == []
    waiting = await store.get_run(celery.id)
    assert waiting is not None and waiting.status is RunStatus.PENDING
    # The worker its message reached claims it by id, whatever its executor.
    [taken] = await store.claim_runs("celery-worker", T0, 1, ["t"], run_ids=[celery.id])
    assert taken.id == celery.id and taken.executor == "celery"
    assert taken.status is RunStatus.RUNNING and taken.node_id == "celery-worker"


async def test_a_claim_for_an_executor_takes_only_its_runs(store: Store) -> None:
    celery = make_run(schedule_id="c", executor="celery")
    local = make_run(schedule_id="l")
    await add_runs(store, celery, local)
    claimed = await store.claim_runs("n", T0, 10, executor="celery")
    assert [r.id for r in claimed] == [celery.id]


async def test_a_requeued_run_keeps_its_executor(store: Store) -> None:
    run = make_run(schedule_id="r", executor="celery", max_attempts=3)
    await add_runs(store, run)
    await store.claim_runs("w", T0, 1, run_ids=[run.id])
    error = {"type": "RuntimeError", "message": "boom"}
    assert await store.requeue_run(rq(run.id, 1, [RunStatus.RUNNING], T0 + SEC, error))
    again = await store.get_run(run.id)
    assert again is not None and again.status is RunStatus.PENDING and again.attempt == 2
    assert again.executor == "celery"
    # Still never claimed locally; still sent to its executor.
    assert await store.claim_runs("n", T0 + 2 * SEC, 10, executor=LOCAL_EXECUTOR) == []
    listed = await store.list_runs(RunFilter(executor="celery"))
    assert [r.id for r in listed] == [run.id]


async def test_the_schedule_executor_round_trips(store: Store) -> None:
    await store.put_schedule(make_schedule(id="own"), expected_version=0)
    await store.put_schedule(make_schedule(id="sent", executor="celery"), expected_version=0)
    own, sent = await store.get_schedule("own"), await store.get_schedule("sent")
    assert own is not None and own.executor is None  # the task's choice
    assert sent is not None and sent.executor == "celery"
    listed = {s.id: s.executor for s in await store.list_schedules()}
    assert listed == {"own": None, "sent": "celery"}
    # Changed back to the task's choice.
    await store.put_schedule(replace(sent, executor=None, version=2), expected_version=1)
    again = await store.get_schedule("sent")
    assert again is not None and again.executor is None
