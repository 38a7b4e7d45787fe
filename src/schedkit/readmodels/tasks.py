"""Tasks with their schedules, next fire, last run and recent statistics.

Built from a few reads whatever the number of tasks and schedules: per-task schedule
counts (aggregated by the store), a page of each task's schedules and the ones firing
soonest (one read of them all while there are few), the business calendars they name
(one read), the latest finished run of every task (one query), and one statistics
query per window. A task with 10,000 schedules costs what one with ten does.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field, JsonValue

from schedkit.models import Run, Schedule, ScheduleCounts, TaskStats, to_json
from schedkit.readmodels.common import Lang, View, local
from schedkit.readmodels.runs import RunBrief, run_brief
from schedkit.readmodels.schedules import ScheduleView, schedule_view, stored_window
from schedkit.readmodels.stats import WindowStats, window_stats
from schedkit.redaction import redact
from schedkit.service import Scheduler
from schedkit.task import BaseTask, TaskPriority
from schedkit.triggers import AllowedFire

__all__ = ["RetryView", "TaskDetail", "TaskSummary", "task_detail", "task_summaries"]

#: Schedules a task summary lists (a task detail: a page of DETAIL_PAGE by default).
SCHEDULES_SHOWN = 10
DETAIL_PAGE = 50
#: Below this many schedules of the tasks asked for, all are read in one query.
READ_ALL_BELOW = 500
#: Schedules of a task read first, soonest nominal fire first, to find its next fire
#: (four times as many again while calendars move all of them past the last one read).
SOONEST_READ = 50

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
        description="Its schedules: its default schedule first while no node stored it "
        "(stored false), then the stored ones in id order; the first page of them (see "
        "schedule_count)."
    )
    schedule_count: int = Field(description="How many schedules the task has in all.")
    paused: bool = Field(description="True when the task has schedules and all are paused.")
    pause_note: str | None
    next_fire_time: datetime | None = Field(
        description="The earliest next_fire_time of its schedules: the earliest fire their "
        "business calendars allow, UTC."
    )
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
    pending = {s.task_name: s for s in await scheduler.pending_defaults(tasks)}
    read = await _read_schedules(scheduler, names, counts, pending, limit, offset)
    shown = itertools.chain(pending.values(), *read.pages.values(), *read.soonest.values())
    # One budget for the request's calendar searches, however many reads they take.
    deadline = scheduler.fire_searches.deadline()
    allowed = await scheduler.allowed_fires(shown, deadline=deadline)
    next_fires = {
        name: await _next_fire(scheduler, name, soonest, read.all_read, allowed, deadline)
        for name, soonest in read.soonest.items()
    }
    for name, default in pending.items():
        fire = allowed[default.id].fire if default.id in allowed else None
        next_fires[name] = min(filter(None, (next_fires.get(name), fire)), default=None)
    last = await scheduler.last_finished_runs(names)
    windows = await _stats_windows(scheduler, single)
    return [
        _summary(
            scheduler,
            t,
            read.pages.get(t.task_name, []),
            pending.get(t.task_name),
            allowed,
            next_fires.get(t.task_name),
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


@dataclass(frozen=True, kw_only=True, slots=True)
class _Read:
    #: A page of each task's schedules: its default no node stored yet, then in id order.
    pages: dict[str, list[Schedule]]
    #: Per task with a next fire, its unpaused schedules soonest nominal fire first:
    #: every one of them, or the first SOONEST_READ.
    soonest: dict[str, list[Schedule]]
    #: True when ``soonest`` holds every unpaused schedule of each task.
    all_read: bool


async def _read_schedules(
    scheduler: Scheduler,
    names: Sequence[str],
    counts: Mapping[str, ScheduleCounts],
    pending: Mapping[str, Schedule],
    limit: int,
    offset: int,
) -> _Read:
    """One read of every schedule of the tasks while they are few, else a page read and
    a read of the soonest per task that has schedules. A task's page lists its
    ``pending`` default schedule (not stored) first."""
    having = [n for n in names if n in counts]
    firing = [n for n in having if counts[n].next_fire_time is not None]
    ahead = {name: [default] for name, default in pending.items()}
    found: dict[str, list[Schedule]] = {}
    if sum(counts[n].total for n in having) <= READ_ALL_BELOW:
        wanted = set(having)
        single = having[0] if len(having) == 1 else None
        for schedule in await scheduler.list_schedules(single) if having else []:
            if schedule.task_name in wanted:
                found.setdefault(schedule.task_name, []).append(schedule)
        every = {name: ahead.get(name, []) + found.get(name, []) for name in {*ahead, *found}}
        return _Read(
            pages={name: listed[offset : offset + limit] for name, listed in every.items()},
            soonest={name: _by_next_fire(found[name]) for name in firing},
            all_read=True,
        )
    pages = {name: listed[offset : offset + limit] for name, listed in ahead.items()}
    for name in having:
        start, room = stored_window(offset, limit, len(ahead.get(name, ())))
        page = await scheduler.list_schedules(name, limit=room, offset=start) if room else []
        pages[name] = pages.get(name, []) + page
    soonest = {name: await scheduler.next_schedules(SOONEST_READ, name) for name in firing}
    return _Read(pages=pages, soonest=soonest, all_read=False)


def _by_next_fire(schedules: list[Schedule]) -> list[Schedule]:
    """The unpaused ones with a next fire, soonest first (as ``next_schedules`` reads)."""
    firing = [s for s in schedules if not s.paused and s.next_fire_time is not None]
    return sorted(firing, key=lambda s: (s.next_fire_time, s.id))


async def _next_fire(
    scheduler: Scheduler,
    task_name: str,
    soonest: list[Schedule],
    all_read: bool,
    allowed: Mapping[str, AllowedFire],
    deadline: float,
) -> datetime | None:
    """The earliest fire the calendars of the task's schedules allow. No schedule fires
    before its nominal fire, so those read soonest first decide once the next one's
    nominal fire is not earlier than the best found; else more are read (rarely: the
    first SOONEST_READ would all have to be moved by their calendars)."""
    complete = all_read or len(soonest) < SOONEST_READ
    while True:
        best, known = _earliest(soonest, allowed, complete=complete)
        if known:
            return best
        limit = 4 * len(soonest)
        soonest = await scheduler.next_schedules(limit, task_name)
        allowed = await scheduler.allowed_fires(soonest, deadline=deadline)
        complete = len(soonest) < limit


def _earliest(
    soonest: list[Schedule], allowed: Mapping[str, AllowedFire], *, complete: bool
) -> tuple[datetime | None, bool]:
    """(the earliest allowed fire of ``soonest``, whether no schedule not in it can fire
    earlier); ``complete``: ``soonest`` is every unpaused schedule of the task."""
    best: datetime | None = None
    for schedule in soonest:
        nominal = schedule.next_fire_time
        if best is not None and nominal is not None and nominal >= best:
            return best, True
        entry = allowed.get(schedule.id)
        fire = entry.fire if entry is not None else None
        if fire is not None and (best is None or fire < best):
            best = fire
    return best, complete


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
    pending: Schedule | None,
    allowed: Mapping[str, AllowedFire],
    next_fire: datetime | None,
    counts: ScheduleCounts | None,
    last: Run | None,
    windows: _Windows,
    lang: Lang,
) -> TaskSummary:
    tz = scheduler.tz
    views = [
        schedule_view(s, tz, lang, next_fire=allowed.get(s.id), stored=s is not pending)
        for s in schedules
    ]
    total = counts.total if counts is not None else 0
    # A default schedule not stored yet is not paused: its task is not all paused.
    paused = pending is None and counts is not None and total > 0 and counts.paused == total
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
        schedule_count=total + (pending is not None),
        paused=paused,
        pause_note=_pause_note(schedules) if paused else None,
        next_fire_time=next_fire,
        next_fire_time_local=local(next_fire, tz),
        last_run=run_brief(last, tz) if last else None,
        stats_24h=stats["24h"],
        stats_7d=stats["7d"],
    )


def _pause_note(schedules: Sequence[Schedule]) -> str | None:
    """The first pause note of ``schedules``, credentials masked."""
    note = next((s.pause_note for s in schedules if s.pause_note), None)
    return redact(note) if note else None


def _priority_name(priority: int) -> str:
    try:
        return TaskPriority(priority).name
    except ValueError:
        return str(priority)
