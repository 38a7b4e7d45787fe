"""The next fire each schedule may run at, as everything that shows one says it.

A schedule's stored next fire is nominal: the engine records a nominal fire on a day
its business calendar excludes as a skipped run. Shown as the next run (the console,
the API, the CLI, :meth:`Scheduler.get_job_info`), it would announce a run that never
happens; what they show is the first fire from there that the calendar allows.
"""

from __future__ import annotations

from collections.abc import Iterable

from schedkit.calendars import referenced_names
from schedkit.models import Schedule
from schedkit.service.calendars import CalendarDesk
from schedkit.service.fire_searches import FireSearches
from schedkit.triggers import AllowedFire

__all__ = ["allowed_fires"]


async def allowed_fires(
    calendars: CalendarDesk,
    searches: FireSearches,
    schedules: Iterable[Schedule],
    *,
    deadline: float | None = None,
) -> dict[str, AllowedFire]:
    """The next fire each schedule neither paused nor ended may run at, by id: its stored
    (nominal) next fire, or for one with a business calendar the first fire from there
    that the calendar allows (:func:`schedkit.triggers.allowed_fire`). The calendars
    named are read from the store once for all the schedules; the searches are
    ``searches``' (off the event loop, within ``deadline`` or a second of their own,
    results kept while nothing they depend on changes)."""
    active = [s for s in schedules if not s.paused and s.next_fire_time is not None]
    names = referenced_names(s.trigger for s in active)
    if not names:  # no calendar: nothing to read, nothing to search
        return {s.id: AllowedFire(fire=s.next_fire_time) for s in active}
    snapshot = await calendars.snapshot(names)
    return await searches.allowed(active, snapshot, deadline=deadline)
