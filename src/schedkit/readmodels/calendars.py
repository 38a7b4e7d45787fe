"""Business calendars as the API, the console and the CLI show them: the list, one
calendar with its overrides, a year day by day (who decided each day), and the warnings
for years no source confirms."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from schedkit.calendars import (
    BUILTIN_NAMES,
    CalendarSet,
    Override,
    StoredCalendar,
    StoredNotices,
    YearCoverage,
    YearState,
    notice_text,
    years_ahead,
)
from schedkit.readmodels.common import Lang, View
from schedkit.readmodels.schedules import CalendarWarningView, calendar_warning_view
from schedkit.service import Scheduler

__all__ = [
    "CalendarDetail",
    "CalendarNotice",
    "CalendarSummary",
    "CalendarYear",
    "CalendarYearAfterNotice",
    "DayView",
    "NoticeEntered",
    "OverrideView",
    "YearCoverageView",
    "calendar_detail",
    "calendar_notice",
    "calendar_summaries",
    "calendar_warnings",
    "calendar_year",
    "calendar_year_after_notice",
    "notice_entered",
]


class YearCoverageView(View):
    year: int
    state: YearState = Field(description="confirmed, estimated or uncovered.")
    source: str = Field(description="The layer that makes the year as known as it is.")


class OverrideView(View):
    date: date
    open: bool
    kind: str = Field(description="holiday, makeup_workday, extra_closed, extra_open, trading_day.")
    note: str | None


class CalendarSummary(View):
    name: str
    base: str
    description: str
    builtin: bool = Field(description="One of the calendars that exist without being stored.")
    stored: bool = Field(description="False for a built-in calendar nobody edited.")
    version: int = Field(description="Pass as expected_version when editing (0: not stored).")
    updated_at: datetime | None
    overrides: int = Field(description="How many dated overrides it has.")
    confirmed_years: list[int]
    coverage: list[YearCoverageView] = Field(description="This year and the coming ones.")


class CalendarDetail(CalendarSummary):
    override_list: list[OverrideView]


class DayView(View):
    date: date
    open: bool
    source: str = Field(description="override, notice, chinese-calendar, holidays, ...")
    confirmed: bool
    note: str | None
    reason: str = Field(description="The decision in words, in the reader's language.")


class CalendarYear(View):
    calendar: str
    year: int
    coverage: YearCoverageView
    open_days: int
    days: list[DayView] = Field(description="Every day of the year, 1 January first.")
    warnings: list[CalendarWarningView]


class CalendarNotice(View):
    """The State Council notice of a year as entered: edit its text and enter it again
    (a notice is entered whole)."""

    year: int
    text: str = Field(description="The notice's days as a file, to edit and send back.")
    format: str = Field(description="notice (放假/上班 lines), or csv for other kinds of days.")
    days: int = Field(description="Days the notice sets (0: none entered).")
    confirmed: bool = Field(description="Whether the year is marked complete.")
    version: int = Field(
        description="The national record's version: pass as expected_version when entering."
    )
    updated_at: datetime | None


class NoticeEntered(View):
    """What the notice of a year sets once entered: an entry whose count is not what the
    notice says (a range read as one day) shows at once."""

    year: int
    days: int = Field(description="Days the notice sets (0: withdrawn).")
    off: int = Field(description="Of them, days off (holidays).")
    worked: int = Field(description="Of them, days worked (make-up workdays).")
    confirmed: bool = Field(description="Whether the year is marked complete.")
    version: int = Field(description="The national record's version now.")


class CalendarYearAfterNotice(CalendarYear):
    entered: NoticeEntered


def _coverage_view(found: YearCoverage) -> YearCoverageView:
    return YearCoverageView(year=found.year, state=found.state, source=found.source.value)


def _coverage(books: CalendarSet, name: str, years: list[int]) -> list[YearCoverageView]:
    return [_coverage_view(c) for c in books.coverage(name, years)]


def _summary(stored: StoredCalendar, books: CalendarSet, today: date) -> dict[str, object]:
    cal = stored.calendar
    return {
        "name": cal.name,
        "base": cal.base.value,
        "description": cal.description,
        "builtin": cal.name in BUILTIN_NAMES,
        "stored": stored.version > 0,
        "version": stored.version,
        "updated_at": stored.updated_at,
        "overrides": len(cal.overrides),
        "confirmed_years": sorted(cal.confirmed_years),
        "coverage": _coverage(books, cal.name, years_ahead(today)),
    }


def _override(item: Override) -> OverrideView:
    return OverrideView(date=item.date, open=item.open, kind=item.kind.value, note=item.note)


async def calendar_summaries(scheduler: Scheduler) -> list[CalendarSummary]:
    """Every calendar (stored ones and built-ins), by name."""
    calendars = await scheduler.calendars.list_all()
    books = await scheduler.calendars.snapshot([s.calendar.name for s in calendars])
    today = scheduler.calendars.today()
    return [CalendarSummary.model_validate(_summary(s, books, today)) for s in calendars]


async def calendar_detail(scheduler: Scheduler, name: str) -> CalendarDetail:
    """One calendar with its overrides (CalendarNotFoundError if none has this name)."""
    stored = await scheduler.calendars.get(name)
    books = await scheduler.calendars.snapshot([stored.calendar.name])
    data = _summary(stored, books, scheduler.calendars.today())
    data["override_list"] = [_override(o) for o in stored.calendar.overrides]
    return CalendarDetail.model_validate(data)


async def calendar_year(
    scheduler: Scheduler, name: str, year: int, lang: Lang = "en"
) -> CalendarYear:
    """Every day of ``year`` in calendar ``name``: open or not, and who decided. Worked
    out off the event loop within a request's budget, its reads included (NodeBusyError
    when other requests' searches kept the turn), and kept while the calendar and the
    national notices are unchanged (``scheduler.calendar_years``)."""
    deadline = scheduler.fire_searches.deadline()
    stored = await scheduler.calendars.get(name)
    cal_name = stored.calendar.name
    books = await scheduler.calendars.snapshot([cal_name])
    found = await scheduler.calendar_years.days(books, cal_name, year, deadline=deadline)
    decisions = found.decisions
    return CalendarYear(
        calendar=cal_name,
        year=year,
        coverage=_coverage_view(found.coverage),
        open_days=sum(d.open for d in decisions),
        days=[
            DayView(
                date=d.day,
                open=d.open,
                source=d.source.value,
                confirmed=d.confirmed,
                note=d.note,
                reason=d.reason(lang),
            )
            for d in decisions
        ],
        warnings=[calendar_warning_view(w, lang) for w in found.warnings],
    )


async def calendar_warnings(scheduler: Scheduler, lang: Lang = "en") -> list[CalendarWarningView]:
    """The warnings of the calendars schedules use: each coming year no source confirms
    ("calendar cn_workdays for 2027 not confirmed"), and each calendar that is missing."""
    return [calendar_warning_view(w, lang) for w in await scheduler.calendars.warnings()]


async def calendar_notice(scheduler: Scheduler, year: int) -> CalendarNotice:
    """The notice of ``year`` as entered (an empty text when none was)."""
    stored = await scheduler.calendars.notices()
    days = stored.notices.notice_days(year)
    fmt, text = notice_text(days)
    return CalendarNotice(
        year=year,
        text=text,
        format=fmt,
        days=len(days),
        confirmed=year in stored.notices.confirmed_years,
        version=stored.version,
        updated_at=stored.updated_at,
    )


def notice_entered(stored: StoredNotices, year: int) -> NoticeEntered:
    """The counts of the notice of ``year`` in ``stored`` (as ``enter_notice`` returns it)."""
    days = stored.notices.notice_days(year)
    off = sum(not item.open for item in days)
    return NoticeEntered(
        year=year,
        days=len(days),
        off=off,
        worked=len(days) - off,
        confirmed=year in stored.notices.confirmed_years,
        version=stored.version,
    )


async def calendar_year_after_notice(
    scheduler: Scheduler, saved: StoredNotices, year: int, lang: Lang = "en"
) -> CalendarYearAfterNotice:
    """cn_workdays' ``year`` after its notice was entered (``saved``), with the counts."""
    view = await calendar_year(scheduler, "cn_workdays", year, lang)
    return CalendarYearAfterNotice(**dict(view), entered=notice_entered(saved, year))
