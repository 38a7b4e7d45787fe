"""Pausing and resuming a task with many schedules is all or nothing: a schedule deleted
or changed by someone else meanwhile is no reason to leave the task half paused."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from schedkit import Scheduler, task
from schedkit.errors import ScheduleConflictError
from schedkit.models import Schedule

from .conftest import MakeScheduler
from .taps import intercept

N = 30


@task("report_annual", category="report")
async def report_annual() -> None:
    return None


async def _with_schedules(make_scheduler: MakeScheduler) -> Scheduler:
    s = await make_scheduler(report_annual)
    await s.add_task("report_annual", "0 6 1 1 *")  # its default schedule, not fired here
    for i in range(N):
        await s.add_task("report_annual", "0 6 * * *", schedule_id=f"bulk-{i:03d}")
    return s


def _after_each_read(s: Scheduler, meanwhile: Callable[[], Awaitable[None]]) -> None:
    """Run ``meanwhile`` right after each read of the task's schedules, as another user
    acting between the pause's read and its write would."""

    async def read_then_act(original: Any, *args: Any, **kwargs: Any) -> list[Schedule]:
        found: list[Schedule] = await original(*args, **kwargs)
        if args and args[0] == "report_annual":
            await meanwhile()
        return found

    intercept(s.store, "list_schedules", read_then_act)


async def _pause_audits(s: Scheduler, action: str) -> set[str]:
    return {e.target for e in await s.list_audit(action=action, limit=1000)}


async def test_pause_skips_a_schedule_deleted_meanwhile(make_scheduler: MakeScheduler) -> None:
    s = await _with_schedules(make_scheduler)
    deleted = False

    async def delete_once() -> None:
        nonlocal deleted
        if not deleted:
            deleted = True
            await s.store.delete_schedule("bulk-020")

    _after_each_read(s, delete_once)
    paused = await s.pause_task("report_annual", note="freeze", actor="ops")
    stored = await s.list_schedules("report_annual")
    assert "bulk-020" not in {x.id for x in stored}
    assert len(stored) == N  # the default one and the 29 left
    assert all(x.paused and x.pause_note == "freeze" for x in stored)
    assert sorted(paused, key=lambda x: x.id) == stored
    assert await _pause_audits(s, "schedule.pause") == {x.id for x in stored}


async def test_pause_and_resume_apply_to_a_schedule_changed_meanwhile(
    make_scheduler: MakeScheduler,
) -> None:
    s = await _with_schedules(make_scheduler)
    changed = False

    async def change_once() -> None:
        nonlocal changed
        if not changed:
            changed = True
            await s.add_task("report_annual", "30 7 * * *", schedule_id="bulk-010")

    _after_each_read(s, change_once)
    await s.pause_task("report_annual", note="freeze")
    bulk10 = await s.get_schedule("bulk-010")
    assert bulk10 is not None and bulk10.paused
    assert bulk10.trigger["expression"] == "30 7 * * *"  # the change is kept, and paused
    changed = False
    await s.resume_task("report_annual")
    assert not any(x.paused for x in await s.list_schedules("report_annual"))


async def test_pause_that_keeps_conflicting_changes_nothing(
    make_scheduler: MakeScheduler,
) -> None:
    """A schedule changed after every read: the pause gives up with a conflict, and
    leaves every schedule as it was, with no audit entry of a pause."""
    s = await _with_schedules(make_scheduler)

    async def change_again() -> None:
        old = await s.store.get_schedule("bulk-025")
        assert old is not None
        new = dataclasses.replace(old, labels=(f"v{old.version}",), version=old.version + 1)
        await s.store.put_schedule(new, expected_version=old.version)

    _after_each_read(s, change_again)
    with pytest.raises(ScheduleConflictError):
        await s.pause_task("report_annual", note="freeze")
    assert not any(x.paused for x in await s.list_schedules("report_annual"))
    assert await _pause_audits(s, "schedule.pause") == set()
