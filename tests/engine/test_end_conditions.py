"""End conditions on every store: a schedule ends after N runs or at its end date, shows
as ended, stays ended across a resume and a restart, and an edit of max_runs continues
the count."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from schedkit import RunStatus, task
from schedkit.errors import StoreUnavailableError
from schedkit.models import Schedule, utcnow
from schedkit.service.series import ended_by
from schedkit.store import FireRecord

from .conftest import MakeScheduler
from .taps import until


@task("pulse", category="t")
async def pulse() -> None:
    return None


async def test_ends_after_max_runs_then_an_edit_continues_the_count(
    make_scheduler: MakeScheduler,
) -> None:
    s = await make_scheduler(pulse)
    added = await s.add_task("pulse", {"trigger": "interval", "seconds": 0.2, "max_runs": 3})
    assert (added.max_runs, added.run_count, ended_by(added)) == (3, 0, None)

    async def ended() -> bool:
        current = await s.get_schedule("pulse")
        return current is not None and current.next_fire_time is None

    await until(ended, 15)
    done = await s.get_schedule("pulse")
    assert done is not None and done.run_count == 3 and ended_by(done) == "max_runs"
    await asyncio.sleep(0.8)  # several periods: nothing more fires
    assert await s.count_runs("pulse") == 3
    assert (await s.get_job_info("pulse"))[0]["next_run_time"] is None

    # Pause and resume do not restart an ended schedule.
    await s.pause_task("pulse")
    resumed = await s.resume_task("pulse")
    assert resumed[0].next_fire_time is None

    # Raising max_runs continues from the count: two more runs, then ended again.
    raised = await s.add_task("pulse", {"trigger": "interval", "seconds": 0.2, "max_runs": 5})
    assert raised.run_count == 3 and raised.next_fire_time is not None
    await until(ended, 15)
    await s.stop()

    again = await make_scheduler(pulse)
    await asyncio.sleep(0.8)
    final = await again.get_schedule("pulse")
    assert final is not None and final.run_count == 5 and ended_by(final) == "max_runs"
    runs = await again.list_runs("pulse", limit=20)
    assert len(runs) == 5 and {r.status for r in runs} == {RunStatus.SUCCESS}
    # Lowering it under the count ends it at once.
    lowered = await again.add_task("pulse", {"trigger": "interval", "seconds": 1, "max_runs": 2})
    assert lowered.next_fire_time is None and ended_by(lowered) == "max_runs"


async def test_skipped_fires_do_not_count(make_scheduler: MakeScheduler) -> None:
    release = asyncio.Event()

    @task("sticky", category="t")
    async def sticky() -> None:
        await release.wait()

    s = await make_scheduler(sticky)
    # max_instances 1 with overlap skip: fires while the first run holds are skipped.
    await s.add_task(
        "sticky",
        {
            "trigger": "interval",
            "seconds": 0.2,
            "max_runs": 2,
            "max_instances": 1,
            "overlap": "skip",
        },
    )

    async def skipped() -> bool:
        return await s.count_runs("sticky", status=RunStatus.SKIPPED) >= 2

    await until(skipped, 15)
    held = await s.get_schedule("sticky")
    assert held is not None and held.run_count == 1 and held.next_fire_time is not None
    release.set()

    async def ended() -> bool:
        current = await s.get_schedule("sticky")
        return current is not None and current.next_fire_time is None

    await until(ended, 15)
    started = await s.count_runs("sticky", status=[RunStatus.SUCCESS, RunStatus.RUNNING])
    assert started == 2


async def test_ends_at_the_end_date(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(pulse)
    end = utcnow() + timedelta(seconds=1)
    await s.add_task("pulse", {"trigger": "interval", "seconds": 0.2, "end_date": end.isoformat()})

    async def ended() -> bool:
        current = await s.get_schedule("pulse")
        return current is not None and current.next_fire_time is None

    await until(ended, 15)
    current = await s.get_schedule("pulse")
    assert current is not None and ended_by(current) == "end_date"
    runs = await s.list_runs("pulse", limit=50)
    assert runs and all(r.scheduled_for <= end for r in runs)
    count = len(runs)
    await asyncio.sleep(0.6)
    assert await s.count_runs("pulse") == count


async def test_max_runs_holds_across_a_leader_change(make_scheduler: MakeScheduler) -> None:
    """Two nodes on one store; the leader stops part-way through the series and the
    other takes over from the count in the store: exactly max_runs runs in all."""
    first = await make_scheduler(pulse)
    second = await make_scheduler(pulse)
    await first.add_task("pulse", {"trigger": "interval", "seconds": 0.2, "max_runs": 6})

    async def some_ran() -> bool:
        return await first.count_runs("pulse") >= 2

    await until(some_ran, 15)
    leader = first if first.is_leader else second
    other = second if leader is first else first
    await leader.stop()

    async def ended() -> bool:
        current = await other.get_schedule("pulse")
        return current is not None and current.next_fire_time is None

    await until(ended, 30)
    await asyncio.sleep(0.6)
    final = await other.get_schedule("pulse")
    assert final is not None and final.run_count == 6
    runs = await other.list_runs("pulse", limit=100)
    started = [r for r in runs if r.status not in (RunStatus.SKIPPED, RunStatus.MISSED)]
    assert len(started) == 6 and len({r.scheduled_for for r in started}) == 6


async def test_a_due_schedule_whose_count_is_reached_is_ended_without_firing(
    make_scheduler: MakeScheduler,
) -> None:
    """A user's edit racing the leader's last counted fire can store a next fire beside a
    count that has reached max_runs (put_schedule keeps the stored count): the leader
    ends the series instead of firing it."""
    s = await make_scheduler(pulse)
    now = utcnow()
    await s.store.put_schedule(
        Schedule(
            id="pulse",
            task_name="pulse",
            trigger={"trigger": "interval", "seconds": 1, "timezone": "UTC"},
            max_runs=2,
            run_count=2,
            next_fire_time=now,
        ),
        expected_version=0,
    )

    async def ended() -> bool:
        current = await s.get_schedule("pulse")
        return current is not None and current.next_fire_time is None

    await until(ended, 15)
    assert await s.count_runs("pulse") == 0


@task("aside", category="t")
async def aside() -> None:
    return None


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_an_edit_during_a_tick_write_does_not_lose_the_count(
    make_scheduler: MakeScheduler, store_url: str
) -> None:
    """Seen under load: max_runs 3 ended at run_count 4. An edit on the firing node (a
    schedule added) cleared the fire window while a tick's write was in flight; the
    write's count was then kept nowhere, and the next tick planned from the copy held
    before it, whose count was short by that run. PostgreSQL holds the write: another
    session locks the schedule's row (as a user's edit would) until the edit is made."""
    s = await make_scheduler(pulse, aside)
    await s.add_task("pulse", {"trigger": "interval", "seconds": 1.0, "max_runs": 2})
    dsn = store_url.replace("postgresql+asyncpg://", "postgresql://")
    holder, watcher = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        locked = holder.transaction()
        await locked.start()
        await holder.execute("SELECT 1 FROM schedkit_schedules WHERE id = 'pulse' FOR UPDATE")

        async def tick_waits() -> bool:
            waiting = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return bool(waiting)

        await until(tick_waits, 10)  # the first fire's write waits on the row
        await s.add_task("aside", {"trigger": "interval", "seconds": 3600})
        await locked.rollback()
    finally:
        await holder.close()
        await watcher.close()

    async def ended() -> Schedule | None:
        current = await s.get_schedule("pulse")
        return current if current is not None and current.next_fire_time is None else None

    done = await until(ended, 15)
    assert done.run_count == 2
    await asyncio.sleep(1.2)  # a period more: nothing fires past the end
    assert await s.count_runs("pulse") == 2


async def test_a_tick_write_whose_answer_was_lost_still_ends_after_max_runs(
    make_scheduler: MakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first fire's write is committed, then its answer lost: the tick fails, and
    the copy of the schedule held by the leader still shows the count before it, at the
    version the store still has. Planned from it, the next fires ran past max_runs. The
    answer lost is injected: no server can be made to drop the one reply after its
    commit."""
    s = await make_scheduler(pulse)
    record_fires = s.store.record_fires
    lost: list[FireRecord] = []

    async def lose_the_first_answer(*args: Any, **kwargs: Any) -> FireRecord:
        record = await record_fires(*args, **kwargs)
        if record.inserted and not lost:
            lost.append(record)
            raise StoreUnavailableError("connection dropped after the commit")
        return record

    monkeypatch.setattr(s.store, "record_fires", lose_the_first_answer)
    await s.add_task("pulse", {"trigger": "interval", "seconds": 0.3, "max_runs": 2})

    async def ended() -> Schedule | None:
        current = await s.get_schedule("pulse")
        return current if current is not None and current.next_fire_time is None else None

    done = await until(ended, 15)
    assert lost  # the fault was injected
    assert done.run_count == 2
    await asyncio.sleep(0.7)  # two periods more: nothing fires past the end
    assert await s.count_runs("pulse") == 2
