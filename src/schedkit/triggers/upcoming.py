"""The upcoming fires of a trigger: one implementation for every preview (the API's
schedule editor, the CLI's ``schedkit next``, the console's upcoming list)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schedkit.models import ensure_utc, utcnow
from schedkit.triggers.runtime import Trigger, build_trigger
from schedkit.triggers.specs import CronSpec, DateSpec, IntervalSpec, ScheduleSpec

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


def upcoming(
    trigger: Trigger,
    n: int,
    start: datetime,
    *,
    first: datetime | None = None,
    allows: Callable[[datetime], bool] | None = None,
    budget: float | None = None,
) -> Upcoming:
    """The next ``n`` fires at or after ``start`` that ``allows`` admits (default: the
    trigger's business calendar). ``first`` is a fire already known (a schedule's stored
    next fire), the series continues from it. ``budget`` caps the search in seconds."""
    admit = allows or trigger.calendar_allows
    start = ensure_utc(start)
    stop_at = None if budget is None else time.monotonic() + budget
    fires: list[datetime] = []
    nominal = first if first is not None else trigger.next_fire_time(None, start)
    for _ in range(SCAN_LIMIT):
        if nominal is None or len(fires) >= n:
            return Upcoming(fires=fires, complete=True)
        if stop_at is not None and time.monotonic() > stop_at:
            break
        if nominal >= start and admit(nominal):
            fires.append(nominal)
        nominal = trigger.next_fire_time(nominal, start)
    return Upcoming(fires=fires, complete=len(fires) >= n)


def preview(
    spec: ScheduleSpec | CronSpec | IntervalSpec | DateSpec | Mapping[str, Any] | str,
    n: int = 5,
    *,
    now: datetime | None = None,
    default_timezone: str = "Asia/Shanghai",
) -> list[datetime]:
    """The next ``n`` nominal fires at or after ``now`` (aware, in the spec's zone).

    Days the business calendar excludes are left out; ``now`` must be aware.
    """
    schedule = ScheduleSpec.parse(spec, default_timezone=default_timezone)
    trigger = build_trigger(schedule.trigger)
    found = upcoming(trigger, n, utcnow() if now is None else now)
    return [fire.astimezone(trigger.timezone) for fire in found.fires]
