"""The upcoming fires of a trigger: one implementation for every preview (the API's
schedule editor, the CLI's ``schedkit next``, the console's upcoming list).

A trigger with a business calendar is judged against a :class:`CalendarSet` (the store's
calendars read by the caller; the built-in ones when none is given). Each fire found
carries the calendar's decision (which source said the day is open, and whether that is
confirmed), and the preview lists the calendar's warnings for the years it reaches: a
year no source confirms is said, never silently guessed.

:func:`allowed_fire` answers the same question for one fire, from a schedule's stored
(nominal) next fire, for every schedule a listing shows: it jumps over the days the
calendar excludes instead of stepping through each fire on them.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as wall_time
from typing import Any

from schedkit.calendars.catalog import CalendarSet
from schedkit.calendars.coverage import DEFAULT_HORIZON, CalendarWarning
from schedkit.calendars.decide import DayDecision
from schedkit.calendars.rules import CalendarRef
from schedkit.errors import CalendarNotFoundError
from schedkit.models import ensure_utc, utcnow
from schedkit.triggers.runtime import Trigger, build_trigger
from schedkit.triggers.specs import CronSpec, DateSpec, IntervalSpec, ScheduleSpec

_log = logging.getLogger(__name__)

#: Seconds a preview made for a person may search: a business calendar excluding nearly
#: every fire must not hold a request, a command or an event loop for long.
PREVIEW_BUDGET = 1.0

#: Nominal fires examined at most per preview, so that a business calendar excluding
#: (nearly) every fire ends the search.
SCAN_LIMIT = 100_000

#: How far past a nominal fire's day :func:`allowed_fire` looks for a day the calendar
#: allows: past the years any calendar is known for, and room for rare matches such as
#: "the 3rd workday of the month, if it is a Monday".
ALLOWED_HORIZON = timedelta(days=2 * 366)


class Stop(enum.StrEnum):
    """Why a search ended before it found the fires asked for (not "no more fires")."""

    #: Its time budget ran out.
    BUDGET = "budget"
    #: It examined :data:`SCAN_LIMIT` nominal fires.
    SCAN_LIMIT = "scan_limit"
    #: The business calendar allowed none of the trigger's fires for two
    #: :data:`ALLOWED_HORIZON` in a row: no open day at all, or none on a day the trigger
    #: fires on (Saturdays on ``cn_workdays`` past the years a notice makes some open).
    CLOSED = "calendar_closed"


@dataclass(frozen=True, kw_only=True, slots=True)
class Upcoming:
    #: Nominal fires, aware UTC, earliest first.
    fires: list[datetime]
    #: False when the search stopped at its budget or scan limit before finding as
    #: many fires as asked (a schedule that fires rarely or never); True when it found
    #: them all or the trigger has no more.
    complete: bool
    #: The business calendar's decision for each fire (same order), None without one.
    decisions: list[DayDecision | None] = field(default_factory=list)
    #: The calendar's years from the first fire found to the last (at least the
    #: warning horizon) that no source confirms (empty without a calendar).
    warnings: list[CalendarWarning] = field(default_factory=list)
    #: Why an incomplete search ended (None when complete): what a preview says instead
    #: of blaming the calendar for a budget that ran out (an audit).
    stopped: Stop | None = None
    #: The last local day the search looked at (its fires' zone); None before any.
    searched_to: date | None = None
    #: For an incomplete search: the first of the days after the last fire found that
    #: the trigger fires on, when the calendar closes all of them up to ``searched_to``
    #: (the calendar is why no more were found); None when it is not the calendar.
    closed_from: date | None = None


def upcoming(
    trigger: Trigger,
    n: int,
    start: datetime,
    *,
    first: datetime | None = None,
    calendars: CalendarSet | None = None,
    budget: float | None = None,
    lang: str = "en",
) -> Upcoming:
    """The next ``n`` fires at or after ``start`` that the trigger's business calendar
    (looked up in ``calendars``, default the built-in ones) admits. ``first`` is a fire
    already known (a schedule's stored next fire), the series continues from it.
    ``budget`` caps the search in seconds; the decisions' notes (an Nth-day rule's
    words) are in ``lang``. A calendar name ``calendars`` does not hold
    raises CalendarNotFoundError; without ``first``, a trigger whose first fire is past
    the supported dates ValidationError (:meth:`Trigger.first_fire`).

    The days the calendar excludes are jumped over, not stepped through fire by fire: a
    fire every 15 seconds on "the first workday of the month" scanned 5,760 fires a day
    (and gave up, at :data:`SCAN_LIMIT`, before the next month); a calendar without an
    open day for two horizons ends the search (it took minutes)."""
    books = calendars if calendars is not None else CalendarSet()
    ref = trigger.calendar
    if ref is not None:
        books.calendar(ref.name)  # an unknown calendar is an error, not "no fires"
    days = OpenDays(books)
    decided: dict[date, DayDecision] = {}
    closed_horizons = 0
    start = ensure_utc(start)
    stop_at = None if budget is None else time.monotonic() + budget
    fires: list[datetime] = []
    decisions: list[DayDecision | None] = []
    nominal = first if first is not None else trigger.first_fire(start)
    stopped: Stop | None = Stop.SCAN_LIMIT
    searched_to: date | None = None
    # Every nominal fire met since the last one found was on a day the calendar closes
    # (a jump passes only such days): from which day, when that is why none was found.
    closed_from: date | None = None
    for _ in range(SCAN_LIMIT):
        if nominal is None or len(fires) >= n:
            stopped = None
            break
        if stop_at is not None and time.monotonic() > stop_at:
            stopped = Stop.BUDGET
            break
        if nominal >= start:
            searched_to = trigger.local_day(nominal)
        if nominal >= start and ref is None:
            fires.append(nominal)
            decisions.append(None)
        elif nominal >= start and ref is not None:
            day = trigger.local_day(nominal)
            if not days.allows(ref, day):
                closed_from = closed_from or day
                if day - closed_from > 2 * ALLOWED_HORIZON:
                    # Open days exist but never on the trigger's: without this, a search
                    # stepped week by week to its scan limit (30 s, 1,900 years).
                    stopped = Stop.CLOSED
                    break
                try:
                    following = days.next_open(ref, day)
                    if following is None:
                        # No open day within the horizon: past it (the series may end
                        # there: "no more fires"); two such horizons in a row: none
                        # found, which is not "no more" (complete stays false).
                        searched_to = day + ALLOWED_HORIZON
                        closed_horizons += 1
                        if closed_horizons > 1:
                            stopped = Stop.CLOSED
                            break
                        following = day + ALLOWED_HORIZON + timedelta(days=1)
                except OverflowError:  # the horizon runs past year 9999: no more fires
                    nominal = None
                    continue
                opens = datetime.combine(following, wall_time(), tzinfo=trigger.timezone)
                stepped = trigger.next_fire_time(nominal, start)
                # A sparse trigger's next fire is past the closed days already: a step.
                jump = stepped is not None and stepped < opens
                nominal = trigger.fire_at_or_after(nominal, opens) if jump else stepped
                continue
            closed_horizons = 0
            closed_from = None
            if day not in decided:
                decided[day] = books.allows(ref, day, lang=lang)
            fires.append(nominal)
            decisions.append(decided[day])
        nominal = trigger.next_fire_time(nominal, start)
    warnings: list[CalendarWarning] = []
    if ref is not None:
        # From the first fire found (the start without one) to the last, and at least
        # the usual horizon: the years this preview's days depend on.
        today = trigger.local_day(fires[0] if fires else start)
        horizon = DEFAULT_HORIZON
        if fires:
            horizon = max(horizon, trigger.local_day(fires[-1]) - today)
        warnings = books.warnings([ref.name], today=today, horizon=horizon)
    complete = stopped is None or len(fires) >= n
    return Upcoming(
        fires=fires,
        complete=complete,
        decisions=decisions,
        warnings=warnings,
        stopped=None if complete else stopped,
        searched_to=searched_to,
        closed_from=None if complete else closed_from,
    )


def preview_upcoming(
    spec: ScheduleSpec | CronSpec | IntervalSpec | DateSpec | Mapping[str, Any] | str,
    n: int = 5,
    *,
    now: datetime | None = None,
    default_timezone: str = "Asia/Shanghai",
    calendars: CalendarSet | None = None,
    budget: float | None = None,
    lang: str = "en",
) -> Upcoming:
    """:func:`preview` with each fire's calendar decision (its note in ``lang``) and the
    calendar warnings (fires in the spec's zone); ``complete`` is false when the search
    stopped at ``budget`` seconds or its scan limit (``stopped`` says which,
    ``searched_to`` how far it got, ``closed_from`` whether the calendar is why)."""
    schedule = ScheduleSpec.parse(spec, default_timezone=default_timezone)
    trigger = build_trigger(schedule.trigger)
    when = utcnow() if now is None else now
    found = upcoming(trigger, n, when, calendars=calendars, budget=budget, lang=lang)
    return dataclasses.replace(
        found, fires=[fire.astimezone(trigger.timezone) for fire in found.fires]
    )


def preview(
    spec: ScheduleSpec | CronSpec | IntervalSpec | DateSpec | Mapping[str, Any] | str,
    n: int = 5,
    *,
    now: datetime | None = None,
    default_timezone: str = "Asia/Shanghai",
    calendars: CalendarSet | None = None,
    budget: float | None = None,
) -> list[datetime]:
    """The next ``n`` nominal fires at or after ``now`` (aware, in the spec's zone).

    Days the business calendar excludes are left out; ``now`` must be aware. A year of
    the calendar no source confirms is logged as a warning (:func:`preview_upcoming`
    returns the warnings and which source decided each day). ``budget``: seconds the
    search may take (fewer fires when it stops there).
    """
    found = preview_upcoming(
        spec, n, now=now, default_timezone=default_timezone, calendars=calendars, budget=budget
    )
    for warning in found.warnings:
        _log.warning("%s", warning.message())
    return found.fires


class Blocked(enum.StrEnum):
    """Why a schedule that has a nominal next fire has no fire its calendar allows."""

    #: The calendar is neither stored nor built in: the engine skips every fire.
    MISSING = "calendar_missing"
    #: The calendar allows none of the fires within :data:`ALLOWED_HORIZON` (``until``
    #: says the last day looked at), or none of those left before the series ends.
    CLOSED = "calendar_closed"
    #: The caller's deadline passed before this schedule's search began.
    UNSEARCHED = "not_searched"


@dataclass(frozen=True, kw_only=True, slots=True)
class AllowedFire:
    """The next fire a schedule's business calendar allows, or why there is none."""

    #: Aware UTC; None when ``blocked`` says why.
    fire: datetime | None
    blocked: Blocked | None = None
    #: For CLOSED: the last local day looked at; None when the series ends before it.
    until: date | None = None


class OpenDays:
    """The local dates calendar references allow, each decided once against one reading
    of the calendars: the schedules of a listing share their calendars' days (an Nth-day
    rule decides its whole month per day asked)."""

    def __init__(self, calendars: CalendarSet) -> None:
        self.calendars = calendars
        self._open: dict[tuple[str, int | None, date], bool] = {}
        self._next: dict[tuple[str, int | None, date], date | None] = {}

    def allows(self, ref: CalendarRef, day: date) -> bool:
        """Whether ``ref`` allows ``day``; CalendarNotFoundError for an unknown calendar."""
        key = (ref.name, ref.nth, day)
        found = self._open.get(key)
        if found is None:
            found = self._open[key] = self.calendars.allows(ref, day).open
        return found

    def next_open(self, ref: CalendarRef, day: date) -> date | None:
        """The first day after ``day`` that ``ref`` allows, within :data:`ALLOWED_HORIZON`."""
        key = (ref.name, ref.nth, day)
        if key not in self._next:
            found = None
            candidate = day
            for _ in range(ALLOWED_HORIZON.days):
                candidate += timedelta(days=1)
                if self.allows(ref, candidate):
                    found = candidate
                    break
            self._next[key] = found
        return self._next[key]


def allowed_fire(
    trigger: Trigger, nominal: datetime, days: OpenDays, *, deadline: float | None = None
) -> AllowedFire:
    """The first fire from ``nominal`` (a fire of ``trigger``: a schedule's stored next
    fire) that the trigger's business calendar allows, judged by ``days``: the fire
    :func:`upcoming` lists first from there, and the one the engine runs (it records
    the fires before it as skipped). Looks :data:`ALLOWED_HORIZON` past ``nominal``'s
    day; a search still needed after ``deadline`` (``time.monotonic()``) is not made."""
    ref = trigger.calendar
    if ref is None:
        return AllowedFire(fire=nominal)
    fire: datetime | None = nominal
    try:
        last = trigger.local_day(nominal) + ALLOWED_HORIZON
        while fire is not None:
            day = trigger.local_day(fire)
            if day > last:
                return AllowedFire(fire=None, blocked=Blocked.CLOSED, until=last)
            if days.allows(ref, day):
                return AllowedFire(fire=fire)
            if deadline is not None and time.monotonic() > deadline:
                return AllowedFire(fire=None, blocked=Blocked.UNSEARCHED)
            following = days.next_open(ref, day)
            if following is None or following > last:
                return AllowedFire(fire=None, blocked=Blocked.CLOSED, until=last)
            # Every fire before that day's start is on a day the calendar excludes.
            start = datetime.combine(following, wall_time(), tzinfo=trigger.timezone)
            fire = trigger.fire_at_or_after(fire, start)
    except CalendarNotFoundError:
        return AllowedFire(fire=None, blocked=Blocked.MISSING)
    except OverflowError:  # the horizon or the series runs past year 9999
        pass
    return AllowedFire(fire=None, blocked=Blocked.CLOSED)
