"""``schedkit next``: the next fire times of a crontab expression or a JSON schedule, or of
the schedules a name stands for — a task's (those stored, and its default schedule while
no node stored it yet) or one stored schedule by its id.

A name was read as a crontab expression of one field (an audit: ``schedkit next
workday_report`` was "wrong number of fields: 1"), though the command table promises
any schedule's fires. A crontab expression has fields separated by spaces or is a macro
(``@daily``), a JSON schedule starts with ``{``, and a task name or a schedule id is one
word that starts with a letter or digit: each is told from the others by its form.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import typer

from schedkit._suggest import close_names, did_you_mean
from schedkit.calendars import CalendarSet, CalendarWarning
from schedkit.errors import CalendarNotFoundError, StoreError, ValidationError
from schedkit.models import JSON, Schedule, utcnow
from schedkit.registry import TaskRegistry
from schedkit.service import Scheduler
from schedkit.service.pending_defaults import default_trigger
from schedkit.triggers import ScheduleSpec, Trigger, build_trigger, upcoming
from schedkit.triggers.upcoming import Upcoming

from . import next_note, render
from .errors import CommandFailed, UsageProblem
from .render import visible
from .state import (
    CliState,
    JsonOpt,
    get_state,
    management,
    require_existing_store,
    run_async,
    wants_json,
)
from .words import Lang, fill, tr

#: Seconds ``schedkit next`` searches (the schedules of a name share them): a calendar
#: excluding nearly every fire took minutes.
NEXT_BUDGET = 5.0

#: Schedules of one task ``schedkit next TASK`` lists at most, in id order.
MAX_SCHEDULES = 20

ACCEPTED = (
    'a crontab expression ("0 9 * * 1-5": 5 fields, or 6 with a leading seconds field), '
    'a JSON schedule (\'{"trigger": "cron", ...}\'), a task name (its schedules) or a '
    "schedule id"
)


def register(app: typer.Typer) -> None:
    app.command("next")(next_fires)


@dataclass(frozen=True, kw_only=True, slots=True)
class Source:
    """What one list of fires is of: the argument's spec, or a schedule a name stands for."""

    trigger: Trigger
    #: The schedule's id and task; None for a crontab expression or a JSON schedule.
    schedule_id: str | None = None
    task: str | None = None
    #: False for a task's default schedule that no node stored yet.
    stored: bool = False
    paused: bool = False
    #: Where a stored schedule's series goes on from (its next fire as stored); None: the
    #: trigger's first fire from now (a paused schedule resumes from now).
    first: datetime | None = None
    #: Fires it may still start (max_runs); 0 for an ended schedule, None without limit.
    runs_left: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Named:
    """The schedules a name stands for (the first :data:`MAX_SCHEDULES`) and how many."""

    sources: list[Source]
    total: int
    calendars: CalendarSet | None
    #: False when no store exists: the tasks' code alone, the built-in calendars.
    from_store: bool = True


