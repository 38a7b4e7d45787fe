"""``schedkit schedule``, ``pause``, ``resume`` and ``next``: when tasks run."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from schedkit.calendars import CalendarSet, CalendarWarning
from schedkit.errors import CalendarNotFoundError, StoreError
from schedkit.models import OverlapPolicy
from schedkit.readmodels import ScheduleView, schedule_views
from schedkit.service.schedule_files import FORMATS, format_for, parse_schedule_file
from schedkit.triggers import ScheduleSpec, build_trigger, preview_upcoming
from schedkit.triggers.specs import MAX_INSTANCES, MAX_JITTER, MAX_RUNS

from . import next_note, render, words
from .errors import CommandFailed, UsageProblem, options_named
from .parsing import parse_duration, parse_params, read_text_file
from .render import visible
from .state import (
    CliState,
    JsonOpt,
    actor,
    get_state,
    management,
    require_existing_store,
    run_async,
    wants_json,
)
from .words import fill, tr

T = TypeVar("T")

#: Seconds ``schedkit next`` searches: a calendar excluding nearly every fire took minutes.
NEXT_BUDGET = 5.0

#: Warnings a command prints at most: an import of 100,000 one-offs already past their
#: grace would otherwise print 100,000 lines.
MAX_WARNINGS_SHOWN = 20


class ExecutorChoice(enum.StrEnum):
    """Where a schedule's runs execute (``ScheduleSpec.executor``)."""

    local = "local"
    celery = "celery"


def register(app: typer.Typer) -> None:
    app.command("schedule")(schedule)
    app.command("schedule-import", hidden=True)(import_schedules)
    app.command("pause")(pause)
    app.command("resume")(resume)
    app.command("next")(next_fires)


#: Interval units, largest first: ``--interval 90m`` is stored as ``{"minutes": 90}``.
_INTERVAL_UNITS = (("weeks", 604800), ("days", 86400), ("hours", 3600), ("minutes", 60))


