"""A consistent set of calendars read at one moment: what the firing path asks."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType

from schedkit.calendars.coverage import (
    DEFAULT_HORIZON,
    CalendarWarning,
    YearCoverage,
    calendar_warnings,
    coverage,
    missing_warning,
)
from schedkit.calendars.decide import DayDecision, decide
from schedkit.calendars.model import Calendar, DayTable, builtin_calendar, canonical_name
from schedkit.calendars.rules import CalendarRef, allows, decide_month, nth_open_day
from schedkit.errors import CalendarNotFoundError

#: Months of decisions a set keeps (LRU): a search walks months in order, and a few
#: hundred cover any listing's horizon; each holds at most 31 decisions.
MONTHS_KEPT = 512


@dataclass(frozen=True, kw_only=True)
class CalendarSet:
    """Stored calendars (by canonical name) and the national arrangement operators
    entered; the built-in calendars are always there. Immutable: a newer reading of the
    store is a new set.

    Being immutable is what makes its cache of month decisions safe: an override or a
    notice changed is seen through a new set (:class:`~schedkit.calendars.book.CalendarBook`
    re-reads the store each tick), with a cache of its own; nothing invalidates."""

    calendars: Mapping[str, Calendar] = field(default_factory=dict)
    notices: DayTable = field(default_factory=DayTable)
    # An Nth-day rule decides a whole month per day asked: a preview of "the 3rd workday,
    # if a Monday" made 22,956 day decisions (0.7 s) for five fires. Keyed by
    # (calendar, year, month); a lock, as one set may serve threads (the API's previews).
    _months: dict[tuple[str, int, int], tuple[DayDecision, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # A copy the caller cannot change under the cache (the book builds a new dict
        # per reading; a caller's own dict could be edited after).
        object.__setattr__(self, "calendars", MappingProxyType(dict(self.calendars)))

    def calendar(self, name: str) -> Calendar:
        """The calendar ``name`` (alias resolved), or CalendarNotFoundError."""
        key = canonical_name(name)
        found = self.calendars.get(key) or builtin_calendar(key)
        if found is None:
            raise CalendarNotFoundError(name)
        return found

    def decide(self, name: str, day: date) -> DayDecision:
        """Whether calendar ``name`` is open on ``day``, and which source said so."""
        return decide(self.calendar(name), day, self.notices)

    def allows(self, ref: CalendarRef | str, day: date, *, lang: str = "en") -> DayDecision:
        """Whether a schedule whose calendar is ``ref`` may run on the local date ``day``
        (an Nth rule's note in ``lang``)."""
        ref = ref if isinstance(ref, CalendarRef) else CalendarRef.parse(ref)
        calendar = self.calendar(ref.name)
        return allows(
            ref,
            day,
            lambda d: decide(calendar, d, self.notices),
            lambda year, month: self._month(calendar, year, month),
            lang=lang,
        )

    def nth_open_day(self, name: str, year: int, month: int, nth: int) -> date | None:
        """The ``nth`` open day (negative: from the end) of a month of calendar ``name``."""
        calendar = self.calendar(name)
        return nth_open_day(lambda d: decide(calendar, d, self.notices), year, month, nth)

    def _month(self, calendar: Calendar, year: int, month: int) -> tuple[DayDecision, ...]:
        key = (calendar.name, year, month)
        with self._lock:
            found = self._months.pop(key, None)
            if found is not None:
                self._months[key] = found  # the most recent again
                return found
        found = decide_month(lambda d: decide(calendar, d, self.notices), year, month)
        with self._lock:
            self._months[key] = found
            while len(self._months) > MONTHS_KEPT:
                del self._months[next(iter(self._months))]
        return found

    def coverage(self, name: str, years: Iterable[int]) -> list[YearCoverage]:
        """How well each of ``years`` of calendar ``name`` is known."""
        return coverage(self.calendar(name), years, self.notices)

    def warnings(
        self, names: Iterable[str], *, today: date, horizon: timedelta = DEFAULT_HORIZON
    ) -> list[CalendarWarning]:
        """Warnings for the calendars ``names`` (those schedules reference): each year
        from ``today`` to ``today + horizon`` that is not confirmed, and each name that
        is no calendar. The one call behind ``/ready``, the console, ``schedkit check``
        and the alert rule."""
        found: dict[str, Calendar] = {}
        missing: set[str] = set()
        for name in names:
            try:
                calendar = self.calendar(name)
            except CalendarNotFoundError:
                missing.add(name)
            else:
                found[calendar.name] = calendar
        warnings = [missing_warning(name) for name in sorted(missing)]
        return warnings + calendar_warnings(
            found.values(), self.notices, today=today, horizon=horizon
        )
