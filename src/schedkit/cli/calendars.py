"""``schedkit calendar …``: business calendars in the store — list, show a year, create,
overrides, confirm a year, import and export files, the State Council notice, warnings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from schedkit import readmodels
from schedkit.calendars import MAX_FILE_CHARS, Format, StoredCalendar, format_for
from schedkit.calendars.model import MAX_YEAR, MIN_YEAR
from schedkit.errors import NoticeMissesFestivalsError, ValidationError
from schedkit.service import Scheduler

from . import render, words
from .errors import CommandFailed
from .parsing import read_text_file
from .render import visible
from .state import CliState, JsonOpt, actor, get_state, management, run_async, wants_json
from .words import tr

calendar_app = typer.Typer(
    help="Business calendars: workdays, holidays, trading days (docs/calendars.md).",
    no_args_is_help=True,
)
override_app = typer.Typer(help="Dated overrides of a calendar.", no_args_is_help=True)
calendar_app.add_typer(override_app, name="override")

T = TypeVar("T")
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Calendar name, e.g. cn_workdays.")]
#: For confirming a year: a calendar entered whole, never a Chinese one (the notice is).
ConfirmNameArg = Annotated[
    str, typer.Argument(metavar="NAME", help="Calendar name, e.g. sd-spot (not a Chinese one).")
]
FormatOpt = Annotated[
    str | None,
    typer.Option("--format", "-f", help="csv, jsonl or notice [default: from the file name]."),
]
#: A year of a calendar: the years calendars know (the API's bounds too).
YEAR_RANGE: dict[str, Any] = {"min": MIN_YEAR, "max": MAX_YEAR}
_WEEKDAYS = {"en": "Mo Tu We Th Fr Sa Su", "zh": "一 二 三 四 五 六 日"}


def register(app: typer.Typer) -> None:
    app.add_typer(calendar_app, name="calendar")


def _with(state: CliState, work: Callable[[Scheduler], Awaitable[T]], read: bool = False) -> T:
    async def run() -> T:
        # A read stores no default schedule: the calendars show none, and the warnings
        # count the unstored ones (`calendar warnings` wrote them, audited as 系统).
        async with management(state, read_only=read) as scheduler:
            return await work(scheduler)

    return run_async(run())


def _format(value: str | None, file: Path | None) -> Format:
    if value is None:
        if file is None:
            return "csv"
        return format_for(file.name)
    if value not in ("csv", "jsonl", "notice"):
        raise ValidationError(f"unknown format {value!r}: csv, jsonl or notice", field="format")
    return value  # type: ignore[return-value]


def _saved(state: CliState, stored: StoredCalendar, as_json: bool, what: str) -> None:
    cal = stored.calendar
    if as_json:
        render.emit_json({"store": state.store_label(), "version": stored.version, **cal.to_json()})
        return
    said = words.fill(
        "calendar saved",
        state.lang,
        what=tr(what, state.lang),
        name=visible(cal.name),
        base=cal.base.value,
        n=len(cal.overrides),
        version=stored.version,
    )
    state.out.print(said)
    render.store_line(state.out, state.store_label(), state.lang)


@calendar_app.command("list")
def list_(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Every calendar (stored and built-in) and how well this year and the next are known."""
    state = get_state(ctx)
    found = _with(state, readmodels.calendar_summaries, read=True)
    if wants_json(ctx, json_):
        render.emit_json([c.model_dump(mode="json") for c in found])
        return
    lang = state.lang
    table = render.table(["name", "base", "overrides", "version", "coverage"], lang)
    for c in found:
        cover = ", ".join(f"{y.year} {tr(y.state.value, lang)}" for y in c.coverage)
        table.add_row(visible(c.name), c.base, str(c.overrides), str(c.version), cover)
    state.out.print(table)
    render.store_line(state.out, state.store_label(), lang)


