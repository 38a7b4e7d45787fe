"""Interval triggers: a fixed length of real time between fires (DST cannot stretch it).

With ``start_date`` the fires lie on the grid ``start_date + k × length``; without one,
the first fire is one length after ``now``. Arithmetic is exact (``timedelta``), so a grid
never drifts by float rounding; a fire past year 9999 raises OverflowError (the caller,
:class:`schedkit.triggers.Trigger`, decides what the end of the dates means).
"""

from __future__ import annotations

from datetime import datetime, timedelta


def next_interval_fire(
    length: timedelta,
    start: datetime | None,
    end: datetime | None,
    previous: datetime | None,
    now: datetime,
) -> datetime | None:
    """The next fire (aware UTC) of an interval trigger; see Trigger.next_fire_time."""
    if previous is not None:
        fire = previous + length
    elif start is None:
        fire = now + length
    elif start >= now:
        fire = start
    else:
        # The first grid point at or after now: ceil((now - start) / length).
        fire = start + length * -((start - now) // length)
    if end is not None and fire > end:
        return None
    return fire
