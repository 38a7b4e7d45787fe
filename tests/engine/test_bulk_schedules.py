"""``Scheduler.add_schedules`` on every store: all or nothing, every bad entry named, the
store's limit kept, and the schedules fire like any other."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, Field

from schedkit import ConflictError, RunStatus, TaskContext, task
from schedkit.service.bulk import BulkScheduleError, EntryError, ScheduleEntry

from .conftest import MakeScheduler


class MeterParams(BaseModel):
    meter: str = Field(min_length=4)


@task("read_meter", parameters=MeterParams, retry={"max_retries": 0})
async def read_meter(meter: str, ctx: TaskContext | None = None) -> dict[str, object]:
    return {"success": True, "message": meter}


def entries(n: int, prefix: str = "m", first_line: int = 1) -> list[ScheduleEntry]:
    return [
        ScheduleEntry(
            task_name="read_meter",
            config={"trigger": "cron", "minute": i % 60, "kwargs": {"meter": f"{i:04d}"}},
            schedule_id=f"{prefix}-{i:04d}",
            line=first_line + i,
        )
        for i in range(n)
    ]


async def test_bulk_adds_every_schedule_or_none(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(read_meter)
    created = await s.add_schedules(entries(1500), actor="ops")
    assert [c.id for c in created[:2]] == ["m-0000", "m-0001"]
    assert await s.count_schedules("read_meter") == 1500
    stored = await s.get_schedule("m-0042")
    assert stored is not None and stored.kwargs == {"meter": "0042"} and stored.version == 1
    assert stored.next_fire_time is not None and stored.next_fire_time > datetime.now(UTC)
    (event,) = await s.list_audit(action="schedule.import")
    assert (event.actor, event.detail) == ("ops", "1500 schedule(s)")
    # The ids created: the first 1,000 of an import this large (an audit: none).
    assert event.after == {"count": 1500, "ids": [f"m-{i:04d}" for i in range(1000)]}

    # Existing ids: each named by its line, and none of the new ones stored.
    again = entries(3, prefix="new") + entries(2, first_line=10)
    with pytest.raises(BulkScheduleError) as caught:
        await s.add_schedules(again)
    assert [(e.line, e.field) for e in caught.value.entries] == [(10, "id"), (11, "id")]
    assert await s.count_schedules() == 1500


async def test_bad_entries_are_each_named(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(read_meter, limits={"min_interval": 1.0})
    bad = entries(6, prefix="b")
    bad[1] = ScheduleEntry(task_name="nope", config="0 2 * * *", line=2)
    bad[2] = ScheduleEntry(task_name="read_meter", config={"trigger": "cron", "hour": 24}, line=3)
    bad[3] = ScheduleEntry(
        task_name="read_meter",
        config={"trigger": "cron", "hour": 2, "kwargs": {"meter": "1"}},
        line=4,
    )
    bad[4] = ScheduleEntry(
        task_name="read_meter",
        config={"trigger": "cron", "hour": 2, "kwargs": 5},
        schedule_id="x",
        line=5,
    )
    bad[5] = ScheduleEntry(
        task_name="read_meter",
        config={"trigger": "interval", "seconds": 0.5, "kwargs": {"meter": "0001"}},
        schedule_id="y",
        line=6,
    )
    with pytest.raises(BulkScheduleError) as caught:
        await s.add_schedules(bad, what="line")
    fields = {e.line: e.field for e in caught.value.entries}
    assert fields[2] == "task"
    assert fields[3] is not None and fields[3].startswith("schedule.trigger")
    assert fields[4] == "schedule.kwargs.meter"
    assert fields[5] == "schedule.kwargs"
    assert fields[6] == "schedule.trigger.seconds"  # under limits.min_interval
    assert sorted(fields) == [2, 3, 4, 5, 6]
    assert str(caught.value).startswith("5 bad lines, nothing was stored: line 2: task:")
    bad_ids = [
        ScheduleEntry(
            task_name="read_meter",
            config={"trigger": "cron", "hour": 2, "kwargs": {"meter": "0001"}},
            schedule_id=sid,
            line=n,
        )
        for n, sid in enumerate(["preview", "has space", "x" * 201, "ok-1", "ok-1"])
    ]
    with pytest.raises(BulkScheduleError) as caught:
        await s.add_schedules(bad_ids, what="item")
    assert [(e.line, e.field) for e in caught.value.entries] == [
        (0, "id"),
        (1, "id"),
        (2, "id"),
        (4, "id"),
    ]
    assert "item 4: id: schedule id 'ok-1' is already given on item 3" in str(caught.value)
    assert await s.count_schedules() == 0


async def test_one_pass_names_unreadable_bad_and_stored_entries(
    make_scheduler: MakeScheduler,
) -> None:
    """Hole: ids already stored were named only once every other entry was right, so
    fixing the named entries revealed more. Items a reader could make no entry of
    (EntryError) are named with the rest, in line order."""
    s = await make_scheduler(read_meter)
    await s.add_schedules(entries(2, prefix="old"))
    mixed: list[ScheduleEntry | EntryError] = [
        *entries(2, prefix="old", first_line=1),
        EntryError(line=3, message="not JSON"),
        ScheduleEntry(task_name="read_meter", config={"trigger": "cron", "hour": 24}, line=4),
        *entries(1, prefix="new", first_line=5),
    ]
    with pytest.raises(BulkScheduleError) as caught:
        await s.add_schedules(mixed)
    assert [(e.line, e.field) for e in caught.value.entries] == [
        (1, "id"),
        (2, "id"),
        (3, None),
        (4, "schedule.trigger.hour"),
    ]
    assert str(caught.value).startswith(
        "4 bad lines, nothing was stored: line 1: id: schedule 'old-0000' exists already"
    )
    assert await s.count_schedules() == 2


async def test_the_schedule_limit_counts_the_whole_batch(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(read_meter, limits={"max_schedules": 100})
    with pytest.raises(ConflictError, match=r"limits\.max_schedules"):
        await s.add_schedules(entries(101))
    assert await s.count_schedules() == 0
    await s.add_schedules(entries(100))
    assert await s.count_schedules() == 100


async def test_imported_schedules_fire(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(read_meter)
    every_second = [
        ScheduleEntry(
            task_name="read_meter",
            config={"trigger": "interval", "seconds": 1, "kwargs": {"meter": f"{i:04d}"}},
            schedule_id=f"fast-{i}",
            line=i + 1,
        )
        for i in range(3)
    ]
    await s.add_schedules(every_second)
    for i in range(3):
        run = await _first_run(s, f"fast-{i}")
        assert run.status is RunStatus.SUCCESS and run.kwargs == {"meter": f"{i:04d}"}


async def _first_run(s: object, schedule_id: str) -> object:
    import asyncio

    from schedkit import Scheduler

    assert isinstance(s, Scheduler)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while loop.time() < deadline:
        runs = await s.list_runs(schedule_id=schedule_id, status=RunStatus.SUCCESS, limit=1)
        if runs:
            return runs[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no successful run of {schedule_id} within 20 s")
