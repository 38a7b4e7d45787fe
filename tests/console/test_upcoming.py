"""What the overview lists under "Upcoming fires": the tasks firing soonest, each with the
next fire of each of its schedules, so that a schedule firing every minute cannot push the
daily ones out of the list (readmodels.upcoming_by_task)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from schedkit.models import Schedule
from schedkit.readmodels import upcoming_by_task, upcoming_fires

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 8, 0, 30, tzinfo=UTC)


def schedule(sid: str, task: str, expression: str, first: datetime, **extra: object) -> Schedule:
    trigger = {"trigger": "cron", "expression": expression, "timezone": "Asia/Shanghai"}
    return Schedule(id=sid, task_name=task, trigger=trigger, next_fire_time=first, **extra)


SCHEDULES = [
    schedule(
        "demo:report_daily", "report_daily", "* * * * *", datetime(2026, 12, 2, 8, 1, tzinfo=UTC)
    ),
    schedule("demo:customer", "customer", "* * * * *", datetime(2026, 12, 2, 8, 1, tzinfo=UTC)),
    schedule("report_daily", "report_daily", "0 6 * * *", datetime(2026, 12, 2, 22, 0, tzinfo=UTC)),
    schedule("data_backup", "data_backup", "30 1 * * *", datetime(2026, 12, 2, 17, 30, tzinfo=UTC)),
    schedule(
        "paused_one", "paused", "0 3 * * *", datetime(2026, 12, 2, 19, 0, tzinfo=UTC), paused=True
    ),
]


def test_every_minute_schedules_fill_the_plain_list() -> None:
    fires = upcoming_fires(SCHEDULES, TZ, 10)
    assert {f.schedule_id for f in fires} == {"demo:report_daily", "demo:customer"}


def test_grouped_by_task_every_task_shows_with_each_schedule() -> None:
    groups = upcoming_by_task(SCHEDULES, TZ, 10)
    assert [g.task_name for g in groups] == ["customer", "report_daily", "data_backup"]
    daily = groups[1]
    assert [f.schedule_id for f in daily.fires] == ["demo:report_daily", "report_daily"]
    assert daily.fires[1].fire_time_local.isoformat() == "2026-12-03T06:00:00+08:00"
    assert upcoming_by_task(SCHEDULES, TZ, 2)[-1].task_name == "report_daily"  # limit: tasks