@calendar_app.command("show")
def show(
    ctx: typer.Context,
    name: NameArg,
    year: Annotated[
        int | None, typer.Argument(metavar="[YEAR]", help="[default: this year]", **YEAR_RANGE)
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """A year of a calendar, month by month: open days, closed days, and who decided."""
    state = get_state(ctx)
    lang = state.lang
    wanted = year or dt.datetime.now(state.tz()).year

    async def work(s: Scheduler) -> readmodels.CalendarYear:
        return await readmodels.calendar_year(s, name, wanted, lang)

    view = _with(state, work, read=True)
    if wants_json(ctx, json_):
        render.emit_json({"store": state.store_label(), **view.model_dump(mode="json")})
        return
    cover = view.coverage
    state.out.print(
        f"[bold]{visible(view.calendar)} {view.year}[/]: {view.open_days} open days, "
        f"{tr(cover.state.value, lang)} ({cover.source})"
    )
    days = {d.date: d for d in view.days}
    for month in range(1, 13):
        state.out.print(_month(days, view.year, month, lang))
    # Holidays, make-up workdays and the days operators entered (the rest follow the rule).
    for d in (d for d in view.days if d.note):
        state.out.print(f"  {visible(d.reason)}")
    for w in view.warnings:
        state.out.print(
            f"[yellow]{tr('warning', lang)}[/] {visible(w.title)}: {visible(w.message)}"
        )
    render.store_line(state.out, state.store_label(), lang)


def _month(days: dict[dt.date, readmodels.DayView], year: int, month: int, lang: str) -> str:
    """A month as a small grid: open days plain, closed dim, unconfirmed underlined."""
    first = dt.date(year, month, 1)
    lines = [f"{first:%Y-%m}   {_WEEKDAYS['zh' if lang == 'zh' else 'en']}"]
    cells = ["  "] * first.weekday()
    day = first
    while day.month == month:
        view = days[day]
        style = "green" if view.open else "dim"
        if not view.confirmed:
            style += " underline"
        cells.append(f"[{style}]{day.day:>2}[/]")
        day += dt.timedelta(days=1)
    for i in range(0, len(cells), 7):
        lines.append("          " + " ".join(cells[i : i + 7]))
    return "\n".join(lines)


@calendar_app.command("set")
def set_(
    ctx: typer.Context,
    name: NameArg,
    base: Annotated[
        str, typer.Option("--base", help="cn_workdays, cn_holidays, weekdays, all or none.")
    ],
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    json_: JsonOpt = False,
) -> None:
    """Create a calendar, or change the base and description of one (overrides kept)."""
    state = get_state(ctx)

    async def work(s: Scheduler) -> StoredCalendar:
        current = await s.calendars.get_stored(name)
        data: dict[str, Any] = current.calendar.to_json() if current is not None else {}
        data.update(name=name, base=base)
        if description is not None:
            data["description"] = description
        version = current.version if current is not None else 0
        return await s.calendars.put(data, expected_version=version, actor=actor())

    _saved(state, _with(state, work), wants_json(ctx, json_), "saved")


@override_app.command("add")
def override_add(
    ctx: typer.Context,
    name: NameArg,
    days: Annotated[list[dt.datetime], typer.Argument(metavar="DATE...", formats=["%Y-%m-%d"])],
    open_: Annotated[
        bool, typer.Option("--open/--closed", help="Open (run) or closed (skip) on these days.")
    ],
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="holiday, makeup_workday, extra_closed, extra_open, trading_day "
            "[default: extra_open / extra_closed].",
        ),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", "-m")] = None,
    json_: JsonOpt = False,
) -> None:
    """Add overrides (replacing those of the same dates); in force at the next fire."""
    state = get_state(ctx)
    items = [
        {"date": d.date().isoformat(), "open": open_, "kind": kind, "note": note} for d in days
    ]

    async def work(s: Scheduler) -> StoredCalendar:
        return await s.calendars.add_overrides(name, items, actor=actor())

    _saved(state, _with(state, work), wants_json(ctx, json_), "saved")


@override_app.command("remove")
def override_remove(
    ctx: typer.Context,
    name: NameArg,
    days: Annotated[list[dt.datetime], typer.Argument(metavar="DATE...", formats=["%Y-%m-%d"])],
    json_: JsonOpt = False,
) -> None:
    """Remove the overrides of these dates."""
    state = get_state(ctx)

    async def work(s: Scheduler) -> StoredCalendar:
        dates = [d.date() for d in days]
        return await s.calendars.remove_overrides(name, dates, actor=actor())

    _saved(state, _with(state, work), wants_json(ctx, json_), "saved")


@calendar_app.command("confirm")
def confirm(
    ctx: typer.Context,
    name: ConfirmNameArg,
    year: Annotated[
        int,
        typer.Argument(
            metavar="YEAR", help="The year whose days are now all entered.", **YEAR_RANGE
        ),
    ],
    undo: Annotated[bool, typer.Option("--undo", help="No longer confirmed.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Mark a year of a calendar complete: no longer a warning. For a calendar whose
    days you enter (a trading calendar: `schedkit calendar confirm sd-spot 2028`). A year
    of a Chinese calendar (base cn_workdays or cn_holidays) is confirmed by entering the
    State Council notice instead: `schedkit calendar notice 2027 FILE`."""
    state = get_state(ctx)

    async def work(s: Scheduler) -> StoredCalendar:
        return await s.calendars.confirm_year(name, year, not undo, actor=actor())

    _saved(state, _with(state, work), wants_json(ctx, json_), "saved")


@calendar_app.command("import")
def import_(
    ctx: typer.Context,
    name: NameArg,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, metavar="FILE")],
    fmt: FormatOpt = None,
    confirm_year: Annotated[
        list[int] | None,
        typer.Option(
            "--confirm-year",
            help="Mark this year complete (not of a Chinese calendar: enter the notice).",
            **YEAR_RANGE,
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Add the overrides of a CSV / JSON lines / notice file (refused whole if a line is bad)."""
    state = get_state(ctx)
    text = read_text_file(file)
    chosen = _format(fmt, file)

    async def work(s: Scheduler) -> StoredCalendar:
        return await s.calendars.import_text(
            name, text, chosen, confirm_years=confirm_year or (), actor=actor()
        )

    _saved(state, _with(state, work), wants_json(ctx, json_), "imported")


@calendar_app.command("notice")
def notice(
    ctx: typer.Context,
    year: Annotated[
        int, typer.Argument(metavar="YEAR", help="The year the notice arranges.", **YEAR_RANGE)
    ],
    file: Annotated[
        Path | None,
        typer.Argument(
            exists=True, dir_okay=False, metavar="[FILE]", help="Without it: print the notice."
        ),
    ] = None,
    fmt: FormatOpt = None,
    not_confirmed: Annotated[
        bool, typer.Option("--not-confirmed", help="Entered in part: keep the warning.")
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Replace the year's notice even if FILE leaves out days the stored one sets "
            "(a correction that moves or strikes a day; an empty FILE with --not-confirmed "
            "withdraws the notice).",
        ),
    ] = False,
    partial: Annotated[
        bool,
        typer.Option(
            "--partial",
            help="FILE is only part of the notice: enter it not confirmed (otherwise one "
            "leaving a statutory holiday of YEAR open is refused, naming them).",
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Enter the State Council's holiday notice of YEAR for every Chinese calendar
    (lines like '放假 2027-01-01 至 2027-01-03 元旦' and '上班 2027-02-06 春节调休').
    FILE is the whole notice: one leaving out days the stored notice of YEAR sets is
    refused (naming them) unless --replace, and one leaving a statutory holiday of YEAR
    (元旦, 春节, 清明, 劳动节, 端午, 中秋, 国庆) open is refused unless --partial.
    Says how many days it sets, off and worked.
    Without FILE, print the notice entered (to edit and enter again: `schedkit calendar
    notice 2027 > n.txt`)."""
    state = get_state(ctx)
    if file is None:
        _print_notice(ctx, state, year, json_)
        return
    # As through the API: a notice is a few dozen lines, a huge file is the wrong one.
    text = read_text_file(file, max_chars=MAX_FILE_CHARS, what="notice file (as through the API)")
    chosen = _format(fmt, file) if fmt or file.suffix else "notice"

    async def work(s: Scheduler) -> readmodels.NoticeEntered:
        saved = await s.calendars.enter_notice(
            year,
            text,
            chosen,
            confirmed=not not_confirmed,
            replace=replace,
            partial=partial,
            actor=actor(),
        )
        return readmodels.notice_entered(saved, year)

    try:
        entered = _with(state, work)
    except NoticeMissesFestivalsError as exc:
        # The one refusal of a notice said in the CLI's language: the festivals it names
        # are the operator's to check against the notice, in its words.
        raise CommandFailed(exc.message(state.lang)) from None
    if wants_json(ctx, json_):
        render.emit_json({"store": state.store_label(), **entered.model_dump(mode="json")})
        return
    # The count is the check an operator can make against the notice at a glance: a
    # range read as one day had said only "entered".
    said = words.fill(
        "notice entered" if entered.days else "notice withdrawn",
        state.lang,
        year=year,
        state=tr("confirmed" if entered.confirmed else "not confirmed", state.lang),
        n=entered.days,
        off=entered.off,
        worked=entered.worked,
        version=entered.version,
    )
    state.out.print(said)
    render.store_line(state.out, state.store_label(), state.lang)


def _print_notice(ctx: typer.Context, state: CliState, year: int, json_: bool) -> None:
    """The notice of ``year`` as entered, as a file to edit (exit 1: none entered)."""

    async def work(s: Scheduler) -> readmodels.CalendarNotice:
        return await readmodels.calendar_notice(s, year)

    found = _with(state, work, read=True)
    if wants_json(ctx, json_):
        render.emit_json({"store": state.store_label(), **found.model_dump(mode="json")})
    elif found.days:
        typer.echo(found.text, nl=False)
    if not found.days:
        if not wants_json(ctx, json_):
            state.err.print(f"no notice of {year} entered yet")
        raise typer.Exit(1)


@calendar_app.command("export")
def export(
    ctx: typer.Context,
    name: NameArg,
    fmt: FormatOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", dir_okay=False, help="[default: stdout]")
    ] = None,
) -> None:
    """Write a calendar's overrides as CSV, JSON lines or the notice form."""
    state = get_state(ctx)
    chosen = _format(fmt, output)

    async def work(s: Scheduler) -> str:
        return await s.calendars.export(name, chosen)

    text = _with(state, work, read=True)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@calendar_app.command("warnings")
def warnings(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Coming years of the calendars schedules use that no source confirms; exit 1 if any."""
    state = get_state(ctx)
    lang = state.lang

    async def work(s: Scheduler) -> list[readmodels.CalendarWarningView]:
        return await readmodels.calendar_warnings(s, lang)

    found = _with(state, work, read=True)
    if wants_json(ctx, json_):
        render.emit_json([w.model_dump(mode="json") for w in found])
    else:
        for w in found:
            state.out.print(
                f"[yellow]{tr('warning', lang)}[/] {visible(w.title)}: {visible(w.message)}"
            )
        if not found:
            state.out.print("[green]ok[/]: every calendar in use is confirmed")
        render.store_line(state.out, state.store_label(), lang)
    if found:
        raise typer.Exit(1)
