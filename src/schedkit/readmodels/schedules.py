"""Schedules as the console and the CLI show them: in words, in local time, with their
upcoming fires (one preview implementation: :func:`schedkit.triggers.upcoming`).

A schedule's next fire as shown is the next one its business calendar allows
(:mod:`schedkit.service.next_fires`), not the nominal fire the engine stores, which
would contradict the preview.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from pydantic import Field, JsonValue

from schedkit.calendars import CalendarSet, CalendarWarning
from schedkit.errors import CalendarNotFoundError, ValidationError
from schedkit.models import OverlapPolicy, Schedule, to_json
from schedkit.readmodels.common import Lang, View, local
from schedkit.redaction import redact, redact_kwargs, secret_parameters
from schedkit.service import Scheduler
from schedkit.service.fire_searches import FoundFires, search_upcoming
from schedkit.service.series import EndReason, ended_by, kept_series
from schedkit.triggers import (
    AllowedFire,
    Blocked,
    build_trigger,
    trigger_from_json,
    upcoming,
)
from schedkit.triggers.upcoming import PREVIEW_BUDGET

__all__ = [
    "CalendarWarningView",
    "SchedulePreview",
    "ScheduleView",
    "TaskUpcoming",
    "UpcomingFire",
    "calendar_warning_view",
    "fires_by_task",
    "schedule_page",
    "schedule_preview",
    "schedule_view",
    "schedule_views",
    "soonest_fires",
    "stored_preview",
    "stored_window",
    "upcoming_by_task",
    "upcoming_fires",
]


#: ``next_fire_note`` by why there is no allowed fire ("closed_until": CLOSED with a day).
_NOTES: dict[str, dict[Lang, str]] = {
    Blocked.MISSING: {
        "en": "calendar {name} does not exist: every fire is recorded skipped until it is created",
        "zh": "日历 {name} 不存在：在创建它之前，每次触发都记为跳过",
    },
    Blocked.CLOSED: {
        "en": "calendar {name} allows none of its remaining fires",
        "zh": "日历 {name} 不允许其余任何一次触发",
    },
    "closed_until": {
        "en": "calendar {name} allows none of its fires until {day}",
        "zh": "日历 {name} 在 {day} 之前不允许任何一次触发",
    },
    Blocked.UNSEARCHED: {
        "en": "not looked up: this request's time for calendar searches ran out (calendar {name})",
        "zh": "未查找：本次请求查找日历 {name} 允许的触发时间已超时",
    },
}


class ScheduleView(View):
    """A stored schedule, with its text in the reader's language."""

    id: str
    task_name: str
    trigger: dict[str, JsonValue] = Field(description="The validated trigger spec, as stored.")
    description: str = Field(description="The schedule in words, in the request's language.")
    timezone: str = Field(description="IANA zone the trigger is evaluated in.")
    kwargs: dict[str, JsonValue] = Field(
        description="The task's parameters, redacted: the value of a key that names a "
        "secret (db_password, apiKey...) is '***', credentials in strings are masked. "
        "Sent back unchanged in a schedule write, a masked value keeps the stored one."
    )
    misfire_grace_time: float | None
    coalesce: bool
    max_instances: int
    overlap: OverlapPolicy
    timeout: float | None
    labels: list[str] = Field(description="Labels its runs require on top of the task's.")
    executor: str | None = Field(
        description="Where its runs execute ('local' or 'celery'); null: where the task says."
    )
    paused: bool
    pause_note: str | None = Field(description="Why it is paused, credentials masked.")
    origin: str = Field(description="'code' (the task's default) or 'runtime' (set by a user).")
    stored: bool = Field(
        description="False for a task's default schedule no node stored yet, shown as a "
        "node's start will store it (its next fire from now). Only what writes nothing "
        "shows one (the CLI's read commands); a node stores them when it starts."
    )
    max_runs: int | None = Field(description="Ends after this many runs (null: no limit).")
    run_count: int = Field(description="Runs its fires started (what max_runs counts).")
    ended: EndReason | None = Field(
        description="Why it fires no more: 'max_runs', 'end_date' (the trigger's), or "
        "'last_fire' (a one-off date fired); null while it has a next fire."
    )
    next_fire_time: datetime | None = Field(
        description="The next fire its business calendar allows (without a calendar: the "
        "trigger's next fire), UTC; null when paused, ended, or when the calendar allows "
        "none (next_fire_note says why). A fire of the trigger on a day the calendar "
        "excludes does not run: it is recorded as a skipped run."
    )
    next_fire_time_local: datetime | None = Field(description="The same, in the configured zone.")
    next_fire_note: str | None = Field(
        default=None,
        description="Why a schedule neither paused nor ended has no next_fire_time: its "
        "calendar does not exist (every fire is recorded skipped), allows none of its fires "
        "within two years or before the trigger ends, or was not looked up (the request's "
        "time for calendar searches ran out). In the request's language.",
    )
    last_fire_time: datetime | None
    last_fire_time_local: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


