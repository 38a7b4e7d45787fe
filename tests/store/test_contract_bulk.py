"""The store contract, at scale: bulk schedule inserts and replacements (all or
nothing), schedule pages and counts, per-task aggregates, and the latest finished run of
many tasks at once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from schedkit.errors import ScheduleConflictError
from schedkit.models import RunStatus, Schedule, ScheduleCounts
from schedkit.store import Store
from schedkit.store.values import ScheduleAdvance
from tests.store._contract import (
    SEC,
    T0,
    add_runs,
    claim_one_of,
    fin,
    make_run,
    make_schedule,
    outcome,
)

FAR = datetime(9999, 12, 31, tzinfo=UTC)


def many(n: int, task: str = "t", prefix: str = "s") -> list[Schedule]:
    return [
        make_schedule(id=f"{prefix}{i:05d}", task_name=task, next_fire_time=T0 + i * SEC)
        for i in range(n)
    ]


async def test_insert_schedules_writes_every_one(store: Store) -> None:
    batch = many(2500)  # more than one batch of every backend
    await store.insert_schedules(batch)
    assert await store.count_schedules() == 2500
    back = await store.get_schedules([batch[0].id, batch[-1].id])
    assert sorted(back, key=lambda s: s.id) == [batch[0], batch[-1]]
    await store.insert_schedules([])
    assert await store.count_schedules() == 2500


async def test_insert_schedules_is_all_or_nothing_on_an_existing_id(store: Store) -> None:
    await store.insert_schedules([make_schedule(id="s01500")])
    batch = many(2500)
    with pytest.raises(ScheduleConflictError) as caught:
        await store.insert_schedules(batch)
    assert caught.value.schedule_id == "s01500"
    assert caught.value.actual == 1
    assert await store.count_schedules() == 1


async def test_insert_schedules_refuses_bad_batches_before_writing(store: Store) -> None:
    with pytest.raises(ValueError, match="given twice"):
        await store.insert_schedules([make_schedule(id="a"), make_schedule(id="a")])
    with pytest.raises(ValueError, match="versions start at 1"):
        await store.insert_schedules([make_schedule(id="b"), make_schedule(id="c", version=0)])
    assert await store.count_schedules() == 0


async def test_insert_schedules_creates_each_at_its_own_version(store: Store) -> None:
    """A schedule created again under a deleted one's id continues from its version (the
    façade remembers it): an insert is an insert at whatever version it carries."""
    batch = [make_schedule(id="again", version=4), make_schedule(id="fresh")]
    await store.insert_schedules(batch)
    assert {s.id: s.version for s in await store.list_schedules()} == {"again": 4, "fresh": 1}
    with pytest.raises(ScheduleConflictError) as caught:
        await store.insert_schedules([make_schedule(id="again", version=9)])
    assert (caught.value.expected, caught.value.actual) == (0, 4)
    assert [k[:2] for k in await store.due_schedule_keys(FAR, 10)] == [("again", 4), ("fresh", 1)]


def paused(schedule: Schedule) -> Schedule:
    return replace(schedule, paused=True, pause_note="freeze", version=schedule.version + 1)


async def test_replace_schedules_writes_every_one_keeping_run_counts(store: Store) -> None:
    await store.insert_schedules(many(250))  # more than one write batch on MongoDB
    run = make_run(schedule_id="s00007", scheduled_for=T0)
    fired = ScheduleAdvance(
        schedule_id="s00007",
        version=1,
        next_fire_time=T0 + 60 * SEC,
        last_fire_time=T0,
        counted=(run.id,),
    )
    await store.record_fires([run], [fired], fence=None, now=T0)
    stored = await store.list_schedules()
    # run_count belongs to the leader's advances: a replacement carrying 0 keeps it at 1.
    await store.replace_schedules([replace(paused(s), run_count=0) for s in stored])
    back = await store.list_schedules()
    assert all(s.paused and s.pause_note == "freeze" and s.version == 2 for s in back)
    assert [s.run_count for s in back if s.run_count] == [1]
    assert back[7].next_fire_time == T0 + 60 * SEC
    await store.replace_schedules([])


@pytest.mark.parametrize("meanwhile", ["deleted", "changed"])
async def test_replace_schedules_is_all_or_nothing_on_a_stale_one(
    store: Store, meanwhile: str
) -> None:
    await store.insert_schedules(many(250))
    stored = await store.list_schedules()
    if meanwhile == "deleted":
        await store.delete_schedule("s00201")
    else:
        await store.put_schedule(replace(stored[201], labels=("x",), version=2), expected_version=1)
    with pytest.raises(ScheduleConflictError) as caught:
        await store.replace_schedules([paused(s) for s in stored])
    assert caught.value.schedule_id == "s00201"
    assert caught.value.expected == 1
    assert caught.value.actual == (None if meanwhile == "deleted" else 2)
    assert not any(s.paused for s in await store.list_schedules())


async def test_replace_schedules_refuses_bad_batches_before_writing(store: Store) -> None:
    await store.insert_schedules(many(2))
    first, second = await store.list_schedules()
    with pytest.raises(ValueError, match="given twice"):
        await store.replace_schedules([paused(first), paused(first)])
    with pytest.raises(ValueError, match="version 2 or more"):
        await store.replace_schedules([paused(second), replace(first, paused=True)])
    assert not any(s.paused for s in await store.list_schedules())


async def test_schedule_pages_counts_and_aggregates(store: Store) -> None:
    await store.insert_schedules(many(30, task="a", prefix="a") + many(5, task="b", prefix="b"))
    for sid in ("a00000", "a00001"):
        old = await store.get_schedule(sid)
        assert old is not None
        await store.put_schedule(replace(old, paused=True, version=2), expected_version=1)

    page = await store.list_schedules("a", limit=10, offset=25)
    assert [s.id for s in page] == [f"a{i:05d}" for i in range(25, 30)]
    assert [s.id for s in await store.list_schedules(limit=2)] == ["a00000", "a00001"]
    assert await store.list_schedules("b", limit=0) == []
    assert len(await store.list_schedules()) == 35
    assert await store.count_schedules("a") == 30
    assert await store.count_schedules("b") == 5
    assert await store.count_schedules("none") == 0

    assert await store.schedule_counts() == [
        # a00000 and a00001 are paused: the earliest unpaused fire is a00002's.
        ScheduleCounts(task_name="a", total=30, paused=2, next_fire_time=T0 + 2 * SEC),
        ScheduleCounts(task_name="b", total=5, paused=0, next_fire_time=T0),
    ]
    soonest_b = await store.due_schedules(FAR, 3, task_name="b")
    assert [s.id for s in soonest_b] == ["b00000", "b00001", "b00002"]
    soonest = await store.due_schedules(FAR, 3)
    assert [s.id for s in soonest] == ["b00000", "b00001", "a00002"]


async def test_schedule_counts_of_an_all_paused_task(store: Store) -> None:
    await store.insert_schedules([make_schedule(id="p", paused=True)])
    assert await store.schedule_counts() == [
        ScheduleCounts(task_name="t", total=1, paused=1, next_fire_time=None)
    ]
    assert await store.schedule_counts() != []


async def test_last_finished_runs_of_many_tasks(store: Store) -> None:
    older = make_run(task_name="a", schedule_id="sa", scheduled_for=T0)
    newer = make_run(task_name="a", schedule_id="sa", scheduled_for=T0 + 60 * SEC)
    pending = make_run(task_name="a", schedule_id="sa", scheduled_for=T0 + 120 * SEC)
    only_b = make_run(task_name="b", schedule_id="sb", scheduled_for=T0)
    running_c = make_run(task_name="c", schedule_id="sc", scheduled_for=T0)
    await add_runs(store, older, newer, pending, only_b, running_c)
    for run, status in (
        (older, RunStatus.SUCCESS),
        (newer, RunStatus.FAILED),
        (only_b, RunStatus.CANCELLED),
    ):
        assert await store.finish_run(fin(run.id, 1, None, outcome(status)))
    await claim_one_of(store, running_c)

    found = await store.last_finished_runs(["a", "b", "c", "unknown", "a"])
    assert sorted(found) == ["a", "b"]
    assert found["a"].id == newer.id
    assert found["a"].status is RunStatus.FAILED
    assert found["b"].id == only_b.id
    assert await store.last_finished_runs([]) == {}
