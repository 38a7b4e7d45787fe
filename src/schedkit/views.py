"""Read models the adapters share (API, console, CLI), computed over the service façade.

Each view is a frozen pydantic model holding display-ready data: UTC times plus their
``*_local`` twin in the configured timezone, schedule text in the reader's language, run
statistics over fixed windows. Composition lives here so that the adapters stay thin.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from schedkit.errors import ValidationError
from schedkit.events import EventKind, RunEvent
from schedkit.models import (
    ApiToken,
    AuditEvent,
    LogLine,
    Node,
    OverlapPolicy,
    Run,
    RunStatus,
    Schedule,
    TaskStats,
    TriggerSource,
    to_json,
)
from schedkit.scheduler import LEASE_NAME
from schedkit.service import Scheduler
from schedkit.task import BaseTask, TaskPriority
from schedkit.triggers import build_trigger, trigger_from_json

__all__ = [
    "AuditView",
    "Lang",
    "LogLineView",
    "NodeView",
    "Overview",
    "RunBrief",
    "RunEventView",
    "RunView",
    "SchedulePreview",
    "ScheduleView",
    "TaskDetail",
    "TaskStatsView",
    "TaskSummary",
    "TokenView",
    "UpcomingFire",
    "WindowStats",
    "audit_view",
    "log_line_view",
    "negotiate_lang",
    "node_views",
    "overview",
    "run_event_view",
    "run_view",
    "schedule_preview",
    "schedule_view",
    "task_detail",
    "task_summaries",
    "task_summary",
    "token_view",
    "upcoming_fires",
]

Lang = Literal["en", "zh"]

#: The windows every task summary reports (label, length).
STAT_WINDOWS: tuple[tuple[str, timedelta], ...] = (
    ("24h", timedelta(hours=24)),
    ("7d", timedelta(days=7)),
)


def negotiate_lang(explicit: str | None = None, accept_language: str | None = None) -> Lang:
    """``zh`` or ``en``: an explicit choice (``?lang=``) wins, then the first of the
    ``Accept-Language`` header's languages that is one of them (by q-value), then ``en``."""
    if explicit:
        choice = explicit.strip().lower()
        if choice.startswith("zh"):
            return "zh"
        if choice.startswith("en"):
            return "en"
    if not accept_language:
        return "en"
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:20]):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        quality = 1.0
        for param in pieces[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and (tag.startswith("zh") or tag.startswith("en")):
            ranked.append((-quality, index, tag))
    if not ranked:
        return "en"
    return "zh" if min(ranked)[2].startswith("zh") else "en"


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _local(value: datetime | None, tz: tzinfo) -> datetime | None:
    return value.astimezone(tz) if value is not None else None


# -- schedules ---------------------------------------------------------------------------


class ScheduleView(_View):
    """A stored schedule, with its text in the reader's language."""

    id: str
    task_name: str
    trigger: dict[str, JsonValue] = Field(description="The validated trigger spec, as stored.")
    description: str = Field(description="The schedule in words, in the request's language.")
    timezone: str = Field(description="IANA zone the trigger is evaluated in.")
    kwargs: dict[str, JsonValue]
    misfire_grace_time: float | None
    coalesce: bool
    max_instances: int
    overlap: OverlapPolicy
    timeout: float | None
    paused: bool
    pause_note: str | None
    origin: str = Field(description="'code' (the task's default) or 'runtime' (set by a user).")
    next_fire_time: datetime | None = Field(description="Next nominal fire, UTC.")
    next_fire_time_local: datetime | None = Field(description="Next fire in the configured zone.")
    last_fire_time: datetime | None
    last_fire_time_local: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


def schedule_view(schedule: Schedule, tz: tzinfo, lang: Lang = "en") -> ScheduleView:
    default_zone = str(tz)
    try:
        text = trigger_from_json(schedule.trigger, default_timezone=default_zone).describe(lang)
    except Exception:  # a stored trigger the current code cannot read: show it raw
        text = str(schedule.trigger)
    return ScheduleView(
        id=schedule.id,
        task_name=schedule.task_name,
        trigger=schedule.trigger,
        description=text,
        timezone=str(schedule.trigger.get("timezone") or default_zone),
        kwargs=schedule.kwargs,
        misfire_grace_time=schedule.misfire_grace_time,
        coalesce=schedule.coalesce,
        max_instances=schedule.max_instances,
        overlap=schedule.overlap,
        timeout=schedule.timeout,
        paused=schedule.paused,
        pause_note=schedule.pause_note,
        origin=schedule.origin,
        next_fire_time=None if schedule.paused else schedule.next_fire_time,
        next_fire_time_local=None if schedule.paused else _local(schedule.next_fire_time, tz),
        last_fire_time=schedule.last_fire_time,
        last_fire_time_local=_local(schedule.last_fire_time, tz),
        version=schedule.version,
        created_at=schedule.created_at,
        updated_at=schedule.updated_at,
    )


class UpcomingFire(_View):
    schedule_id: str
    task_name: str
    fire_time: datetime
    fire_time_local: datetime


def upcoming_fires(
    schedules: Iterable[Schedule], tz: tzinfo, limit: int = 10
) -> list[UpcomingFire]:
    """The next ``limit`` nominal fires of the unpaused ``schedules``, earliest first
    (days excluded by a schedule's business calendar left out)."""
    fires: list[tuple[datetime, str, str]] = []
    for schedule in schedules:
        if schedule.paused or schedule.next_fire_time is None:
            continue
        try:
            trigger = trigger_from_json(schedule.trigger, default_timezone=str(tz))
        except Exception:
            continue
        nominal: datetime | None = schedule.next_fire_time
        found = 0
        for _ in range(limit * 20):
            if nominal is None or found >= limit:
                break
            if trigger.calendar_allows(nominal):
                fires.append((nominal, schedule.id, schedule.task_name))
                found += 1
            try:
                nominal = trigger.next_fire_time(nominal, nominal)
            except (OverflowError, ValueError):  # the series runs past year 9999
                break
    return [
        UpcomingFire(
            schedule_id=sid, task_name=name, fire_time=at, fire_time_local=at.astimezone(tz)
        )
        for at, sid, name in heapq.nsmallest(limit, fires)
    ]


class SchedulePreview(_View):
    """A validated schedule and its upcoming fires (nothing saved)."""

    spec: dict[str, JsonValue] = Field(description="The validated spec, policies included.")
    description: str
    timezone: str
    fire_times: list[datetime] = Field(description="Upcoming fires, UTC.")
    fire_times_local: list[datetime] = Field(description="The same, in the spec's zone.")
    complete: bool = Field(
        description="False when the search stopped at its time budget before finding "
        "all the fires asked for (a schedule that fires rarely or never)."
    )


def schedule_preview(
    scheduler: Scheduler,
    config: Any,
    count: int = 5,
    lang: Lang = "en",
    *,
    budget: float = 1.0,
) -> SchedulePreview:
    """Validate ``config`` (ValidationError naming the field) and list its next ``count``
    fires, as :func:`schedkit.triggers.preview` does but searching at most ``budget``
    seconds: a calendar that excludes nearly every fire must not hold a request (or the
    event loop) for the core preview's 100,000-fire scan. Dates beyond what ``datetime``
    holds are answered as a ValidationError on ``trigger``."""
    try:
        spec = scheduler.parse_schedule(config)
        trigger = build_trigger(spec.trigger, default_timezone=str(scheduler.tz))
        start = scheduler.clock.now()
        stop_at = time.monotonic() + budget
        fires: list[datetime] = []
        previous: datetime | None = None
        complete = True
        while len(fires) < count:
            if time.monotonic() > stop_at:
                complete = False
                break
            nominal = trigger.next_fire_time(previous, start)
            if nominal is None:
                break
            if nominal >= start and trigger.calendar_allows(nominal):
                fires.append(nominal)
            previous = nominal
    except (OverflowError, ValueError) as exc:
        # Workaround: the trigger code lets these escape for dates near year 1 or 9999.
        raise ValidationError(
            f"the schedule reaches outside the supported dates (years 1-9999): {exc}",
            field="trigger",
        ) from None
    return SchedulePreview(
        spec=spec.to_json(),
        description=trigger.describe(lang),
        timezone=str(trigger.timezone),
        fire_times=[f.astimezone(UTC) for f in fires],
        fire_times_local=[f.astimezone(trigger.timezone) for f in fires],
        complete=complete,
    )


# -- runs --------------------------------------------------------------------------------


class RunBrief(_View):
    """A run's outcome at a glance."""

    id: str
    status: RunStatus
    trigger_source: TriggerSource
    scheduled_for: datetime
    scheduled_for_local: datetime
    started_at: datetime | None
    finished_at: datetime | None
    finished_at_local: datetime | None
    duration: float | None = Field(description="Seconds the last attempt took.")
    attempt: int


class RunView(RunBrief):
    """Everything known about a run."""

    task_name: str
    schedule_id: str | None
    priority: int
    max_attempts: int
    kwargs: dict[str, JsonValue]
    not_before: datetime
    blocked_by: str | None
    node_id: str | None
    started_at_local: datetime | None
    heartbeat_at: datetime | None
    result: dict[str, JsonValue] | None
    error: dict[str, JsonValue] | None
    attempt_errors: list[dict[str, JsonValue]]
    progress: dict[str, JsonValue] | None
    reason: str | None
    cancel_requested: bool
    timeout: float | None
    created_at: datetime
    created_by: str | None


def _run_fields(run: Run, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status,
        "trigger_source": run.trigger_source,
        "scheduled_for": run.scheduled_for,
        "scheduled_for_local": run.scheduled_for.astimezone(tz),
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "finished_at_local": _local(run.finished_at, tz),
        "duration": run.duration,
        "attempt": run.attempt,
    }


def run_brief(run: Run, tz: tzinfo) -> RunBrief:
    return RunBrief(**_run_fields(run, tz))


def run_view(run: Run, tz: tzinfo) -> RunView:
    return RunView(
        **_run_fields(run, tz),
        task_name=run.task_name,
        schedule_id=run.schedule_id,
        priority=run.priority,
        max_attempts=run.max_attempts,
        kwargs=to_json(run.kwargs),
        not_before=run.not_before,
        blocked_by=run.blocked_by,
        node_id=run.node_id,
        started_at_local=_local(run.started_at, tz),
        heartbeat_at=run.heartbeat_at,
        result=to_json(run.result),
        error=to_json(run.error),
        attempt_errors=to_json(run.attempt_errors),
        progress=to_json(run.progress),
        reason=run.reason,
        cancel_requested=run.cancel_requested,
        timeout=run.timeout,
        created_at=run.created_at,
        created_by=run.created_by,
    )


class LogLineView(_View):
    seq: int
    attempt: int
    ts: datetime
    level: str
    logger: str
    message: str


def log_line_view(line: LogLine) -> LogLineView:
    return LogLineView(
        seq=line.seq,
        attempt=line.attempt,
        ts=line.ts,
        level=line.level,
        logger=line.logger,
        message=line.message,
    )


class RunEventView(_View):
    """One run event as the event stream sends it."""

    kind: EventKind
    at: datetime
    run: RunView
    detail: dict[str, JsonValue]


def run_event_view(event: RunEvent, tz: tzinfo) -> RunEventView:
    return RunEventView(
        kind=event.kind, at=event.at, run=run_view(event.run, tz), detail=to_json(event.detail)
    )


# -- statistics --------------------------------------------------------------------------


class WindowStats(_View):
    """A task's runs scheduled within a window ending now."""

    window: str = Field(description="Window label, e.g. '24h' or '7d'.")
    since: datetime
    total: int = Field(description="Runs in the window, finished or not.")
    counts: dict[str, int] = Field(description="Runs by status.")
    success_rate: float | None = Field(description="Successes / finished runs; null if none.")
    mean_duration: float | None = Field(description="Mean seconds of runs with a duration.")


class TaskStatsView(_View):
    task_name: str
    total: int
    counts: dict[str, int]
    success_rate: float | None
    mean_duration: float | None
    p50_duration: float | None
    p95_duration: float | None
    p99_duration: float | None


def _window_stats(label: str, since: datetime, stats: TaskStats | None) -> WindowStats:
    return WindowStats(
        window=label,
        since=since,
        total=stats.total if stats else 0,
        counts=dict(stats.counts) if stats else {},
        success_rate=stats.success_rate if stats else None,
        mean_duration=stats.mean_duration if stats else None,
    )


def task_stats_view(stats: TaskStats) -> TaskStatsView:
    return TaskStatsView(
        task_name=stats.task_name,
        total=stats.total,
        counts=dict(stats.counts),
        success_rate=stats.success_rate,
        mean_duration=stats.mean_duration,
        p50_duration=stats.p50_duration,
        p95_duration=stats.p95_duration,
        p99_duration=stats.p99_duration,
    )


# -- tasks -------------------------------------------------------------------------------


class TaskSummary(_View):
    """A task with its schedules, next fire, last run and recent success."""

    name: str
    description: str
    category: str
    tags: list[str]
    priority: int = Field(description="1 LOW, 2 NORMAL, 3 HIGH, 4 CRITICAL.")
    priority_name: str
    schedules: list[ScheduleView]
    paused: bool = Field(description="True when the task has schedules and all are paused.")
    pause_note: str | None
    next_fire_time: datetime | None = Field(description="Earliest next fire of its schedules, UTC.")
    next_fire_time_local: datetime | None
    last_run: RunBrief | None = Field(description="The latest finished run.")
    stats_24h: WindowStats
    stats_7d: WindowStats


class RetryView(_View):
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


async def task_summaries(
    scheduler: Scheduler, tasks: Sequence[BaseTask], lang: Lang = "en"
) -> list[TaskSummary]:
    """Summaries of ``tasks``: one read for schedules and one per stats window, then one
    last-run query per task."""
    schedules = await scheduler.list_schedules()
    by_task: dict[str, list[Schedule]] = {}
    for schedule in schedules:
        by_task.setdefault(schedule.task_name, []).append(schedule)
    windows = await _stats_windows(scheduler, None)
    return [
        await _summary(scheduler, task, by_task.get(task.task_name, []), windows, lang)
        for task in tasks
    ]


async def task_summary(scheduler: Scheduler, task: BaseTask, lang: Lang = "en") -> TaskSummary:
    schedules = await scheduler.list_schedules(task.task_name)
    windows = await _stats_windows(scheduler, task.task_name)
    return await _summary(scheduler, task, schedules, windows, lang)


async def task_detail(scheduler: Scheduler, task_name: str, lang: Lang = "en") -> TaskDetail:
    """Raises TaskNotFoundError for an unknown task."""
    task = scheduler.get_task(task_name)
    summary = await task_summary(scheduler, task, lang)
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


_Windows = list[tuple[str, datetime, Mapping[str, TaskStats]]]


async def _stats_windows(scheduler: Scheduler, task_name: str | None) -> _Windows:
    now = scheduler.clock.now()
    windows: _Windows = []
    for label, length in STAT_WINDOWS:
        stats = await scheduler.stats(length, task_name)
        windows.append((label, now - length, {s.task_name: s for s in stats}))
    return windows


async def _summary(
    scheduler: Scheduler,
    task: BaseTask,
    schedules: list[Schedule],
    windows: _Windows,
    lang: Lang,
) -> TaskSummary:
    tz = scheduler.tz
    views = [schedule_view(s, tz, lang) for s in schedules]
    fires = [v.next_fire_time for v in views if v.next_fire_time is not None]
    next_fire = min(fires) if fires else None
    last = await scheduler.list_runs(
        task.task_name, status=[s for s in RunStatus if s.finished], limit=1
    )
    paused = bool(schedules) and all(s.paused for s in schedules)
    stats = {
        label: _window_stats(label, since, by.get(task.task_name)) for label, since, by in windows
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
        paused=paused,
        pause_note=next((s.pause_note for s in schedules if s.pause_note), None)
        if paused
        else None,
        next_fire_time=next_fire,
        next_fire_time_local=_local(next_fire, tz),
        last_run=run_brief(last[0], tz) if last else None,
        stats_24h=stats["24h"],
        stats_7d=stats["7d"],
    )


def _priority_name(priority: int) -> str:
    try:
        return TaskPriority(priority).name
    except ValueError:
        return str(priority)


# -- overview ----------------------------------------------------------------------------


class Overview(_View):
    """The console's dashboard: outcomes over a window, what runs now, what fires next."""

    since: datetime
    until: datetime
    total: int
    counts: dict[str, int] = Field(description="Runs by status over the window, all tasks.")
    success_rate: float | None = Field(description="Successes / finished runs over the window.")
    tasks: list[TaskStatsView] = Field(description="Per task counts and duration percentiles.")
    running_count: int
    running: list[RunView] = Field(description="Runs executing now (at most 100 shown).")
    pending_count: int
    upcoming: list[UpcomingFire]


async def overview(
    scheduler: Scheduler, window: timedelta = timedelta(hours=24), upcoming: int = 10
) -> Overview:
    now = scheduler.clock.now()
    stats = await scheduler.stats(window)
    counts: dict[str, int] = {}
    for task_stats in stats:
        for status, n in task_stats.counts.items():
            counts[status] = counts.get(status, 0) + n
    finished = sum(n for status, n in counts.items() if RunStatus(status).finished)
    running = await scheduler.list_runs(status=RunStatus.RUNNING, limit=100)
    return Overview(
        since=now - window,
        until=now,
        total=sum(counts.values()),
        counts=counts,
        success_rate=counts.get(RunStatus.SUCCESS.value, 0) / finished if finished else None,
        tasks=[task_stats_view(s) for s in stats],
        running_count=await scheduler.count_runs(status=RunStatus.RUNNING),
        running=[run_view(r, scheduler.tz) for r in running],
        pending_count=await scheduler.count_runs(status=RunStatus.PENDING),
        upcoming=upcoming_fires(await scheduler.list_schedules(), scheduler.tz, upcoming),
    )


# -- nodes, audit, tokens ----------------------------------------------------------------


class NodeView(_View):
    id: str
    hostname: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    roles: list[str]
    version: str
    leader: bool = Field(description="Holds the scheduler lease (fires schedules).")
    info: dict[str, JsonValue]


async def node_views(scheduler: Scheduler) -> list[NodeView]:
    nodes: list[Node] = await scheduler.store.list_nodes()
    lease = await scheduler.store.get_lease(LEASE_NAME)
    now = scheduler.clock.now()
    holder = lease.holder if lease is not None and lease.expires_at > now else None
    return [
        NodeView(
            id=n.id,
            hostname=n.hostname,
            pid=n.pid,
            started_at=n.started_at,
            heartbeat_at=n.heartbeat_at,
            roles=list(n.roles),
            version=n.version,
            leader=n.id == holder,
            info=to_json(n.info),
        )
        for n in nodes
    ]


class AuditView(_View):
    id: str
    at: datetime
    actor: str = Field(description="Who: a token name, a host user, or 'system'.")
    action: str = Field(description="What, e.g. schedule.put, schedule.pause, run.create.")
    target: str
    before: JsonValue = Field(description="The object before the change, if any.")
    after: JsonValue = Field(description="The object after the change, if any.")
    detail: str | None


def audit_view(event: AuditEvent) -> AuditView:
    return AuditView(
        id=event.id,
        at=event.at,
        actor=event.actor,
        action=event.action,
        target=event.target,
        before=to_json(event.before),
        after=to_json(event.after),
        detail=event.detail,
    )


class TokenView(_View):
    """An API token without its secret or hash."""

    id: str
    name: str
    role: str
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    revoked: bool


def token_view(token: ApiToken) -> TokenView:
    return TokenView(
        id=token.id,
        name=token.name,
        role=token.role,
        created_at=token.created_at,
        created_by=token.created_by,
        last_used_at=token.last_used_at,
        revoked=token.revoked,
    )