async def schedule_views(
    scheduler: Scheduler,
    schedules: Sequence[Schedule],
    lang: Lang = "en",
    *,
    unstored: Collection[str] = (),
) -> list[ScheduleView]:
    """Views of ``schedules``, each with the next fire its calendar allows
    (:meth:`Scheduler.allowed_fires`: the store's calendars read once for all of them);
    ``unstored``: the ids of those that are default schedules no node stored yet."""
    allowed = await scheduler.allowed_fires(schedules)
    return [
        schedule_view(
            s, scheduler.tz, lang, next_fire=allowed.get(s.id), stored=s.id not in unstored
        )
        for s in schedules
    ]


async def schedule_page(
    scheduler: Scheduler, task_name: str | None, limit: int, offset: int, lang: Lang = "en"
) -> tuple[list[ScheduleView], int]:
    """A page of the schedules (of one task if given) and how many there are: the default
    schedules no node stored yet first (:meth:`Scheduler.pending_defaults`), by task
    name, then the stored ones in id order."""
    task = None if task_name is None else scheduler.find_task(task_name)
    tasks = scheduler.list_tasks() if task_name is None else [task] if task is not None else []
    pending = sorted(await scheduler.pending_defaults(tasks), key=lambda s: s.id)
    start, room = stored_window(offset, limit, len(pending))
    stored = await scheduler.list_schedules(task_name, limit=room, offset=start) if room else []
    total = len(pending) + await scheduler.count_schedules(task_name)
    shown = pending[offset : offset + limit]
    unstored = {s.id for s in shown}
    return await schedule_views(scheduler, [*shown, *stored], lang, unstored=unstored), total


def stored_window(offset: int, limit: int, ahead: int) -> tuple[int, int]:
    """Where the page from ``offset`` of ``limit`` of a list of ``ahead`` schedules not
    stored, then the stored ones, takes its stored ones: (their offset, how many)."""
    start = max(offset - ahead, 0)
    return start, max(offset + limit - ahead - start, 0)


def schedule_view(
    schedule: Schedule,
    tz: tzinfo,
    lang: Lang = "en",
    *,
    next_fire: AllowedFire | None,
    stored: bool = True,
) -> ScheduleView:
    """The view of ``schedule``; ``next_fire`` is its entry of ``Scheduler.allowed_fires``
    (None: no next fire, as for a paused or ended schedule); ``stored``: False for a
    default schedule no node stored yet."""
    default_zone = str(tz)
    calendar = None
    try:
        trigger = trigger_from_json(schedule.trigger, default_timezone=default_zone)
        text = trigger.describe(lang)
        calendar = trigger.calendar
    except Exception:  # a stored trigger the current code cannot read: show it raw
        text = str(schedule.trigger)
    fire = next_fire.fire if next_fire is not None else None
    note = None
    if next_fire is not None and next_fire.blocked is not None and calendar is not None:
        key = "closed_until" if next_fire.until is not None else next_fire.blocked
        note = _NOTES[key][lang].format(name=calendar.name, day=next_fire.until)
    return ScheduleView(
        id=schedule.id,
        task_name=schedule.task_name,
        trigger=schedule.trigger,
        description=text,
        timezone=str(schedule.trigger.get("timezone") or default_zone),
        kwargs=redact_kwargs(to_json(schedule.kwargs), secret_parameters(schedule.task_name)),
        misfire_grace_time=schedule.misfire_grace_time,
        coalesce=schedule.coalesce,
        max_instances=schedule.max_instances,
        overlap=schedule.overlap,
        timeout=schedule.timeout,
        labels=list(schedule.labels),
        executor=schedule.executor,
        paused=schedule.paused,
        pause_note=redact(schedule.pause_note) if schedule.pause_note else schedule.pause_note,
        origin=schedule.origin,
        stored=stored,
        max_runs=schedule.max_runs,
        run_count=schedule.run_count,
        ended=ended_by(schedule),
        next_fire_time=fire,
        next_fire_time_local=local(fire, tz),
        next_fire_note=note,
        last_fire_time=schedule.last_fire_time,
        last_fire_time_local=local(schedule.last_fire_time, tz),
        version=schedule.version,
        created_at=schedule.created_at,
        updated_at=schedule.updated_at,
    )


