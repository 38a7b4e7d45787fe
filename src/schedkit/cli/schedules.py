"""``schedkit schedule``, ``pause`` and ``resume``: when tasks run (``next`` previews
fires: :mod:`.next_fires`)."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from schedkit.models import OverlapPolicy
from schedkit.readmodels import ScheduleView, schedule_views
from schedkit.service.schedule_files import FORMATS, format_for, parse_schedule_file
from schedkit.triggers.specs import MAX_INSTANCES, MAX_JITTER, MAX_RUNS

from . import render, words
from .errors import UsageProblem, options_named
from .parsing import parse_duration, parse_params, read_text_file
from .render import visible
from .schedule_export import import_new, say_unchanged
from .state import (
    CliState,
    JsonOpt,
    actor,
    get_state,
    management,
    run_async,
    wants_json,
)
from .words import tr

T = TypeVar("T")

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
            # Removed without the task: its code may be gone already (a schedule left
            # behind fires `skipped` for good, and only this command removes it).
            if config is None:
                if schedule_id is not None:
                    await s.delete_schedule(schedule_id, task_name=task_name, actor=actor())
                elif not await s.remove_task(task_name, actor=actor()):
                    s.get_task(task_name)  # nothing stored and not registered: a typo
                return []
            task = s.get_task(task_name)
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

    async def work() -> tuple[int, list[str]]:
        async with management(state, defaults=False) as s:
            return await import_new(s, entries)

    created, unchanged = _saying_warnings(state, work)
    store = state.store_label()
    if as_json:
        render.emit_json(
            {"store": store, "created": created, "unchanged": unchanged, "file": str(file)}
        )
        return
    state.out.print(words.fill("imported", state.lang, n=created, file=visible(file.name)))
    say_unchanged(state, unchanged)
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
