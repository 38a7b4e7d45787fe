"""A task's next fire in its summary is the earliest fire its schedules' calendars allow,
also for a task with more schedules than a summary reads at once, when the schedules
firing soonest (nominally) are all moved later by their calendar."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from schedkit import TaskContext, readmodels, task
from schedkit.readmodels.tasks import READ_ALL_BELOW, SOONEST_READ
from schedkit.service.bulk import ScheduleEntry

from .conftest import MakeScheduler

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: Nominally first: Saturday 5 January 2030 at 06:00, on a day "weekdays" excludes.
ON_WEEKDAYS = {"trigger": "cron", "hour": 6, "start_date": "2030-01-05", "calendar": "weekdays"}
#: Nominally later, Saturday at 07:00, but without a calendar: the task's next fire.
EVERY_DAY = {"trigger": "cron", "hour": 7, "start_date": "2030-01-05"}


@task("meter_reading", retry={"max_retries": 0})
async def meter_reading(ctx: TaskContext | None = None) -> dict[str, object]:
    return {"success": True, "message": "read"}


async def test_the_earliest_allowed_fire_of_many_schedules(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(meter_reading)
    moved = READ_ALL_BELOW + 1  # more than a summary reads at once, all nominally first
    assert moved > 4 * SOONEST_READ  # so the summary reads the soonest twice more
    entries = [
        ScheduleEntry(
            task_name="meter_reading", config=ON_WEEKDAYS, schedule_id=f"a{i:04d}", line=i + 1
        )
        for i in range(moved)
    ]
    last = ScheduleEntry(task_name="meter_reading", config=EVERY_DAY, schedule_id="z", line=0)
    entries.append(last)
    await s.add_schedules(entries)

    (summary,) = await readmodels.task_summaries(s, [s.get_task("meter_reading")])
    assert summary.next_fire_time_local == datetime(2030, 1, 5, 7, tzinfo=SHANGHAI)
    assert summary.schedule_count == moved + 1
    monday_six = datetime(2030, 1, 7, 6, tzinfo=SHANGHAI)
    assert [v.next_fire_time_local for v in summary.schedules] == [monday_six] * len(
        summary.schedules
    )

    # Without the schedule that has no calendar, the calendar's Monday is the next.
    await s.delete_schedule("z")
    (summary,) = await readmodels.task_summaries(s, [s.get_task("meter_reading")])
    assert summary.next_fire_time_local == monday_six
