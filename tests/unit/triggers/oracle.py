"""A brute-force oracle for cron schedules, independent of the engine.

It shares no code with ``schedkit.triggers``: a schedule is given as plain Python sets and
a day predicate (built by the tests from the same structure they render as text), and the
oracle walks every real minute, reading the wall clock through ``zoneinfo`` alone, and
applies Debian cron's daylight-saving rules literally:

* a wildcard job (minute or hour text starting with ``*``) fires at every instant whose
  wall time matches;
* a fixed-time job fires at an instant whose wall time matches unless that wall time was
  already seen (the second copy of a repeated hour), and once at the end of a gap for the
  wall times the gap swallowed.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

MINUTE = timedelta(minutes=1)
#: How far before the window the walk starts, to know which wall times were seen.
LEAD = timedelta(hours=3)


@dataclass(frozen=True)
class OracleSpec:
    """A schedule as sets: what the oracle evaluates (the tests render it as text too)."""

    data: dict[str, object]
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    day: Callable[[date], bool]
    wildcard: bool

    def matches(self, wall: datetime) -> bool:
        """Whether the minute ``wall`` (naive local) matches, seconds aside."""
        return wall.minute in self.minutes and wall.hour in self.hours and self.day(wall.date())


def fires(spec: OracleSpec, tz: tzinfo, low: datetime, high: datetime) -> list[datetime]:
    """Every fire in ``[low, high]`` (aware UTC), found by walking each real minute."""
    found: set[datetime] = set()
    moment = low.replace(second=0, microsecond=0) - LEAD
    previous_wall = _wall(moment - MINUTE, tz)
    latest_wall = previous_wall
    while moment <= high:
        wall = _wall(moment, tz)
        if wall - previous_wall > MINUTE and not spec.wildcard:
            # The clock jumped: the wall minutes in between never happened. A fixed-time
            # job due in them runs now, at the gap's end.
            skipped = previous_wall + MINUTE
            while skipped < wall:
                if spec.matches(skipped):
                    found.add(moment)
                skipped += MINUTE
        if spec.matches(wall) and (spec.wildcard or wall > latest_wall):
            found.update(moment + timedelta(seconds=s) for s in spec.seconds)
        latest_wall = max(latest_wall, wall)
        previous_wall = wall
        moment += MINUTE
    return sorted(f for f in found if low <= f <= high)


def _wall(moment: datetime, tz: tzinfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None, fold=0)


def transitions(tz: tzinfo, years: range) -> list[datetime]:
    """The instants (aware UTC) at which ``tz``'s offset changes in ``years``."""
    found = []
    moment = datetime(years.start, 1, 1, tzinfo=UTC)
    end = datetime(years.stop, 1, 1, tzinfo=UTC)
    step = timedelta(hours=1)
    offset = moment.astimezone(tz).utcoffset()
    while moment < end:
        later = moment + step
        if later.astimezone(tz).utcoffset() != offset:
            low, high = moment, later
            while high - low > MINUTE:
                middle = low + (high - low) / 2
                if middle.astimezone(tz).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            found.append(high.replace(second=0, microsecond=0))
            offset = later.astimezone(tz).utcoffset()
        moment = later
    return found


# -- day predicates ---------------------------------------------------------------------


def month_length(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def last_weekday_of_month(day: date) -> int:
    """The day of month of the last Monday-Friday day of ``day``'s month."""
    last = date(day.year, day.month, month_length(day))
    while last.weekday() >= 5:
        last -= timedelta(days=1)
    return last.day


def nth_of_month(day: date) -> int:
    """1 for the first seven days of the month, 2 for the next seven, ..."""
    return (day.day - 1) // 7 + 1


def is_last_of_its_weekday(day: date) -> bool:
    return day.day + 7 > month_length(day)
