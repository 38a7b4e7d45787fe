"""Deleting a schedule without an expected version deletes it however it was changed
meanwhile (audit: delete_schedule racing pause_task raised ScheduleConflictError "re-read
it and apply the change again", 9 times over 10 threads, though no version was asked
for); with an expected version, a change made meanwhile is still a conflict."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from schedkit import ScheduleConflictError, Scheduler, task
from schedkit.models import Schedule

from .conftest import MakeScheduler
from .taps import intercept

TASK = "ledger_close"
N = 12
SQL_STORES = pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)


@task(TASK, category="ledger")
async def ledger_close() -> None:
    return None


async def _with_schedules(make_scheduler: MakeScheduler, n: int) -> Scheduler:
    s = await make_scheduler(ledger_close)
    for i in range(n):
        await s.add_task(TASK, "0 6 * * *", schedule_id=f"close-{i:02d}")
    return s


@SQL_STORES
async def test_deletes_racing_pauses_all_delete(make_scheduler: MakeScheduler) -> None:
    s = await _with_schedules(make_scheduler, N)
    await s.add_task(TASK, "0 7 * * *", schedule_id="keeper")  # the pauses always find one

    async def pause_again(who: str) -> None:
        for i in range(6):  # each note another version of every schedule
            await s.pause_task(TASK, note=f"{who} {i}")

    ids = [f"close-{i:02d}" for i in range(N)]
    # One pauser: two would race each other too, and on a loaded machine exhaust the
    # pause's own retries (CI, PostgreSQL), which is not what this test is about.
    await asyncio.gather(pause_again("a"), *(s.delete_schedule(sid, actor="ops") for sid in ids))
    assert [x.id for x in await s.list_schedules(TASK)] == ["keeper"]
    deleted = {e.target for e in await s.list_audit(action="schedule.delete", limit=100)}
    assert deleted == set(ids)


def _pause_after_delete_reads(s: Scheduler) -> None:
    """Pause the task right after the deletion read its schedule: another user acting
    between the deletion's read and its write."""
    paused = False

    async def read_then_pause(original: Any, *args: Any, **kwargs: Any) -> Schedule | None:
        nonlocal paused
        found: Schedule | None = await original(*args, **kwargs)
        if not paused:
            paused = True
            await s.pause_task(TASK, note="freeze")
        return found

    intercept(s.store, "get_schedule", read_then_pause)


async def test_a_delete_deletes_a_schedule_paused_after_it_was_read(
    make_scheduler: MakeScheduler,
) -> None:
    s = await _with_schedules(make_scheduler, 1)
    _pause_after_delete_reads(s)
    await s.delete_schedule("close-00", actor="ops")
    assert await s.store.get_schedule("close-00") is None
    (entry,) = await s.list_audit(action="schedule.delete", limit=10)
    assert entry.before is not None and entry.before["paused"] is True  # as it was deleted


async def test_a_delete_at_an_expected_version_still_conflicts(
    make_scheduler: MakeScheduler,
) -> None:
    s = await _with_schedules(make_scheduler, 1)
    _pause_after_delete_reads(s)
    with pytest.raises(ScheduleConflictError):
        await s.delete_schedule("close-00", expected_version=1)
    kept = await s.get_schedule("close-00")
    assert kept is not None and kept.paused and kept.version == 2
    with pytest.raises(ScheduleConflictError, match="at version 2"):
        await s.delete_schedule("close-00", expected_version=1)
    await s.delete_schedule("close-00", expected_version=2)
    assert await s.get_schedule("close-00") is None
