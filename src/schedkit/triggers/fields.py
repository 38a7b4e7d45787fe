"""The compiled form of every cron schedule: one field set for both ways of writing one.

A crontab string (:mod:`schedkit.triggers.crontab`) and APScheduler-style cron fields
(:mod:`schedkit.triggers.cronfields`) both compile to a :class:`FieldSet`: sorted values
for second, minute, hour and month, an optional year set, and a :class:`DayRule` that says
which days of a given month match. Everything here is about the *wall clock*: a field set
knows nothing of time zones; :mod:`schedkit.triggers.cron` maps its matches to instants.

Which days of a month match depends only on the month and on the kind of year it is in
(the weekday of 1 January, whether the year and the one before it are leap years: the
last decides the ISO week numbers of early January). There are 21 kinds, and every kind
occurs in any 400 consecutive years (the Gregorian cycle), so day masks are cached per
(kind, month) and "never fires" is decided by looking at each kind once, not by search.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache, lru_cache

MAX_YEAR = 9999
#: Longest crontab expression or cron field value accepted, in characters.
MAX_EXPRESSION_LENGTH = 1024
#: Most comma-separated items in one field.
MAX_LIST_ITEMS = 100
#: Position of a weekday in its month meaning "the last one" (``5L``, ``"last fri"``).
LAST = -1

# Wall-clock times are naive on purpose: they name no instant until a zone's rules apply.
_LAST_SECOND = datetime(MAX_YEAR, 12, 31, 23, 59, 59)  # noqa: DTZ001
# Years 2000-2399: one full Gregorian cycle, so every kind of year occurs in it.
_CYCLE = range(2000, 2400)
_YEAR_KINDS = 21  # 7 weekdays of 1 January x (leap, common after leap, common after common)


class FieldError(ValueError):
    """A cron field (or the whole expression) that cannot be compiled.

    ``field`` is the field's name in the form the user wrote: ``"hour"``,
    ``"day_of_week"`` for cron fields, ``"day-of-week"`` for a crontab string, ``None``
    when the expression as a whole is at fault.
    """

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class DayRule:
    """Which days of a month match.

    The day-of-month side is ``days`` (bit *d* = day *d*), ``last_day``,
    ``last_weekday`` (the last Monday-Friday day) and ``day_positions``; the day-of-week
    side is ``weekdays`` (bit *w* = weekday *w*, Monday = 0) and ``weekday_positions``.
    A position is ``(weekday, n)``: the *n*-th such weekday of the month, or the last
    one when *n* is :data:`LAST`. ``either`` joins the two sides with OR (a crontab whose
    day-of-month and day-of-week are both restricted), else with AND. ``weeks`` (bit *n* =
    ISO week *n*) further restricts the result when set.
    """

    days: int = (1 << 32) - 2
    last_day: bool = False
    last_weekday: bool = False
    day_positions: frozenset[tuple[int, int]] = frozenset()
    weekdays: int = 0b1111111
    weekday_positions: frozenset[tuple[int, int]] = frozenset()
    either: bool = False
    weeks: int | None = None

    def month_mask(self, year: int, month: int) -> int:
        """Bit *d* set for every matching day *d* of ``month`` in ``year``."""
        first_weekday, length = calendar.monthrange(year, month)
        all_days = (1 << (length + 1)) - 2
        dom = self.days & all_days
        if self.last_day:
            dom |= 1 << length
        if self.last_weekday:
            weekday_of_last = (first_weekday + length - 1) % 7
            dom |= 1 << (length - max(0, weekday_of_last - 4))
        for weekday, n in self.day_positions:
            dom |= _position_bit(first_weekday, length, weekday, n)
        dow = 0
        for weekday in range(7):
            if self.weekdays >> weekday & 1:
                for day in range(1 + (weekday - first_weekday) % 7, length + 1, 7):
                    dow |= 1 << day
        for weekday, n in self.weekday_positions:
            dow |= _position_bit(first_weekday, length, weekday, n)
        mask = dom | dow if self.either else dom & dow
        if self.weeks is not None and mask:
            weeks = self.weeks
            for day in range(1, length + 1):
                if mask >> day & 1 and not weeks >> date(year, month, day).isocalendar()[1] & 1:
                    mask &= ~(1 << day)
        return mask


def _position_bit(first_weekday: int, length: int, weekday: int, n: int) -> int:
    first = 1 + (weekday - first_weekday) % 7
    day = first + 7 * ((length - first) // 7) if n == LAST else first + 7 * (n - 1)
    return 1 << day if day <= length else 0


# Day masks shared by every field set with an equal day rule (thousands of schedules
# have a handful of distinct rules); bounded, as rules come from user input.
_MASKS: dict[tuple[DayRule, tuple[int, bool, bool], int], int] = {}
_MASKS_LIMIT = 100_000
_OWN_MASKS_LIMIT = 1024


def _shared_mask(rule: DayRule, year: int, month: int) -> int:
    kind = year_kind(year)
    mask = _MASKS.get((rule, kind, month))
    if mask is None:
        if len(_MASKS) >= _MASKS_LIMIT:
            _MASKS.clear()
        mask = _MASKS[(rule, kind, month)] = rule.month_mask(year, month)
    return mask


@cache
def year_kind(year: int) -> tuple[int, bool, bool]:
    """What decides the day masks of ``year``: weekday of 1 January, leap, previous leap."""
    return date(year, 1, 1).weekday(), calendar.isleap(year), calendar.isleap(year - 1)


class FieldSet:
    """A compiled cron schedule on the wall clock (see the module docstring).

    ``wildcard`` is Debian cron's classification for daylight saving: a job whose minute
    or hour field starts with ``*`` runs at real instants (none in a gap, in both copies of
    a repeated hour); any other job is fixed-time. The sets are sorted tuples, never empty.
    """

    __slots__ = (
        "_masks",
        "_month_set",
        "_year_set",
        "day_rule",
        "hours",
        "minutes",
        "months",
        "seconds",
        "wildcard",
        "years",
    )

    def __init__(
        self,
        *,
        seconds: tuple[int, ...],
        minutes: tuple[int, ...],
        hours: tuple[int, ...],
        months: tuple[int, ...],
        years: tuple[int, ...] | None,
        day_rule: DayRule,
        wildcard: bool,
    ) -> None:
        self.seconds = seconds
        self.minutes = minutes
        self.hours = hours
        self.months = months
        self.years = years
        self.day_rule = day_rule
        self.wildcard = wildcard
        self._month_set = frozenset(months)
        self._year_set = None if years is None else frozenset(years)
        # Keyed by year * 16 + month: cheaper to hash than the kind of year.
        self._masks: dict[int, int] = {}

    def __repr__(self) -> str:
        return (
            f"FieldSet(seconds={self.seconds}, minutes={self.minutes}, hours={self.hours}, "
            f"months={self.months}, years={self.years}, day_rule={self.day_rule}, "
            f"wildcard={self.wildcard})"
        )

    def day_mask(self, year: int, month: int) -> int:
        """Bit *d* set for every matching day *d* (cached per kind of year and month)."""
        mask = self._masks.get(year * 16 + month)
        if mask is None:
            if len(self._masks) >= _OWN_MASKS_LIMIT:
                self._masks.clear()
            mask = self._masks[year * 16 + month] = _shared_mask(self.day_rule, year, month)
        return mask

    def never_fires(self) -> bool:
        """Whether no date in any allowed year matches (decided per kind of year)."""
        seen: set[tuple[int, bool, bool]] = set()
        for year in _CYCLE if self.years is None else self.years:
            kind = year_kind(year)
            if kind in seen:
                continue
            seen.add(kind)
            if any(self.day_mask(year, month) for month in self.months):
                return False
            if len(seen) == _YEAR_KINDS:
                break
        return True

    def next_match(self, start: datetime) -> datetime | None:
        """The first wall time at or after naive ``start`` that matches, or ``None``."""
        if start.microsecond:
            if start >= _LAST_SECOND:
                return None
            # Arithmetic, not replace(): this is the hot path and replace() is slower.
            start += timedelta(microseconds=1_000_000 - start.microsecond)
        year, month, day = start.year, start.month, start.day
        clock: tuple[int, int, int] | None = (start.hour, start.minute, start.second)
        months = self.months
        while year <= MAX_YEAR:
            if self._year_set is not None and year not in self._year_set:
                assert self.years is not None
                i = bisect_left(self.years, year)
                if i == len(self.years):
                    return None
                year, month, day, clock = self.years[i], months[0], 1, None
            if month not in self._month_set:
                i = bisect_left(months, month)
                if i == len(months):
                    year, month, day, clock = year + 1, months[0], 1, None
                    continue
                month, day, clock = months[i], 1, None
            mask = self.day_mask(year, month) >> day
            if not mask:
                year, month, day, clock = year + month // 12, month % 12 + 1, 1, None
                continue
            found = day + (mask & -mask).bit_length() - 1
            if found != day:
                day, clock = found, None
            if clock is None:
                first = self.hours[0], self.minutes[0], self.seconds[0]
                return datetime(year, month, day, *first)  # noqa: DTZ001
            time_of_day = self._time_at_or_after(*clock)
            if time_of_day is not None:
                return datetime(year, month, day, *time_of_day)  # noqa: DTZ001
            day, clock = day + 1, None
        return None

    def _time_at_or_after(self, hour: int, minute: int, second: int) -> tuple[int, int, int] | None:
        hours, minutes, seconds = self.hours, self.minutes, self.seconds
        i = bisect_left(hours, hour)
        if i < len(hours) and hours[i] == hour:
            j = bisect_left(minutes, minute)
            if j < len(minutes) and minutes[j] == minute:
                k = bisect_left(seconds, second)
                if k < len(seconds):
                    return hour, minute, seconds[k]
                j += 1
            if j < len(minutes):
                return hour, minutes[j], seconds[0]
            i += 1
        if i < len(hours):
            return hours[i], minutes[0], seconds[0]
        return None


@lru_cache(maxsize=4096)
def bits(values: frozenset[int]) -> int:
    """``values`` as a bit mask (bit *v* set for each *v*)."""
    mask = 0
    for value in values:
        mask |= 1 << value
    return mask
