"""The upcoming fires of a trigger: one implementation for every preview (the API's
schedule editor, the CLI's ``schedkit next``, the console's upcoming list).

A trigger with a business calendar is judged against a :class:`CalendarSet` (the store's
calendars read by the caller; the built-in ones when none is given). Each fire found
carries the calendar's decision (which source said the day is open, and whether that is
confirmed), and the preview lists the calendar's warnings for the years it reaches: a
year no source confirms is said, never silently guessed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schedkit.calendars.catalog import CalendarSet
from schedkit.calendars.coverage import DEFAULT_HORIZON, CalendarWarning
from schedkit.calendars.decide import DayDecision
from schedkit.models import ensure_utc, utcnow
from schedkit.triggers.runtime import Trigger, build_trigger
from schedkit.triggers.specs import CronSpec, DateSpec, IntervalSpec, ScheduleSpec

_log = logging.getLogger(__name__)

#: Nominal fires examined at most per preview, so that a business calendar excluding
#: (nearly) every fire ends the search.
SCAN_LIMIT = 100_000


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


def upcoming(
    trigger: Trigger,
    n: int,
    start: datetime,
    *,
    first: datetime | None = None,
    calendars: CalendarSet | None = None,
    budget: float | None = None,
) -> Upcoming:
    """The next ``n`` fires at or after ``start`` that the trigger's business calendar
    (looked up in ``calendars``, default the built-in ones) admits. ``first`` is a fire
    already known (a schedule's stored next fire), the series continues from it.
    ``budget`` caps the search in seconds. A calendar name ``calendars`` does not hold
    raises CalendarNotFoundError."""
    books = calendars if calendars is not None else CalendarSet()
    ref = trigger.calendar
    if ref is not None:
        books.calendar(ref.name)  # an unknown calendar is an error, not "no fires"
    start = ensure_utc(start)
    stop_at = None if budget is None else time.monotonic() + budget
    fires: list[datetime] = []
    decisions: list[DayDecision | None] = []
    nominal = first if first is not None else trigger.next_fire_time(None, start)
    complete = False
    for _ in range(SCAN_LIMIT):
        if nominal is None or len(fires) >= n:
            complete = True
            break
        if stop_at is not None and time.monotonic() > stop_at:
            break
        if nominal >= start:
            decision = None if ref is None else books.allows(ref, trigger.local_day(nominal))
            if decision is None or decision.open:
                fires.append(nominal)
                decisions.append(decision)
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
    return Upcoming(
        fires=fires,
        complete=complete or len(fires) >= n,
        decisions=decisions,
        warnings=warnings,
    )


def preview_upcoming(
    spec: ScheduleSpec | CronSpec | IntervalSpec | DateSpec | Mapping[str, Any] | str,
    n: int = 5,
    *,
    now: datetime | None = None,
    default_timezone: str = "Asia/Shanghai",
    calendars: CalendarSet | None = None,
) -> Upcoming:
    """:func:`preview` with each fire's calendar decision and the calendar warnings
    (fires in the spec's zone)."""
    schedule = ScheduleSpec.parse(spec, default_timezone=default_timezone)
    trigger = build_trigger(schedule.trigger)
    found = upcoming(trigger, n, utcnow() if now is None else now, calendars=calendars)
    local = [fire.astimezone(trigger.timezone) for fire in found.fires]
    return Upcoming(
        fires=local, complete=found.complete, decisions=found.decisions, warnings=found.warnings
    )


def preview(
    spec: ScheduleSpec | CronSpec | IntervalSpec | DateSpec | Mapping[str, Any] | str,
    n: int = 5,
    *,
    now: datetime | None = None,
    default_timezone: str = "Asia/Shanghai",
    calendars: CalendarSet | None = None,
) -> list[datetime]:
    """The next ``n`` nominal fires at or after ``now`` (aware, in the spec's zone).

    Days the business calendar excludes are left out; ``now`` must be aware. A year of
    the calendar no source confirms is logged as a warning (:func:`preview_upcoming`
    returns the warnings and which source decided each day).
    """
    found = preview_upcoming(
        spec, n, now=now, default_timezone=default_timezone, calendars=calendars
    )
    for warning in found.warnings:
        _log.warning("%s", warning.message())
    return found.fires
