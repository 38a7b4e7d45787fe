"""Business calendars: list, read, create or replace, delete; add and remove dated
overrides, confirm a year, import and export files, the year view, the national notice,
and the warnings for years no source confirms. Every edit is a compare-and-set on the
``version`` read (409 when someone else edited meanwhile) and is audited."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from schedkit import readmodels
from schedkit.api.auth import ActorDep
from schedkit.api.deps import LangDep, SchedulerDep
from schedkit.api.routes.table import route
from schedkit.calendars import FORMATS, MAX_FILE_CHARS, Format
from schedkit.calendars.model import MAX_YEAR, MIN_YEAR
from schedkit.errors import ValidationError
from schedkit.tokens import Role

CalendarName = Annotated[
    str, Path(max_length=64, description="Calendar name (built-in or stored).")
]
Year = Annotated[int, Path(ge=MIN_YEAR, le=MAX_YEAR)]
ConfirmYear = Annotated[int, Field(ge=MIN_YEAR, le=MAX_YEAR)]
#: A date in a path, YYYY-MM-DD (a bare number is no date, whatever pydantic would make of it).
Day = Annotated[str, Path(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")]
FormatQuery = Annotated[
    Format, Query(description=f"File format: {', '.join(FORMATS)} (notice: 放假/上班 lines).")
]
# A file's text is at most MAX_FILE_CHARS: small enough that a text one character over
# it, JSON-escaped at 12 bytes a character, still fits the body limit (1 MiB) and is
# answered 422 naming the field; larger files go in parts, or through ``schedkit
# calendar import`` (no HTTP body).
#: Overrides per request, for the same reason (a longer list: several requests, or a file).
MAX_OVERRIDES = 300
_MANY = f"At most {MAX_OVERRIDES} per request; more through an import or several requests."
_CONFIRM = (
    "Years to mark complete; not of a calendar with a Chinese base (422): the State "
    "Council notice confirms those (PUT /calendar-notices/{year})."
)


class _Body(BaseModel):
    # Strict: a JSON 0 is not a boolean, "1" is not a version.
    model_config = ConfigDict(extra="forbid", strict=True)


class OverrideIn(_Body):
    """One dated override as sent (validated again by the calendar model)."""

    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")
    open: bool
    kind: str | None = Field(
        default=None,
        max_length=20,
        description="holiday, makeup_workday, extra_closed, extra_open or trading_day "
        "(default: extra_open / extra_closed).",
    )
    note: str | None = Field(default=None, max_length=200)


class CalendarPut(_Body):
    """A whole calendar; ``expected_version`` 0 creates it."""

    base: str = Field(max_length=20, description="cn_workdays, cn_holidays, weekdays, all or none.")
    description: str = Field(default="", max_length=500)
    overrides: list[OverrideIn] = Field(
        default_factory=list, max_length=MAX_OVERRIDES, description=_MANY
    )
    confirmed_years: list[int] = Field(
        default_factory=list,
        max_length=300,
        description="Years complete; for a Chinese base, only those it already holds "
        "(422 for another: the State Council notice confirms those).",
    )
    expected_version: int = Field(ge=0, description="The version read (0: create).")


class OverridesAdd(_Body):
    overrides: list[OverrideIn] = Field(max_length=MAX_OVERRIDES, description=_MANY)
    confirm_years: list[ConfirmYear] = Field(
        default_factory=list, max_length=300, description=_CONFIRM
    )
    expected_version: int | None = Field(
        default=None, ge=0, description="The version read; omitted: the current one."
    )


class YearConfirm(_Body):
    confirmed: bool = True
    expected_version: int | None = Field(default=None, ge=0)


class FileImport(_Body):
    """A file's text (the API takes JSON only: a page elsewhere cannot post a form here)."""

    text: str = Field(max_length=MAX_FILE_CHARS, description="The file's content.")
    format: Format = Field(
        description=f"{', '.join(FORMATS)}; notice: '放假 2027-01-01 至 2027-01-03 元旦' / "
        "'上班 2027-02-06 春节调休' lines."
    )
    confirm_years: list[ConfirmYear] = Field(
        default_factory=list, max_length=300, description=_CONFIRM
    )


