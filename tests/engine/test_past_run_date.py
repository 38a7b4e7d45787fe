"""A one-off schedule whose run date is already past its misfire grace when it is added is
kept (backfill-like uses exist) but said: a warning naming the schedule, its run date,
how late it is and that it will be recorded missed; and, for a naive run date read in a
zone other than this machine's, that zone.

Seen: on a UTC machine, ``{"trigger": "date", "run_date": datetime.now() + 3 s}`` is read
as Asia/Shanghai wall time (as documented), 8 h in the past, and was silently missed.

Likewise a schedule saved with a fire due that a run of its id holds already (a one-off
that ran, deleted and added again): the fire is fenced and does not run again, which
the tick did without a word."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schedkit import Run, RunStatus, ScheduleEntry, Scheduler, task
from schedkit.service.past_dates import FireRecorded, PastEndDate, PastRunDate, noted

from .conftest import MakeScheduler
from .taps import until

pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)

LOGGER = "schedkit.service.schedules"


@task("once", category="t")
def once() -> None:
    return None


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and r.levelno == logging.WARNING and "missed" in r.getMessage()
    ]


@pytest.mark.usefixtures("utc_machine")
async def test_a_naive_run_date_read_hours_in_the_past_is_kept_and_warned_about(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    s = await make_scheduler(once)
    soon = datetime.now() + timedelta(seconds=3)  # naive: the user meant 3 s from now, UTC
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        added = await s.add_task("once", {"trigger": "date", "run_date": soon})
    assert added.next_fire_time is not None  # accepted, as documented
    [warning] = _warnings(caplog)
    shanghai_wall = soon.strftime("%Y-%m-%d %H:%M:%S")
    assert "'once'" in warning and f"{shanghai_wall} (Asia/Shanghai)" in warning
    assert "7:59:5" in warning  # how far in the past (8 h less the 3 s)
    assert "recorded missed" in warning and "misfire_grace_time of 300 s" in warning
    assert "naive" in warning and "Asia/Shanghai" in warning and "(UTC)" in warning
    # What it says happens.
    await until(lambda: s.count_runs("once", status=RunStatus.MISSED), 15)


async def test_only_a_run_date_past_its_misfire_grace_is_warned_about(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    s = await make_scheduler(once)
    now = datetime.now(UTC)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for run_date, grace in (
            (now + timedelta(hours=1), 300),  # ahead
            (now - timedelta(seconds=30), 300),  # late, but within the grace: it runs
            (now - timedelta(days=3), None),  # no grace limit: it runs, however late
        ):
            spec = {"trigger": "date", "run_date": run_date, "misfire_grace_time": grace}
            await s.add_task("once", spec)
        assert _warnings(caplog) == []
        assert _recorded(caplog) == []  # due at once, but no run of its id holds the fire
        # Aware: its instant is meant, so no word about zones.
        await s.add_task(
            "once", {"trigger": "date", "run_date": now - timedelta(minutes=10), "timeout": 5}
        )
    [warning] = _warnings(caplog)
    assert "0:10:00 ago" in warning and "naive" not in warning


def _recorded(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER
        and r.levelno == logging.WARNING
        and isinstance(getattr(r, "schedule_note", None), FireRecorded)
    ]


async def _ran_and_deleted(s: Scheduler, spec: dict[str, Any]) -> Run:
    """One-off ``o`` added with ``spec``, run, and deleted: its run holds the fire."""
    await s.add_task("once", spec, schedule_id="o")
    await until(lambda: s.count_runs("once", status=RunStatus.SUCCESS), 15)
    (ran,) = await s.list_runs(schedule_id="o")
    await s.delete_schedule("o")
    return ran


def _soon() -> tuple[datetime, dict[str, Any]]:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    return when, {"trigger": "date", "run_date": when.isoformat()}


async def test_a_one_off_added_again_after_its_fire_ran_is_warned_about_not_run_twice(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    s = await make_scheduler(once)
    when, spec = _soon()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        ran = await _ran_and_deleted(s, spec)
        assert _recorded(caplog) == []  # nothing recorded when it was added first
        await s.add_task("once", spec, schedule_id="o")  # within its grace: due at once
    [warning] = _recorded(caplog)
    assert "'o'" in warning and ran.id in warning and "success" in warning
    assert when.astimezone(s.tz).strftime("%Y-%m-%d %H:%M:%S") in warning
    assert "it will not run" in warning and "another id" in warning

    async def passed_by() -> bool:  # what the warning says happens: the tick passes it by
        schedule = await s.get_schedule("o")
        return schedule is not None and schedule.next_fire_time is None

    await until(passed_by, 15)
    assert [r.id for r in await s.list_runs(schedule_id="o")] == [ran.id]


async def test_the_bulk_form_warns_of_a_fire_recorded_already(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    s = await make_scheduler(once)
    when, spec = _soon()
    await _ran_and_deleted(s, spec)
    later = {"trigger": "date", "run_date": (when + timedelta(hours=1)).isoformat()}
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await s.add_schedules(
            [
                ScheduleEntry(task_name="once", config=spec, schedule_id="o", line=1),
                ScheduleEntry(task_name="once", config=spec, schedule_id="fresh", line=2),
                ScheduleEntry(task_name="once", config=later, schedule_id="later", line=3),
            ]
        )
    [warning] = _recorded(caplog)  # not "fresh": no run holds its fire
    assert warning.startswith("schedule 'o' fires at ")


async def test_code_collects_the_warnings_of_its_saves_as_objects(
    make_scheduler: MakeScheduler,
) -> None:
    """docs/schedules.md: ``noted()`` hands an embedding program the warnings of the
    saves made in its block (the API and CLI take them so), one per warning, in order;
    nothing of a save made outside the block."""
    s = await make_scheduler(once)
    past = datetime.now(UTC) - timedelta(days=1)
    one_off = {"trigger": "date", "run_date": past.isoformat()}
    ended = {"trigger": "interval", "seconds": 60, "end_date": past.isoformat()}
    await s.add_task("once", one_off, schedule_id="before")
    with noted() as notes:
        await s.add_task("once", one_off, schedule_id="single")
        await s.add_schedules(
            [
                ScheduleEntry(task_name="once", config=ended, schedule_id="bulk", line=1),
                ScheduleEntry(
                    task_name="once", config={"trigger": "interval", "seconds": 60}, line=2
                ),
            ]
        )
    assert [(n.kind, n.schedule_id) for n in notes] == [
        ("past_run_date", "single"),
        ("past_end_date", "bulk"),
    ]
    assert isinstance(notes[0], PastRunDate) and "recorded missed" in notes[0].message()
    assert isinstance(notes[1], PastEndDate) and notes[1].end_date.tzinfo is not None