class UpcomingFire(View):
    schedule_id: str
    task_name: str
    fire_time: datetime
    fire_time_local: datetime


class TaskUpcoming(View):
    """What fires next for one task: the next fire of each of its unpaused schedules."""

    task_name: str
    fires: list[UpcomingFire] = Field(description="One per schedule, earliest first.")


def _fire(at: datetime, schedule_id: str, task_name: str, tz: tzinfo) -> UpcomingFire:
    return UpcomingFire(
        schedule_id=schedule_id,
        task_name=task_name,
        fire_time=at,
        fire_time_local=at.astimezone(tz),
    )


def soonest_fires(
    schedules: Sequence[Schedule], found: FoundFires, tz: tzinfo, limit: int = 10
) -> list[UpcomingFire]:
    """The first ``limit`` of the fires ``found`` for ``schedules``, earliest first."""
    fires = [(at, s.id, s.task_name) for s in schedules for at in found.fires.get(s.id, ())]
    return [_fire(at, sid, name, tz) for at, sid, name in heapq.nsmallest(limit, fires)]


def fires_by_task(
    schedules: Sequence[Schedule], found: FoundFires, tz: tzinfo, limit: int = 10
) -> list[TaskUpcoming]:
    """The ``limit`` tasks that fire soonest by the fires ``found``, each with the next
    fire of every schedule of it: a schedule firing every minute cannot hide the daily
    ones."""
    firsts = [(f[0], s.id, s.task_name) for s in schedules if (f := found.fires.get(s.id))]
    by_task: dict[str, list[UpcomingFire]] = {}
    for at, sid, name in sorted(firsts):
        by_task.setdefault(name, []).append(_fire(at, sid, name, tz))
    ordered = sorted(by_task.items(), key=lambda item: (item[1][0].fire_time, item[0]))
    return [TaskUpcoming(task_name=name, fires=fires) for name, fires in ordered[:limit]]


def upcoming_fires(
    schedules: Iterable[Schedule],
    tz: tzinfo,
    limit: int = 10,
    calendars: CalendarSet | None = None,
) -> list[UpcomingFire]:
    """The next ``limit`` nominal fires of the unpaused ``schedules``, earliest first
    (business calendars judged by ``calendars``, default the built-in ones), searched
    here within :data:`PREVIEW_BUDGET` (the API's share theirs: ``scheduler.fire_searches``)."""
    listed = list(schedules)
    return soonest_fires(listed, search_upcoming(listed, tz, limit, calendars), tz, limit)


def upcoming_by_task(
    schedules: Iterable[Schedule],
    tz: tzinfo,
    limit: int = 10,
    calendars: CalendarSet | None = None,
) -> list[TaskUpcoming]:
    """:func:`fires_by_task` of the next fire of each of ``schedules``, searched here."""
    listed = list(schedules)
    return fires_by_task(listed, search_upcoming(listed, tz, 1, calendars), tz, limit)


