"""Tasks with their schedules, next fire, last run and recent statistics.

Built from a few reads whatever the number of tasks and schedules: per-task schedule
counts (aggregated by the store), a page of each task's schedules (one read of them
all while there are few), the latest finished run of every task (one query), and one
statistics query per window. A task with 10,000 schedules costs what one with ten does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from pydantic import Field, JsonValue

from schedkit.models import Run, Schedule, ScheduleCounts, TaskStats, to_json
from schedkit.readmodels.common import Lang, View, local
from schedkit.readmodels.runs import RunBrief, run_brief
from schedkit.readmodels.schedules import ScheduleView, schedule_view
from schedkit.readmodels.stats import WindowStats, window_stats
from schedkit.service import Scheduler
from schedkit.task import BaseTask, TaskPriority

__all__ = ["RetryView", "TaskDetail", "TaskSummary", "task_detail", "task_summaries"]

#: Schedules a task summary lists (a task detail: a page of DETAIL_PAGE by default).
SCHEDULES_SHOWN = 10
DETAIL_PAGE = 50
#: Below this many schedules of the tasks asked for, all are read in one query.
READ_ALL_BELOW = 500

#: The windows every task summary reports (label, length).
STAT_WINDOWS: tuple[tuple[str, timedelta], ...] = (
    ("24h", timedelta(hours=24)),
    ("7d", timedelta(days=7)),
)


class TaskSummary(View):
    """A task with its schedules, next fire, last run and recent success."""

    name: str
    description: str
    category: str
    tags: list[str]
    priority: int = Field(description="1 LOW, 2 NORMAL, 3 HIGH, 4 CRITICAL.")
    priority_name: str
    schedules: list[ScheduleView] = Field(
        description="Its schedules in id order: the first page of them (see schedule_count)."
    )
    schedule_count: int = Field(description="How many schedules the task has in all.")
    paused: bool = Field(description="True when the task has schedules and all are paused.")
    pause_note: str | None
    next_fire_time: datetime | None = Field(description="Earliest next fire of its schedules, UTC.")
    next_fire_time_local: datetime | None
    last_run: RunBrief | None = Field(description="The latest finished run.")
    stats_24h: WindowStats
    stats_7d: WindowStats


class RetryView(View):
    max_retries: int
    retry_delay: float
    backoff_factor: float
    max_delay: float
    jitter: float


class TaskDetail(TaskSummary):
    """A task summary plus its declaration."""

    parameters_schema: dict[str, JsonValue] | None = Field(
        description="JSON Schema of the task's declared parameters (kwargs); null if none."
    )
    default_schedule: JsonValue = Field(description="The schedule declared in code.")
    retry: RetryView
    timeout: float | None
    depends_on: list[str]
    is_async: bool


_Windows = list[tuple[str, datetime, Mapping[str, TaskStats]]]


async def task_summaries(
    scheduler: Scheduler,
    tasks: Sequence[BaseTask],
    lang: Lang = "en",
    *,
    limit: int = SCHEDULES_SHOWN,
    offset: int = 0,
) -> list[TaskSummary]:
    """Summaries of ``tasks``, each with ``limit`` of its schedules from ``offset`` on
    (a few reads, see the module docstring)."""
    names = [t.task_name for t in tasks]
    single = names[0] if len(names) == 1 else None
    counts = {c.task_name: c for c in await scheduler.schedule_counts()}
    pages = await _schedule_pages(scheduler, names, counts, limit, offset)
    last = await scheduler.last_finished_runs(names)
    windows = await _stats_windows(scheduler, single)
    return [
        _summary(
            scheduler,
            t,
            pages.get(t.task_name, []),
            counts.get(t.task_name),
            last.get(t.task_name),
            windows,
            lang,
        )
        for t in tasks
    ]


async def task_detail(
    scheduler: Scheduler,
    task_name: str,
    lang: Lang = "en",
    *,
    limit: int = DETAIL_PAGE,
    offset: int = 0,
) -> TaskDetail:
    """Raises TaskNotFoundError for an unknown task. ``limit`` and ``offset`` page its
    schedules."""
    task = scheduler.get_task(task_name)
    (summary,) = await task_summaries(scheduler, [task], lang, limit=limit, offset=offset)
    policy = task.retry_policy
    return TaskDetail(
        **summary.model_dump(),
        parameters_schema=task.parameters_schema(),
        default_schedule=to_json(task.default_schedule),
        retry=RetryView(
            max_retries=policy.max_retries,
            retry_delay=policy.retry_delay,
            backoff_factor=policy.backoff_factor,
            max_delay=policy.max_delay,
            jitter=policy.jitter,
        ),
        timeout=task.timeout,
        depends_on=list(task.depends_on),
        is_async=task.is_async,
    )


async def _schedule_pages(
    scheduler: Scheduler,
    names: Sequence[str],
    counts: Mapping[str, ScheduleCounts],
    limit: int,
    offset: int,
) -> dict[str, list[Schedule]]:
    """A page of each task's schedules: one read of every schedule of the tasks while
    they are few, else one page read per task that has schedules."""
    having = [n for n in names if n in counts]
    pages: dict[str, list[Schedule]] = {}
    if sum(counts[n].total for n in having) <= READ_ALL_BELOW:
        wanted = set(having)
        single = having[0] if len(having) == 1 else None
        for schedule in await scheduler.list_schedules(single) if having else []:
            if schedule.task_name in wanted:
                pages.setdefault(schedule.task_name, []).append(schedule)
        return {name: found[offset : offset + limit] for name, found in pages.items()}
    for name in having:
        pages[name] = await scheduler.list_schedules(name, limit=limit, offset=offset)
    return pages


async def _stats_windows(scheduler: Scheduler, task_name: str | None) -> _Windows:
    now = scheduler.clock.now()
    windows: _Windows = []
    for label, length in STAT_WINDOWS:
        stats = await scheduler.stats(length, task_name)
        windows.append((label, now - length, {s.task_name: s for s in stats}))
    return windows


def _summary(
    scheduler: Scheduler,
    task: BaseTask,
    schedules: list[Schedule],
    counts: ScheduleCounts | None,
    last: Run | None,
    windows: _Windows,
    lang: Lang,
) -> TaskSummary:
    tz = scheduler.tz
    views = [schedule_view(s, tz, lang) for s in schedules]
    next_fire = counts.next_fire_time if counts is not None else None
    paused = counts is not None and counts.total > 0 and counts.paused == counts.total
    stats = {
        label: window_stats(label, since, by.get(task.task_name)) for label, since, by in windows
    }
    priority = int(task.task_priority)
    return TaskSummary(
        name=task.task_name,
        description=task.task_description,
        category=task.task_category,
        tags=list(task.task_tags),
        priority=priority,
        priority_name=_priority_name(priority),
        schedules=views,
        schedule_count=counts.total if counts is not None else 0,
        paused=paused,
        pause_note=next((s.pause_note for s in schedules if s.pause_note), None)
        if paused
        else None,
        next_fire_time=next_fire,
        next_fire_time_local=local(next_fire, tz),
        last_run=run_brief(last, tz) if last else None,
        stats_24h=stats["24h"],
        stats_7d=stats["7d"],
    )


def _priority_name(priority: int) -> str:
    try:
        return TaskPriority(priority).name
    except ValueError:
        return str(priority)