class NoticeEntry(_Body):
    text: str = Field(
        max_length=MAX_FILE_CHARS, description="The whole notice, one line per range."
    )
    format: Format = "notice"
    confirmed: bool = Field(True, description="Mark the year complete.")
    expected_version: int | None = Field(
        default=None,
        ge=0,
        description="The national record's version read (GET /calendar-notices/{year}); "
        "omitted: not checked.",
    )
    replace: bool = Field(
        False,
        description="Replace the year's notice even though the text leaves out days the "
        "stored one sets (otherwise 409 notice-drops-days, naming them): a correction that "
        "moves or strikes a day, or, with an empty text and confirmed false, a withdrawal.",
    )
    partial: bool = Field(
        False,
        description="The text is only part of the notice: entered not confirmed, so the "
        "year's other days keep their current source. Otherwise a confirmed text that "
        "leaves a statutory holiday of the year open is refused (409 "
        "notice-misses-festivals, its festivals listing them).",
    )


@route(
    "GET",
    "/calendars",
    role=Role.VIEWER,
    summary="List calendars",
    response_model=list[readmodels.CalendarSummary],
)
async def list_calendars(scheduler: SchedulerDep) -> list[readmodels.CalendarSummary]:
    """The stored calendars and the built-in ones, each with how well this year and the
    coming one are known."""
    return await readmodels.calendar_summaries(scheduler)


@route(
    "GET",
    "/calendar-warnings",
    role=Role.VIEWER,
    summary="Calendar warnings",
    response_model=list[readmodels.CalendarWarningView],
)
async def calendar_warnings(
    scheduler: SchedulerDep, lang: LangDep
) -> list[readmodels.CalendarWarningView]:
    """Years of the calendars schedules use that no source confirms ("calendar
    cn_workdays for 2027 not confirmed"), and calendars schedules name that are missing."""
    return await readmodels.calendar_warnings(scheduler, lang)


@route(
    "PUT",
    "/calendar-notices/{year}",
    role=Role.ADMIN,
    errors=(409, 413, 422),
    summary="Enter the national holiday notice of a year",
    response_model=readmodels.CalendarYearAfterNotice,
)
async def enter_notice(
    year: Year, body: NoticeEntry, scheduler: SchedulerDep, actor: ActorDep, lang: LangDep
) -> readmodels.CalendarYearAfterNotice:
    """Replaces the year's entries of the national arrangement (shared by every calendar
    with a Chinese base): the State Council notice, typed as ``放假 2027-01-01 至
    2027-01-03 元旦`` / ``上班 2027-02-06 春节调休`` lines. The text is the whole notice:
    one that leaves out days the stored notice of the year sets is refused (409
    ``notice-drops-days``, its ``days`` listing them) unless ``replace`` is true, and one
    entered confirmed that leaves a statutory holiday of the year open (409
    ``notice-misses-festivals``, its ``festivals`` listing them) unless ``partial`` is
    true; 409 too when ``expected_version`` is not the record's version. Answers with
    cn_workdays' year and, in ``entered``, how many days the notice sets (off and
    worked) and whether the year is confirmed."""
    saved = await scheduler.calendars.enter_notice(
        year,
        body.text,
        body.format,
        confirmed=body.confirmed,
        expected_version=body.expected_version,
        replace=body.replace,
        partial=body.partial,
        actor=actor,
    )
    return await readmodels.calendar_year_after_notice(scheduler, saved, year, lang)


@route(
    "GET",
    "/calendar-notices/{year}",
    role=Role.VIEWER,
    summary="The national holiday notice of a year as entered",
    response_model=readmodels.CalendarNotice,
)
async def get_notice(year: Year, scheduler: SchedulerDep) -> readmodels.CalendarNotice:
    """The days the year's notice set, as the text to edit and enter again (empty when
    none was entered), and the version to send as ``expected_version``."""
    return await readmodels.calendar_notice(scheduler, year)


@route(
    "GET",
    "/calendars/{name}",
    role=Role.VIEWER,
    errors=(404,),
    summary="Calendar detail",
    response_model=readmodels.CalendarDetail,
)
async def get_calendar(name: CalendarName, scheduler: SchedulerDep) -> readmodels.CalendarDetail:
    return await readmodels.calendar_detail(scheduler, name)


@route(
    "PUT",
    "/calendars/{name}",
    role=Role.ADMIN,
    errors=(409, 413, 422),
    summary="Create or replace a calendar",
    response_model=readmodels.CalendarDetail,
)
async def put_calendar(
    name: CalendarName, body: CalendarPut, scheduler: SchedulerDep, actor: ActorDep
) -> readmodels.CalendarDetail:
    """409 when the calendar's version is no longer ``expected_version``."""
    data = body.model_dump(exclude={"expected_version"}, exclude_none=True)
    await scheduler.calendars.put(
        {**data, "name": name}, expected_version=body.expected_version, actor=actor
    )
    return await readmodels.calendar_detail(scheduler, name)