def _spec(
    cron: str | None,
    interval: str | None,
    at: str | None,
    spec: str | None,
    tz: str | None,
) -> dict[str, Any]:
    """The schedule config the options describe (validated later by the façade)."""
    given = [
        name
        for name, value in (
            ("--cron", cron),
            ("--interval", interval),
            ("--at", at),
            ("--spec", spec),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise UsageProblem(
            "give exactly one of --cron, --interval, --at or --spec"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if spec is not None:
        try:
            loaded = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise UsageProblem(f"--spec: not valid JSON ({exc.msg})") from None
        if isinstance(loaded, str):
            loaded = {"trigger": {"trigger": "cron", "expression": loaded}}
        if not isinstance(loaded, dict):
            raise UsageProblem('--spec: must be a JSON object, e.g. {"trigger": "cron", "hour": 2}')
        if tz is not None:
            _set_trigger_field(loaded, "timezone", tz, replace=False)
        return loaded
    trigger: dict[str, Any]
    if cron is not None:
        trigger = {"trigger": "cron", "expression": cron}
    elif interval is not None:
        total = parse_duration(interval, "--interval").total_seconds()
        unit, size = next(
            ((u, n) for u, n in _INTERVAL_UNITS if total >= n and total % n == 0), ("seconds", 1)
        )
        amount = total / size
        trigger = {"trigger": "interval", unit: int(amount) if amount.is_integer() else amount}
    else:
        assert at is not None
        trigger = {"trigger": "date", "run_date": at}
    if tz is not None:
        trigger["timezone"] = tz
    return {"trigger": trigger}


def _set_trigger_field(
    config: dict[str, Any], key: str, value: Any, *, replace: bool = True
) -> None:
    """Set a trigger field in the nested form (``{"trigger": {...}}``) or the document's
    flat form (``{"trigger": "cron", "hour": 2}``, trigger fields at the top)."""
    target = config["trigger"] if isinstance(config.get("trigger"), dict) else config
    if replace or key not in target:
        target[key] = value


def schedule(
    ctx: typer.Context,
    task_name: Annotated[str, typer.Argument(metavar="TASK", help="Task name.")],
    cron: Annotated[
        str | None, typer.Option("--cron", metavar="EXPR", help='Crontab, e.g. "0 2 * * *".')
    ] = None,
    interval: Annotated[
        str | None, typer.Option("--interval", metavar="DURATION", help="Every 30m, 2h, 1d ...")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", metavar="DATETIME", help="Once, at an ISO date-time."),
    ] = None,
    spec: Annotated[
        str | None,
        typer.Option(
            "--spec", metavar="JSON", help='A full schedule: {"trigger": "cron", "hour": 2, ...}.'
        ),
    ] = None,
    tz: Annotated[
        str | None, typer.Option("--tz", metavar="ZONE", help="Time zone of the trigger.")
    ] = None,
    schedule_id: Annotated[
        str | None,
        typer.Option(
            "--id", metavar="ID", help="Schedule id (default: the task name, its main schedule)."
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="KEY=VALUE", help="Run parameter (repeatable)."),
    ] = None,
    calendar: Annotated[
        str | None,
        typer.Option(
            "--calendar",
            metavar="NAME",
            help="Fire only on the business calendar's run days (e.g. cn_workdays).",
        ),
    ] = None,
    jitter: Annotated[
        float | None,
        typer.Option(
            "--jitter",
            min=0,
            max=MAX_JITTER,
            metavar="SECONDS",
            help="Spread each fire over up to SECONDS.",
        ),
    ] = None,
    max_instances: Annotated[
        int | None,
        typer.Option(
            "--max-instances",
            min=1,
            max=MAX_INSTANCES,
            metavar="N",
            help="Active runs allowed at once.",
        ),
    ] = None,
    overlap: Annotated[
        OverlapPolicy | None, typer.Option("--overlap", help="When max_instances are active.")
    ] = None,
    misfire_grace: Annotated[
        float | None,
        typer.Option(
            # Above 0, as the schedule's rule (typer states only inclusive bounds).
            "--misfire-grace",
            metavar="SECONDS",
            help="Seconds a late fire may still run.  [x>0]",
        ),
    ] = None,
    run_timeout: Annotated[
        float | None,
        typer.Option("--timeout", metavar="SECONDS", help="Time limit per attempt.  [x>0]"),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            metavar="LABEL",
            help="A label a node must offer to run these runs (repeat; on top of the task's).",
        ),
    ] = None,
    max_runs: Annotated[
        int | None,
        typer.Option(
            "--max-runs", min=1, max=MAX_RUNS, metavar="N", help="End the schedule after N runs."
        ),
    ] = None,
    executor: Annotated[
        ExecutorChoice | None,
        typer.Option(
            "--executor",
            help="Where the runs execute: schedkit nodes or Celery workers (default: the "
            "task's choice).",
        ),
    ] = None,
    remove: Annotated[
        bool,
        typer.Option("--remove", help="Remove the schedule --id (or every schedule of the task)."),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Set when a task runs (replacing the schedule with the same id), or --remove it.

    The change is stored: a running service picks it up, and it survives restarts.
    Many schedules at once, from a JSON lines or CSV file: schedkit schedule import FILE.
    """
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    # Each schedule field these options set, with the option the user typed: errors the
    # schedule's rules raise name fields, and are shown with the option instead.
    policies: dict[str, tuple[str, Any]] = {
        "max_instances": ("--max-instances", max_instances),
        "overlap": ("--overlap", overlap.value if overlap is not None else None),
        "misfire_grace_time": ("--misfire-grace", misfire_grace),
        "timeout": ("--timeout", run_timeout),
        "labels": ("--label", label),
        "max_runs": ("--max-runs", max_runs),
        "executor": ("--executor", executor.value if executor is not None else None),
    }
    config: dict[str, Any] | None = None
    if not remove:
        config = _spec(cron, interval, at, spec, tz)
        if jitter is not None:
            _set_trigger_field(config, "jitter", jitter)
        if calendar is not None:
            _set_trigger_field(config, "calendar", calendar)
        config.update({k: v for k, (_, v) in policies.items() if v is not None})
    else:
        _check_removal(
            trigger=(cron, interval, at, spec),
            others={
                "--tz": tz,
                "-p/--param": param,
                "--jitter": jitter,
                "--calendar": calendar,
                **dict(policies.values()),
            },
        )
    typed = {
        **policies,
        "trigger.jitter": ("--jitter", jitter),
        "trigger.calendar": ("--calendar", calendar),
    }
    options = {field: option for field, (option, value) in typed.items() if value is not None}

    async def work() -> list[ScheduleView]:
        async with management(state) as s:
            task = s.get_task(task_name)
            if config is None:
                if schedule_id is not None:
                    await s.delete_schedule(schedule_id, task_name=task_name, actor=actor())
                else:
                    await s.remove_task(task_name, actor=actor())
                return []
            if param:
                config["kwargs"] = parse_params(param, None, task.parameters_schema())
            saved = await s.add_task(task_name, config, schedule_id=schedule_id, actor=actor())
            # Viewed while the store is open: the next run is the one its calendar allows.
            return await schedule_views(s, [saved], state.lang)

    with options_named(options):
        changed = _saying_warnings(state, work)
    lang = state.lang
    store = state.store_label()
    if remove:
        if as_json:
            render.emit_json({"store": store, "removed": schedule_id or task_name})
        else:
            if schedule_id:
                said = words.fill("removed schedule", lang, id=visible(schedule_id))
            else:
                said = words.fill("removed schedules", lang, task=visible(task_name))
            state.out.print(said)
            render.store_line(state.out, store, lang)
        return
    view = changed[0]
    if as_json:
        render.emit_json({"store": store, **view.model_dump(mode="json")})
        return
    said = words.fill(
        "scheduled",
        lang,
        task=visible(task_name),
        id=visible(view.id),
        description=visible(view.description),
        next=visible(render.next_run(view, lang)),
    )
    state.out.print(said + (f" ({tr('paused', lang)})" if view.paused else ""))
    render.store_line(state.out, store, lang)


def _check_removal(trigger: tuple[str | None, ...], others: dict[str, Any]) -> None:
    """``--remove`` with options that describe a schedule: the user meant something else."""
    if any(v is not None for v in trigger):
        raise UsageProblem("--remove takes no trigger option")
    given = [option for option, value in others.items() if value is not None]
    if given:
        raise UsageProblem(f"--remove takes no {', '.join(given)}: it only removes")


def import_schedules(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="JSON lines (.jsonl) or CSV (.csv).", exists=True, dir_okay=False
        ),
    ],
    fmt: Annotated[
        str | None,
        typer.Option("--format", metavar="FORMAT", help="jsonl or csv [default: by suffix]."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Create many schedules from a file, all or none.

    Every line is validated first; a file with bad lines is refused whole, each bad
    line named with its number. See docs/cli.md for the formats.
    """
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    chosen = fmt or format_for(file.name)
    if chosen not in FORMATS:
        raise UsageProblem(f"--format must be one of {', '.join(FORMATS)}, not {chosen!r}")
    entries = parse_schedule_file(read_text_file(file), chosen)

    async def work() -> int:
        async with management(state) as s:
            return len(await s.add_schedules(entries, actor=actor()))

    created = _saying_warnings(state, work)
    store = state.store_label()
    if as_json:
        render.emit_json({"store": store, "created": created, "file": str(file)})
        return
    state.out.print(words.fill("imported", state.lang, n=created, file=visible(file.name)))
    render.store_line(state.out, store, state.lang)


def _saying_warnings(state: CliState, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work``; the notes on the schedules it saves (a one-off already past its
    misfire grace, a fire recorded already ...) are said as the CLI's own warnings, in
    its words and language."""
    with state.schedule_notes() as warned:
        result = run_async(work())
    for found in warned[:MAX_WARNINGS_SHOWN]:
        text = render.schedule_note(found, state.lang)
        state.err.print(f"[yellow]{tr('warning', state.lang)}[/] {visible(text)}", soft_wrap=True)
    if len(warned) > MAX_WARNINGS_SHOWN:
        more = words.fill("more warnings", state.lang, n=len(warned) - MAX_WARNINGS_SHOWN)
        state.err.print(f"[yellow]{tr('warning', state.lang)}[/] {visible(more)}", soft_wrap=True)
    return result


def pause(
    ctx: typer.Context,
    task_name: Annotated[str, typer.Argument(metavar="TASK", help="Task name.")],
    note: Annotated[
        str | None, typer.Option("--note", metavar="TEXT", help="Why (shown to operators).")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Pause every schedule of a task (manual runs still work)."""
    _pause_or_resume(ctx, task_name, True, note, json_)


def resume(
    ctx: typer.Context,
    task_name: Annotated[str, typer.Argument(metavar="TASK", help="Task name.")],
    json_: JsonOpt = False,
) -> None:
    """Resume a paused task; its next fire is computed from now."""
    _pause_or_resume(ctx, task_name, False, None, json_)


def _pause_or_resume(
    ctx: typer.Context, task_name: str, paused: bool, note: str | None, json_: bool
) -> None:
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)

    async def work() -> list[ScheduleView]:
        async with management(state) as s:
            if paused:
                changed = await s.pause_task(task_name, note, actor=actor())
            else:
                changed = await s.resume_task(task_name, actor=actor())
            return await schedule_views(s, changed, state.lang)

    views = run_async(work())
    store = state.store_label()
    if as_json:
        render.emit_json({"store": store, "schedules": [v.model_dump(mode="json") for v in views]})
        return
    for v in views:
        if paused:
            said = words.fill("paused", state.lang, id=visible(v.id))
            state.out.print(said + (f": {visible(v.pause_note)}" if v.pause_note else ""))
        else:
            nxt = visible(render.next_run(v, state.lang))
            state.out.print(words.fill("resumed", state.lang, id=visible(v.id), next=nxt))
    render.store_line(state.out, store, state.lang)


def next_fires(
    ctx: typer.Context,
    expression: Annotated[
        str,
        typer.Argument(
            metavar="CRON",
            help='Crontab expression ("0 2 * * *") or a JSON schedule ({"trigger": ...}).',
        ),
    ],
    count: Annotated[
        int, typer.Option("-n", "--count", min=1, max=1000, metavar="N", help="How many.")
    ] = 5,
    tz: Annotated[
        str | None,
        typer.Option("--tz", metavar="ZONE", help="Time zone [default: the configured one]."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Preview a schedule's next fire times."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    zone = tz or state.config().timezone
    data: str | dict[str, Any] = expression
    if expression.lstrip().startswith("{"):
        try:
            data = json.loads(expression)
        except json.JSONDecodeError as exc:
            raise UsageProblem(f"not valid JSON ({exc.msg})") from None
    parsed = ScheduleSpec.parse(data, default_timezone=zone)
    calendar = parsed.trigger.calendar
    books = _stored_calendars(state, calendar.name) if calendar is not None else None
    try:
        found = preview_upcoming(
            parsed,
            count,
            default_timezone=zone,
            calendars=books,
            budget=NEXT_BUDGET,
            lang=state.lang,
        )
    except CalendarNotFoundError as exc:
        where = "the built-in calendars" if books is None else "the store's and built-in ones"
        raise UsageProblem(f"{exc}: `schedkit next` knows {where}") from None
    fires: list[datetime] = found.fires
    lang = state.lang
    notes = [d.reason(lang) if d is not None else None for d in found.decisions]
    description = build_trigger(parsed.trigger).describe(lang)
    if as_json:
        render.emit_json(
            {
                "description": description,
                "timezone": parsed.trigger.timezone,
                "fires": [f.isoformat() for f in fires],
                "complete": found.complete,
                "stopped": found.stopped,
                "searched_to": None if found.searched_to is None else str(found.searched_to),
                "calendar_closed_from": (
                    None if found.closed_from is None else str(found.closed_from)
                ),
                "calendar_notes": notes,
                "calendar_warnings": [w.title(lang) for w in found.warnings],
            }
        )
        return
    state.out.print(visible(description))
    for i, (fire, note) in enumerate(zip(fires, notes, strict=True), 1):
        day = "周" + "一二三四五六日"[fire.weekday()] if lang == "zh" else fire.strftime("%a")
        local = f"{fire:%Y-%m-%d %H:%M:%S} {day}"
        extra = f"  {visible(note)}" if note else ""
        state.out.print(f"{i:>3}. {local} [dim]{fire.isoformat()}[/]{extra}")
    name = None if calendar is None else calendar.name
    said = next_note.note(found, count, calendar=name, budget=NEXT_BUDGET, lang=lang)
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


def _stored_calendars(state: CliState, name: str) -> CalendarSet | None:
    """Calendar ``name`` as the store has it (with the holiday notices operators entered,
    which decide a Chinese calendar's days for the running schedules too); None, for the
    built-in calendars, when there is no store or it cannot be read (said on stderr)."""
    try:
        require_existing_store(state)
    except CommandFailed:
        return None

    async def read() -> CalendarSet:
        async with management(state, read_only=True) as s:
            return await s.calendars.snapshot([name])

    try:
        return run_async(read())
    except StoreError as exc:
        state.err.print(
            f"[yellow]note:[/] the store cannot be read ({visible(str(exc))}): "
            "built-in calendars only, without the notices entered there",
            soft_wrap=True,
        )
        return None