class CalendarWarningView(View):
    """A year of a business calendar no source confirms, or a calendar that is missing."""

    code: str = Field(
        description="calendar_year_estimated, calendar_year_uncovered or calendar_missing."
    )
    calendar: str
    year: int | None
    state: str = Field(description="estimated or uncovered.")
    source: str = Field(description="The layer deciding the year's days now.")
    title: str = Field(
        description='Short form, e.g. "calendar cn_workdays for 2027 not confirmed".'
    )
    message: str = Field(description="What decides the days now and what to do.")


def calendar_warning_view(warning: CalendarWarning, lang: Lang = "en") -> CalendarWarningView:
    return CalendarWarningView(
        code=warning.code.value,
        calendar=warning.calendar,
        year=warning.year,
        state=warning.state.value,
        source=warning.source.value,
        title=warning.title(lang),
        message=warning.message(lang),
    )


class SchedulePreview(View):
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
    calendar_notes: list[str | None] = Field(
        default_factory=list,
        description="Per fire, the business calendar's decision: the source that said the "
        "day is open and whether that is confirmed (null without a calendar).",
    )
    calendar_warnings: list[CalendarWarningView] = Field(
        default_factory=list,
        description="Years of the schedule's calendar up to its last fire shown that no "
        "source confirms.",
    )


async def stored_preview(
    scheduler: Scheduler,
    config: Any,
    count: int = 5,
    lang: Lang = "en",
    *,
    first: datetime | None = None,
    schedule_id: str | None = None,
    spent: Callable[[float], None] | None = None,
) -> SchedulePreview:
    """:func:`schedule_preview` against the calendars stored now (read first), run off
    the event loop. ``schedule_id``: the saved schedule ``config`` would replace; with
    its trigger unchanged (and not paused) saving keeps its series, so the fires listed
    continue from its stored next fire, as they will be. ``spent``: told the CPU
    seconds the search took, whatever its outcome (what a caller is charged)."""
    spec = scheduler.parse_schedule(config)
    if first is None and schedule_id is not None:
        saved = await scheduler.get_schedule(schedule_id)
        first = kept_series(saved, spec.to_json()["trigger"])
    # Refused as saving refuses it: the same words, close names suggested.
    await scheduler.calendars.require(spec.trigger)
    ref = spec.trigger.calendar
    calendars = await scheduler.calendars.snapshot([ref.name] if ref is not None else [])

    def search() -> SchedulePreview:
        started = time.thread_time()
        try:
            return schedule_preview(scheduler, config, count, lang, calendars, first=first)
        finally:
            if spent is not None:
                spent(time.thread_time() - started)

    return await asyncio.to_thread(search)


def schedule_preview(
    scheduler: Scheduler,
    config: Any,
    count: int = 5,
    lang: Lang = "en",
    calendars: CalendarSet | None = None,
    *,
    first: datetime | None = None,
) -> SchedulePreview:
    """Validate ``config`` (ValidationError naming the field) and list its next ``count``
    fires, searching at most :data:`PREVIEW_BUDGET` seconds, business calendars judged
    by ``calendars`` (default the built-in ones). A schedule whose first fire is past
    the supported dates is a ValidationError naming its field, an unknown calendar one
    on ``trigger.calendar``. ``first``: the saved schedule's next fire, which the list
    continues from (computed again from now, the series could start elsewhere: an
    interval's anchor, a jittered fire, a fire due while it was saved)."""
    spec = scheduler.parse_schedule(config)
    trigger = build_trigger(spec.trigger, default_timezone=str(scheduler.tz))
    try:
        found = upcoming(
            trigger,
            count,
            scheduler.clock.now(),
            first=first,
            calendars=calendars,
            budget=PREVIEW_BUDGET,
            lang=lang,
        )
    except CalendarNotFoundError as exc:
        raise ValidationError(str(exc), field="trigger.calendar") from None
    return SchedulePreview(
        spec=spec.to_json(),
        description=trigger.describe(lang),
        timezone=str(trigger.timezone),
        fire_times=[f.astimezone(UTC) for f in found.fires],
        fire_times_local=[f.astimezone(trigger.timezone) for f in found.fires],
        complete=found.complete,
        calendar_notes=[d.reason(lang) if d is not None else None for d in found.decisions],
        calendar_warnings=[calendar_warning_view(w, lang) for w in found.warnings],
    )