@route(
    "DELETE",
    "/calendars/{name}",
    role=Role.ADMIN,
    errors=(404, 409),
    summary="Delete a stored calendar",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def delete_calendar(
    name: CalendarName,
    scheduler: SchedulerDep,
    actor: ActorDep,
    expected_version: Annotated[int, Query(ge=1)],
) -> None:
    """A stored built-in calendar falls back to its defaults."""
    await scheduler.calendars.delete(name, expected_version=expected_version, actor=actor)


@route(
    "POST",
    "/calendars/{name}/overrides",
    role=Role.ADMIN,
    errors=(404, 409, 413, 422),
    summary="Add overrides",
    response_model=readmodels.CalendarDetail,
)
async def add_overrides(
    name: CalendarName, body: OverridesAdd, scheduler: SchedulerDep, actor: ActorDep
) -> readmodels.CalendarDetail:
    """Adds dated overrides (replacing those of the same dates); in force at the next
    fire on every node."""
    await scheduler.calendars.add_overrides(
        name,
        [o.model_dump(exclude_none=True) for o in body.overrides],
        confirm_years=body.confirm_years,
        expected_version=body.expected_version,
        actor=actor,
    )
    return await readmodels.calendar_detail(scheduler, name)


@route(
    "DELETE",
    "/calendars/{name}/overrides/{day}",
    role=Role.ADMIN,
    errors=(404, 409, 422),
    summary="Remove an override",
    response_model=readmodels.CalendarDetail,
)
async def remove_override(
    name: CalendarName,
    day: Day,
    scheduler: SchedulerDep,
    actor: ActorDep,
    expected_version: Annotated[int | None, Query(ge=0)] = None,
) -> readmodels.CalendarDetail:
    try:
        date = dt.date.fromisoformat(day)
    except ValueError as exc:
        raise ValidationError(f"invalid date {day!r}: {exc}", field="day") from None
    await scheduler.calendars.remove_overrides(
        name, [date], expected_version=expected_version, actor=actor
    )
    return await readmodels.calendar_detail(scheduler, name)


@route(
    "PUT",
    "/calendars/{name}/years/{year}/confirmed",
    role=Role.ADMIN,
    errors=(404, 409, 422),
    summary="Confirm a year",
    response_model=readmodels.CalendarDetail,
)
async def confirm_year(
    name: CalendarName, year: Year, body: YearConfirm, scheduler: SchedulerDep, actor: ActorDep
) -> readmodels.CalendarDetail:
    """A confirmed year is complete: its days without an override follow the base rule,
    and it is no longer a warning. For calendars whose days are entered (trading days):
    confirming a year of a calendar with a Chinese base is a 422 (field ``year``), as
    the State Council notice confirms those (``PUT /calendar-notices/{year}``)."""
    await scheduler.calendars.confirm_year(
        name, year, body.confirmed, expected_version=body.expected_version, actor=actor
    )
    return await readmodels.calendar_detail(scheduler, name)


@route(
    "GET",
    "/calendars/{name}/years/{year}",
    role=Role.VIEWER,
    errors=(404,),
    summary="A year of a calendar, day by day",
    response_model=readmodels.CalendarYear,
)
async def calendar_year(
    name: CalendarName, year: Year, scheduler: SchedulerDep, lang: LangDep
) -> readmodels.CalendarYear:
    """Every day: open or closed, the source that decided it, whether that is confirmed."""
    return await readmodels.calendar_year(scheduler, name, year, lang)


@route(
    "POST",
    "/calendars/{name}/import",
    role=Role.ADMIN,
    errors=(404, 409, 413, 422),
    summary="Import overrides from a file",
    response_model=readmodels.CalendarDetail,
)
async def import_file(
    name: CalendarName, body: FileImport, scheduler: SchedulerDep, actor: ActorDep
) -> readmodels.CalendarDetail:
    """A file with bad lines is refused whole: 422 lists each bad line."""
    await scheduler.calendars.import_text(
        name, body.text, body.format, confirm_years=body.confirm_years, actor=actor
    )
    return await readmodels.calendar_detail(scheduler, name)


@route(
    "GET",
    "/calendars/{name}/export",
    role=Role.VIEWER,
    errors=(404, 422),
    summary="Export overrides as a file",
    response_class=Response,
)
async def export_file(name: CalendarName, scheduler: SchedulerDep, format: FormatQuery) -> Response:
    text = await scheduler.calendars.export(name, format)
    media = {"csv": "text/csv", "jsonl": "application/x-ndjson"}.get(format, "text/plain")
    return Response(content=text, media_type=f"{media}; charset=utf-8")
