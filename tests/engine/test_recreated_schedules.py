"""A schedule deleted and created again under the same id, on every store: its version
continues from the deleted one's, so the firing node reads it instead of firing the copy
of the deleted one it holds (an audit: re-created at version 1 again, it kept firing
every 2 s with the deleted schedule's kwargs while the CLI said "every 6 seconds")."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from schedkit import OffsetClock, Run, Scheduler, task
from schedkit.errors import ScheduleConflictError
from schedkit.service.bulk import ScheduleEntry
from schedkit.service.deleted_schedules import deleted_key

from .conftest import MakeScheduler
from .taps import until


@task("probe", category="test")
async def probe(n: int) -> None:
    return None


@task("settle", category="test", schedule={"trigger": "cron", "hour": 6})
async def settle() -> None:
    return None


async def runs_from(s: Scheduler, since: datetime) -> list[Run]:
    runs = await s.list_runs("probe", limit=200)
    return sorted((r for r in runs if r.scheduled_for >= since), key=lambda r: r.scheduled_for)


async def test_a_schedule_added_again_fires_as_added_not_as_deleted(
    make_scheduler: MakeScheduler,
) -> None:
    # Real sub-second time, not a clock moved on: a jump past lease_ttl moves the lease,
    # and a node gaining it forgets every copy it held, which hides the fault.
    s = await make_scheduler(probe)
    start = s.clock.now()
    first = await s.add_task("probe", {"trigger": "interval", "seconds": 0.2, "kwargs": {"n": 1}})

    async def fired_twice() -> bool:
        return len(await runs_from(s, start)) >= 2

    await until(fired_twice, timeout=10)  # the firing node holds the schedule now
    await s.delete_schedule("probe")
    run_date = s.clock.now() + timedelta(seconds=0.6)
    again = await s.add_task(
        "probe", {"trigger": "date", "run_date": run_date.isoformat(), "kwargs": {"n": 2}}
    )
    assert again.version == first.version + 1
    due = again.next_fire_time
    assert due is not None and abs(due - run_date) < timedelta(seconds=1)

    async def fired_again() -> list[Run]:
        return await runs_from(s, due)

    (run,) = await until(fired_again, timeout=10)
    assert run.kwargs == {"n": 2}
    await asyncio.sleep(1.0)  # five refreshes: a node firing the deleted trigger fires on
    assert [r.scheduled_for for r in await runs_from(s, due)] == [due]
    stored = await s.get_schedule("probe")
    assert stored is not None and stored.next_fire_time is None


async def test_versions_never_repeat_for_an_id(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(probe, settle)
    cron = {"trigger": "cron", "hour": 3, "kwargs": {"n": 1}}
    await s.add_task("probe", cron, schedule_id="p")
    edited = await s.add_task("probe", {**cron, "hour": 4}, schedule_id="p")
    assert edited.version == 2
    await s.delete_schedule("p")
    # A create is "expected version 0" whatever version the new schedule starts at...
    again = await s.add_task("probe", cron, schedule_id="p", expected_version=0)
    assert again.version == 3 and (await s.get_schedule("p")) == again
    # ...and an edit based on a copy read before the deletion is refused.
    await s.delete_schedule("p")
    await s.add_task("probe", cron, schedule_id="p")
    with pytest.raises(ScheduleConflictError):
        await s.add_task("probe", {**cron, "hour": 5}, schedule_id="p", expected_version=3)
    stored = await s.get_schedule("p")
    assert stored is not None and stored.version == 4

    # The task's own schedule, stored from its code at the start, removed with its task.
    (default,) = await s.list_schedules("settle")
    assert default.version == 1
    assert await s.remove_task("settle")
    assert (await s.add_task("settle", "0 7 * * *")).version == 2


async def test_a_bulk_import_continues_the_deleted_versions(
    make_scheduler: MakeScheduler,
) -> None:
    s = await make_scheduler(probe)
    entries = [
        ScheduleEntry(
            task_name="probe",
            config={"trigger": "cron", "minute": i, "kwargs": {"n": i}},
            schedule_id=f"m-{i}",
            line=i + 1,
        )
        for i in range(4)
    ]
    await s.add_schedules(entries)
    await s.add_task("probe", {**_entry("m-1", 9).config, "hour": 9}, schedule_id="m-1")
    for sid in ("m-0", "m-1"):
        await s.delete_schedule(sid)
    created = await s.add_schedules([*entries[:2], _entry("m-new", 5)])
    assert [(c.id, c.version) for c in created] == [("m-0", 2), ("m-1", 3), ("m-new", 1)]
    assert {x.id: x.version for x in await s.list_schedules()} == {
        "m-0": 2,
        "m-1": 3,
        "m-2": 1,
        "m-3": 1,
        "m-new": 1,
    }


def _entry(sid: str, line: int) -> ScheduleEntry:
    config = {"trigger": "cron", "hour": 2, "kwargs": {"n": line}}
    return ScheduleEntry(task_name="probe", config=config, schedule_id=sid, line=line)


async def test_a_purge_forgets_versions_of_schedules_deleted_a_day_ago(
    make_scheduler: MakeScheduler,
) -> None:
    clock = OffsetClock()
    s = await make_scheduler(probe, clock=clock)
    for sid in ("old", "new"):
        await s.add_task("probe", _entry(sid, 1).config, schedule_id=sid)
    await s.delete_schedule("old")
    clock.advance(timedelta(hours=25))
    await s.delete_schedule("new")
    await s.purge_history(timedelta(days=90))
    assert await s.store.get_state(deleted_key("old")) is None
    kept = await s.store.get_state(deleted_key("new"))
    assert kept is not None and kept.value["version"] == 1
    # Long after any node could hold a copy of the deleted one: numbered afresh.
    assert (await s.add_task("probe", _entry("old", 1).config, schedule_id="old")).version == 1
