"""The console's dashboard: outcomes over a window, what runs now, what fires next."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from pydantic import Field

from schedkit.calendars import referenced_names
from schedkit.models import RunStatus, success_rate
from schedkit.readmodels.common import Lang, View
from schedkit.readmodels.runs import RunSummary, run_summary
from schedkit.readmodels.schedules import (
    CalendarWarningView,
    TaskUpcoming,
    UpcomingFire,
    calendar_warning_view,
    fires_by_task,
    soonest_fires,
)
from schedkit.readmodels.stats import HourCounts, TaskStatsView, hour_counts, task_stats_view
from schedkit.service import Scheduler

__all__ = ["Overview", "overview"]

#: Running runs listed on the dashboard (all are counted).
RUNNING_SHOWN = 100
#: Schedules of one task whose next fire the dashboard's "upcoming by task" lists.
UPCOMING_PER_TASK = 10
#: Hours ``per_hour`` covers at most (the last of a longer window): each is one rollup
#: row per task and status to read, and one entry to send.
PER_HOUR_MAX = 7 * 24
_HOUR = timedelta(hours=1)


class Overview(View):
    since: datetime
    until: datetime
    total: int
    counts: dict[str, int] = Field(description="Runs by status over the window, all tasks.")
    success_rate: float | None = Field(
        description="Successes / finished runs over the window, skipped fires left out."
    )
    tasks: list[TaskStatsView] = Field(description="Per task counts and duration percentiles.")
    per_hour: list[HourCounts] = Field(
        description="Runs per whole UTC hour of scheduled_for by status, one entry per hour "
        f"of the window (its last {PER_HOUR_MAX} at most), the current hour last; exact, "
        "from the store's rollups."
    )
    running_count: int
    running: list[RunSummary] = Field(description=f"Runs executing now (at most {RUNNING_SHOWN}).")
    pending_count: int
    upcoming: list[UpcomingFire] = Field(description="The next fires of all schedules.")
    upcoming_complete: bool = Field(
        description="False when the time a request may search for fires ran out (a "
        "second, shared with the other callers' searches): a schedule on rare calendar "
        "days searched in vain, or schedules left unsearched; upcoming and "
        "upcoming_by_task may then lack fires."
    )
    upcoming_by_task: list[TaskUpcoming] = Field(
        description="The tasks firing soonest, each with the next fire of each of its "
        f"{UPCOMING_PER_TASK} schedules firing soonest."
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
    *,
    exact: bool = False,
) -> Overview:
    now = scheduler.clock.now()
    stats = await scheduler.stats(window, exact=exact)
    # As many whole hours as the window spans, so a 24 h window is 24 bars.
    hours = min(PER_HOUR_MAX, max(1, math.ceil(window / _HOUR)))
    first = now.replace(minute=0, second=0, microsecond=0) - (hours - 1) * _HOUR
    per_hour = await scheduler.runs_per_hour(first, now)
    counts: dict[str, int] = {}
    for task_stats in stats:
        for status, n in task_stats.counts.items():
            counts[status] = counts.get(status, 0) + n
    running = await scheduler.list_runs(status=RunStatus.RUNNING, limit=RUNNING_SHOWN)
    # The schedules firing soonest (index-backed), never all of them: the next
    # ``upcoming`` fires come from the ``upcoming`` schedules whose next fire is earliest.
    soonest = await scheduler.next_schedules(upcoming)
    firing = sorted(
        (c for c in await scheduler.schedule_counts() if c.next_fire_time is not None),
        key=lambda c: (c.next_fire_time, c.task_name),
    )[:upcoming]
    by_task = [
        schedule
        for counts in firing
        for schedule in await scheduler.next_schedules(UPCOMING_PER_TASK, counts.task_name)
    ]
    # The store's calendars those schedules name, read once for both lists.
    calendars = await scheduler.calendars.snapshot(
        referenced_names(s.trigger for s in [*soonest, *by_task])
    )
    # Each schedule's next fires are searched (a calendar may skip many days) off the
    # event loop, one request's searches within one budget, shared with other callers.
    searches = scheduler.fire_searches
    deadline = searches.deadline()
    soonest_found = await searches.upcoming(soonest, upcoming, calendars, deadline=deadline)
    task_found = await searches.upcoming(by_task, 1, calendars, deadline=deadline)
    warnings = await scheduler.calendars.warnings()
    return Overview(
        since=now - window,
        until=now,
        total=sum(counts.values()),
        counts=counts,
        success_rate=success_rate(counts),
        tasks=[task_stats_view(s) for s in stats],
        per_hour=hour_counts(first, hours, per_hour, scheduler.tz),
        running_count=await scheduler.count_runs(status=RunStatus.RUNNING),
        running=[run_summary(r, scheduler.tz) for r in running],
        pending_count=await scheduler.count_runs(status=RunStatus.PENDING),
        upcoming=soonest_fires(soonest, soonest_found, scheduler.tz, upcoming),
        upcoming_complete=soonest_found.complete and task_found.complete,
        upcoming_by_task=fires_by_task(by_task, task_found, scheduler.tz, upcoming),
        calendar_warnings=[calendar_warning_view(w, lang) for w in warnings],
    )
