"""Business calendars: which days a schedule may run on, as data in the store.

A calendar is a base rule (``cn_workdays``, ``cn_holidays``, ``weekdays``, ``all``,
``none``) plus dated overrides. The Chinese bases are decided by layered sources:
operator overrides, the national arrangement operators entered (the State Council
notice), ``chinese-calendar``, then the ``holidays`` package; a year none of them
confirms is a warning (:meth:`CalendarSet.warnings`), never a silent guess.
See docs/calendars.md.
"""

from __future__ import annotations

from schedkit.calendars.book import CalendarBook, referenced_names
from schedkit.calendars.catalog import CalendarSet
from schedkit.calendars.coverage import CalendarWarning, WarningCode, YearCoverage, years_ahead
from schedkit.calendars.decide import DayDecision, decide
from schedkit.calendars.model import (
    ALIASES,
    BUILTIN_NAMES,
    Base,
    Calendar,
    DayTable,
    Override,
    OverrideKind,
    builtin_calendar,
    canonical_name,
    parse_calendar,
    parse_override,
    parse_table,
)
from schedkit.calendars.rules import CalendarField, CalendarRef
from schedkit.calendars.sources import Source, YearState
from schedkit.calendars.storage import CalendarStore, StoredCalendar, StoredNotices
from schedkit.calendars.transfer import (
    FORMATS,
    MAX_FILE_CHARS,
    CalendarImportError,
    Format,
    LineError,
    export_overrides,
    format_for,
    notice_text,
    parse_overrides,
)

__all__ = [
    "ALIASES",
    "BUILTIN_NAMES",
    "FORMATS",
    "MAX_FILE_CHARS",
    "Base",
    "Calendar",
    "CalendarBook",
    "CalendarField",
    "CalendarImportError",
    "CalendarRef",
    "CalendarSet",
    "CalendarStore",
    "CalendarWarning",
    "DayDecision",
    "DayTable",
    "Format",
    "LineError",
    "Override",
    "OverrideKind",
    "Source",
    "StoredCalendar",
    "StoredNotices",
    "WarningCode",
    "YearCoverage",
    "YearState",
    "builtin_calendar",
    "canonical_name",
    "decide",
    "export_overrides",
    "format_for",
    "notice_text",
    "parse_calendar",
    "parse_override",
    "parse_overrides",
    "parse_table",
    "referenced_names",
    "years_ahead",
]