def next_fires(
    ctx: typer.Context,
    expression: Annotated[
        str,
        typer.Argument(
            metavar="SCHEDULE",
            help='Crontab expression ("0 2 * * *"), JSON schedule ({"trigger": ...}), task '
            "name (its schedules) or schedule id.",
        ),
    ],
    count: Annotated[
        int, typer.Option("-n", "--count", min=1, max=1000, metavar="N", help="How many.")
    ] = 5,
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz",
            metavar="ZONE",
            help="Time zone of a crontab or JSON schedule [default: the configured one].",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Preview the next fire times of a schedule, or of a task's schedules."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    if not _is_name(expression):
        _preview_spec(state, expression, count, tz or state.config().timezone, as_json)
        return
    if tz is not None:
        raise UsageProblem(
            "--tz is the zone of a crontab expression or a JSON schedule; a task's or a "
            "stored schedule's fires are in the schedule's own zone"
        )
    _preview_named(state, expression, count, as_json)


def _preview_named(state: CliState, name: str, count: int, as_json: bool) -> None:
    named = _named(state, name)
    budget = NEXT_BUDGET / max(len(named.sources), 1)
    listed = [(s, *_search(s, count, named.calendars, budget, state.lang)) for s in named.sources]
    if as_json:
        render.emit_json(
            {
                "store": state.store_label() if named.from_store else None,
                "schedule_count": named.total,
                "schedules": [
                    {
                        "id": s.schedule_id,
                        "task": s.task,
                        "stored": s.stored,
                        "paused": s.paused,
                        **_as_json(s, found, state.lang),
                        "problem": problem,
                    }
                    for s, found, problem in listed
                ],
            }
        )
        return
    if not listed:
        state.out.print(visible(fill("next none", state.lang, task=name)))
    for i, (source, found, problem) in enumerate(listed):
        if i:
            state.out.print()
        state.out.print(visible(_heading(source, state)))
        if problem is not None:
            state.out.print(f"[yellow]{tr('warning', state.lang)}[/] {visible(problem)}")
            continue
        _print(state, source, found, count, budget)
    if named.total > len(named.sources):
        shown, total = len(named.sources), f"{named.total:,}"
        state.out.print(fill("schedules shown", state.lang, shown=shown, total=total))
    if named.from_store:
        render.store_line(state.out, state.store_label(), state.lang)


def _is_name(expression: str) -> bool:
    """A task name or a schedule id: one word starting with a letter or a digit (a
    crontab expression has fields, or is a macro such as ``@daily``)."""
    text = expression.strip()
    return bool(text) and text[0].isalnum() and not any(c.isspace() for c in text)


def _preview_spec(state: CliState, expression: str, count: int, zone: str, as_json: bool) -> None:
    data: str | dict[str, Any] = expression
    if expression.lstrip().startswith("{"):
        try:
            data = json.loads(expression)
        except json.JSONDecodeError as exc:
            raise UsageProblem(f"not valid JSON ({exc.msg})") from None
    parsed = ScheduleSpec.parse(data, default_timezone=zone)
    source = Source(trigger=build_trigger(parsed.trigger, default_timezone=zone))
    calendar = parsed.trigger.calendar
    books = _stored_calendars(state, [calendar.name]) if calendar is not None else None
    try:
        found = _upcoming(source, count, books, NEXT_BUDGET, state.lang)
    except CalendarNotFoundError as exc:
        where = "the built-in calendars" if books is None else "the store's and built-in ones"
        raise UsageProblem(f"{exc}: `schedkit next` knows {where}") from None
    if as_json:
        render.emit_json(_as_json(source, found, state.lang))
        return
    _print(state, source, found, count, NEXT_BUDGET)


def _upcoming(
    source: Source, count: int, books: CalendarSet | None, budget: float, lang: str
) -> Upcoming:
    """The source's next fires from now, in its trigger's zone."""
    wanted = count if source.runs_left is None else min(count, source.runs_left)
    if wanted == 0:
        return Upcoming(fires=[], complete=True)
    trigger = source.trigger
    found = upcoming(
        trigger, wanted, utcnow(), first=source.first, calendars=books, budget=budget, lang=lang
    )
    return dataclasses.replace(
        found, fires=[fire.astimezone(trigger.timezone) for fire in found.fires]
    )


def _search(
    source: Source, count: int, books: CalendarSet | None, budget: float, lang: str
) -> tuple[Upcoming, str | None]:
    """:func:`_upcoming`, or no fire and why: one schedule naming a calendar that does not
    exist (or never firing) does not hide the others of its task."""
    try:
        return _upcoming(source, count, books, budget, lang), None
    except (CalendarNotFoundError, ValidationError) as exc:
        return Upcoming(fires=[], complete=True), str(exc)


def _as_json(source: Source, found: Upcoming, lang: Lang) -> dict[str, Any]:
    return {
        "description": source.trigger.describe(lang),
        "timezone": str(source.trigger.timezone),
        "fires": [f.isoformat() for f in found.fires],
        "complete": found.complete,
        "stopped": found.stopped,
        "searched_to": None if found.searched_to is None else str(found.searched_to),
        "calendar_closed_from": None if found.closed_from is None else str(found.closed_from),
        "calendar_notes": [d.reason(lang) if d is not None else None for d in found.decisions],
        "calendar_warnings": [w.title(lang) for w in found.warnings],
    }


def _heading(source: Source, state: CliState) -> str:
    task, lang = source.task or "", state.lang
    if not source.stored:
        return fill("next default", lang, task=task)
    said = fill("next schedule", lang, id=source.schedule_id or "", task=task)
    return said + (fill("next paused", lang) if source.paused else "")


def _print(state: CliState, source: Source, found: Upcoming, count: int, budget: float) -> None:
    lang = state.lang
    state.out.print(visible(source.trigger.describe(lang)))
    notes = [d.reason(lang) if d is not None else None for d in found.decisions]
    for i, (fire, note) in enumerate(zip(found.fires, notes, strict=True), 1):
        day = "周" + "一二三四五六日"[fire.weekday()] if lang == "zh" else fire.strftime("%a")
        local = f"{fire:%Y-%m-%d %H:%M:%S} {day}"
        extra = f"  {visible(note)}" if note else ""
        state.out.print(f"{i:>3}. {local} [dim]{fire.isoformat()}[/]{extra}")
    ref = source.trigger.calendar
    name = None if ref is None else ref.name
    said = next_note.note(found, count, calendar=name, budget=budget, lang=lang)
    if said is not None:
        state.out.print(visible(said))
    for warning, years in _year_runs(found.warnings):
        text = warning.message(lang)
        if len(years) > 1:
            text += fill("same to year", lang, last=years[-1], n=len(years))
        state.out.print(f"[yellow]{tr('warning', lang)}[/] {visible(text)}")


def _year_runs(
    warnings: Sequence[CalendarWarning],
) -> list[tuple[CalendarWarning, list[int | None]]]:
    """``warnings`` with those of consecutive years of one calendar, state and source
    said once: a preview reaching centuries ahead listed 525 years one by one."""
    runs: list[tuple[CalendarWarning, list[int | None]]] = []
    for w in warnings:
        if runs:
            first, years = runs[-1]
            last = years[-1]
            same = (first.calendar, first.code, first.source) == (w.calendar, w.code, w.source)
            if same and last is not None and w.year == last + 1:
                years.append(w.year)
                continue
        runs.append((w, [w.year]))
    return runs


def _stored_calendars(state: CliState, names: list[str]) -> CalendarSet | None:
    """Calendars ``names`` as the store has them (with the holiday notices operators
    entered, which decide a Chinese calendar's days for the running schedules too); None,
    for the built-in calendars, when there is no store or it cannot be read (said on
    stderr)."""
    try:
        require_existing_store(state)
    except CommandFailed:
        return None

    async def read() -> CalendarSet:
        async with management(state, read_only=True) as s:
            return await s.calendars.snapshot(names)

    try:
        return run_async(read())
    except StoreError as exc:
        state.err.print(
            f"[yellow]note:[/] the store cannot be read ({visible(str(exc))}): "
            "built-in calendars only, without the notices entered there",
            soft_wrap=True,
        )
        return None


# -- a name: a task's schedules, or a stored schedule --------------------------------------


def _named(state: CliState, name: str) -> Named:
    """The schedules ``name`` stands for: from the store when it exists (read only), else
    the task's default schedule against the built-in calendars; UsageProblem for a name
    that is neither a task nor a stored schedule."""
    try:
        require_existing_store(state)
    except CommandFailed:
        return _from_code(state, name)

    async def read() -> Named:
        async with management(state, read_only=True) as s:
            found = await _from_store(s, name)
            refs = (source.trigger.calendar for source in found.sources)
            books = await s.calendars.snapshot({ref.name for ref in refs if ref is not None})
            return Named(sources=found.sources, total=found.total, calendars=books)

    return run_async(read())


async def _from_store(s: Scheduler, name: str) -> Named:
    task = s.find_task(name)
    zone = str(s.tz)
    if task is None:
        schedule = await s.get_schedule(name)
        if schedule is None:
            raise _unknown(name, s.registry, store=True)
        return Named(sources=[_stored(schedule, zone)], total=1, calendars=None)
    stored = await s.list_schedules(name, limit=MAX_SCHEDULES)
    total = await s.count_schedules(name)
    sources = [_stored(schedule, zone) for schedule in stored]
    default = await s.schedules.pending_default(task)
    if default is not None:
        sources.insert(0, _default(task.task_name, default, zone))
        total += 1
    return Named(sources=sources, total=total, calendars=None)


def _from_code(state: CliState, name: str) -> Named:
    """Without a store: the task's default schedule, which a node's start will store."""
    config = state.config()
    registry = TaskRegistry()
    registry.discover(config.task_packages)
    if config.entry_points:
        registry.discover_entry_points()
    task = registry.get_task(name)
    if task is None:
        raise _unknown(name, registry, store=False)
    trigger = default_trigger(task, config.timezone)
    sources = [] if trigger is None else [_default(name, trigger, config.timezone)]
    return Named(sources=sources, total=len(sources), calendars=None, from_store=False)


def _stored(schedule: Schedule, zone: str) -> Source:
    left = schedule.runs_left
    ended = schedule.next_fire_time is None and not schedule.paused
    return Source(
        trigger=build_trigger(schedule.trigger, default_timezone=zone),
        schedule_id=schedule.id,
        task=schedule.task_name,
        stored=True,
        paused=schedule.paused,
        first=None if schedule.paused else schedule.next_fire_time,
        runs_left=0 if ended else left,
    )


def _default(task: str, trigger: JSON, zone: str) -> Source:
    return Source(
        trigger=build_trigger(trigger, default_timezone=zone), schedule_id=task, task=task
    )


def _unknown(name: str, registry: TaskRegistry, *, store: bool) -> UsageProblem:
    close = close_names(name, [t.task_name for t in registry], cutoff=0.75)
    hint = f" ({did_you_mean(close)})" if close else ""
    what = "a task or a stored schedule" if store else "a task (no store: no stored schedule)"
    return UsageProblem(f"{name!r} is not {what}{hint}: `schedkit next` takes {ACCEPTED}")
