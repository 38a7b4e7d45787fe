"""The next fire each schedule may run at, as everything that shows one says it.

A schedule's stored next fire is nominal: the engine records a nominal fire on a day
its business calendar excludes as a skipped run. Shown as the next run (the console,
the API, the CLI, :meth:`Scheduler.get_job_info`), it would announce a run that never
happens; what they show is the first fire from there that the calendar allows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import tzinfo

from schedkit.calendars import CalendarSet, referenced_names
from schedkit.errors import ValidationError
from schedkit.models import Schedule
from schedkit.service.calendars import CalendarDesk
from schedkit.triggers import AllowedFire, OpenDays, allowed_fire, trigger_from_json

__all__ = ["ALLOWED_BUDGET", "allowed_fires"]

#: Seconds one call may search for the fires calendars allow, all its schedules together
#: (a calendar excluding nearly every fire must not hold a request, or the event loop,
#: for long; a schedule whose nominal fire the calendar allows needs no search).
ALLOWED_BUDGET = 1.0


async def allowed_fires(
    calendars: CalendarDesk, tz: tzinfo, schedules: Iterable[Schedule]
) -> dict[str, AllowedFire]:
    """The next fire each schedule neither paused nor ended may run at, by id: its stored
    (nominal) next fire, or for one with a business calendar the first fire from there
    that the calendar allows (:func:`schedkit.triggers.allowed_fire`). The calendars
    named are read from the store once for all the schedules, and the search runs off
    the event loop, :data:`ALLOWED_BUDGET` seconds at most in all."""
    active = {s.id: s for s in schedules if not s.paused and s.next_fire_time is not None}
    names = referenced_names(s.trigger for s in active.values())
    if not names:  # no calendar: nothing to read, nothing to search
        return {sid: AllowedFire(fire=s.next_fire_time) for sid, s in active.items()}
    snapshot = await calendars.snapshot(names)
    return await asyncio.to_thread(_allowed, list(active.values()), str(tz), snapshot)


def _allowed(
    schedules: list[Schedule], default_zone: str, calendars: CalendarSet
) -> dict[str, AllowedFire]:
    days = OpenDays(calendars)
    deadline = time.monotonic() + ALLOWED_BUDGET
    found: dict[str, AllowedFire] = {}
    for schedule in schedules:
        nominal = schedule.next_fire_time
        assert nominal is not None  # allowed_fires passes only schedules with one
        found[schedule.id] = AllowedFire(fire=nominal)
        if not schedule.trigger.get("calendar"):
            continue
        try:
            trigger = trigger_from_json(schedule.trigger, default_timezone=default_zone)
        except ValidationError:  # a stored trigger the current code cannot read: as stored
            continue
        found[schedule.id] = allowed_fire(trigger, nominal, days, deadline=deadline)
    return found
