"""The console's dashboard: outcomes over a window, what runs now, what fires next."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field

from schedkit.models import RunStatus
from schedkit.readmodels.common import Lang, View
from schedkit.readmodels.runs import RunSummary, run_summary
from schedkit.readmodels.schedules import (
    CalendarWarningView,
    TaskUpcoming,
    UpcomingFire,
    calendar_warning_view,
    upcoming_by_task,
    upcoming_fires,
)
from schedkit.readmodels.stats import TaskStatsView, task_stats_view
from schedkit.service import Scheduler

__all__ = ["Overview", "overview"]

#: Running runs listed on the dashboard (all are counted).
RUNNING_SHOWN = 100


class Overview(View):
    since: datetime
    until: datetime
    total: int
    counts: dict[str, int] = Field(description="Runs by status over the window, all tasks.")
    success_rate: float | None = Field(description="Successes / finished runs over the window.")
    tasks: list[TaskStatsView] = Field(description="Per task counts and duration percentiles.")
    running_count: int
    running: list[RunSummary] = Field(description=f"Runs executing now (at most {RUNNING_SHOWN}).")
    pending_count: int
    upcoming: list[UpcomingFire] = Field(description="The next fires of all schedules.")
    upcoming_by_task: list[TaskUpcoming] = Field(
        description="The tasks firing soonest, each with the next fire of each schedule."
    )
    calendar_warnings: list[CalendarWarningView] = Field(
        default_factory=list,
        description="Business calendars schedules use whose coming years no source "
        'confirms ("calendar cn_workdays for 2027 not confirmed"), or that are missing.',
    )


async def overview(
    scheduler: Scheduler,
    window: timedelta = timedelta(hours=24),
    upcoming: int = 10,
    lang: Lang = "en",
) -> Overview:
    now = scheduler.clock.now()
    stats = await scheduler.stats(window)
    counts: dict[str, int] = {}
    for task_stats in stats:
        for status, n in task_stats.counts.items():
            counts[status] = counts.get(status, 0) + n
    finished = sum(n for status, n in counts.items() if RunStatus(status).finished)
    running = await scheduler.list_runs(status=RunStatus.RUNNING, limit=RUNNING_SHOWN)
    schedules = await scheduler.list_schedules()
    names = await scheduler.calendars.referenced()
    calendars = await scheduler.calendars.snapshot(names)
    warnings = calendars.warnings(names, today=scheduler.calendars.today())
    return Overview(
        since=now - window,
        until=now,
        total=sum(counts.values()),
        counts=counts,
        success_rate=counts.get(RunStatus.SUCCESS.value, 0) / finished if finished else None,
        tasks=[task_stats_view(s) for s in stats],
        running_count=await scheduler.count_runs(status=RunStatus.RUNNING),
        running=[run_summary(r, scheduler.tz) for r in running],
        pending_count=await scheduler.count_runs(status=RunStatus.PENDING),
        upcoming=upcoming_fires(schedules, scheduler.tz, upcoming, calendars),
        upcoming_by_task=upcoming_by_task(schedules, scheduler.tz, upcoming, calendars),
        calendar_warnings=[calendar_warning_view(w, lang) for w in warnings],
    )
