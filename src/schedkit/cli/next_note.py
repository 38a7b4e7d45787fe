"""What ``schedkit next`` says under a list shorter than asked for.

It said "the calendar excludes nearly all" whenever the search stopped, also for a
schedule without a calendar (its budget ran out) and for a calendar that excludes every
day the trigger fires on, not nearly all (an audit). The note now says how far the search
looked and why it stopped, and blames the calendar only when the search saw it close
every day the trigger fires on after the last fire listed.
"""

from __future__ import annotations

from datetime import date

from schedkit.triggers.upcoming import SCAN_LIMIT, Stop, Upcoming

from .words import Lang, fill


def note(
    found: Upcoming, asked: int, *, calendar: str | None, budget: float, lang: Lang
) -> str | None:
    """The line under ``found`` (a preview of ``asked`` fires), None when it has them all;
    ``budget``: the seconds the search was given."""
    if found.complete:
        return fill("next no more", lang) if len(found.fires) < asked else None
    to = _day(found.searched_to)
    why = (found.stopped or Stop.BUDGET).value
    stopped = fill(f"next stopped {why}", lang, seconds=budget, limit=SCAN_LIMIT, to=to)
    if calendar is not None and found.closed_from is not None:
        return fill(
            "next closed",
            lang,
            stopped=stopped,
            calendar=calendar,
            since=_day(found.closed_from),
            to=to,
        )
    return fill("next unsearched", lang, found=len(found.fires), asked=asked, stopped=stopped)


def _day(day: date | None) -> str:
    return "-" if day is None else day.isoformat()
