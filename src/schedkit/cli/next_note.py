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

from .render import Lang

_STOPPED: dict[Stop, dict[Lang, str]] = {
    Stop.BUDGET: {
        "en": "the search stopped after {seconds:g} s, having looked up to {to}",
        "zh": "搜索在 {seconds:g} 秒后停止，已查到 {to}",
    },
    Stop.SCAN_LIMIT: {
        "en": "the search stopped after {limit:,} fires, having looked up to {to}",
        "zh": "搜索在检查 {limit:,} 次触发后停止，已查到 {to}",
    },
    Stop.CLOSED: {
        "en": "the search stopped at {to}, after years without an open day",
        "zh": "搜索查到 {to} 为止：连续数年没有开放日",
    },
}
_CLOSED: dict[Lang, str] = {
    "en": "(no further fire found: {stopped}; calendar {calendar} is closed on every day "
    "the trigger fires on from {since} to {to})",
    "zh": "（未找到更多触发：{stopped}；日历 {calendar} 在 {since} 至 {to} 期间，"
    "触发器的每个触发日都不开放）",
}
_UNSEARCHED: dict[Lang, str] = {
    "en": "({found} of {asked} fires found: {stopped}; later fires were not searched)",
    "zh": "（找到 {found}/{asked} 次触发：{stopped}；之后的触发未再查找）",
}
_NO_MORE: dict[Lang, str] = {"en": "(no more fires)", "zh": "（没有更多触发）"}


def note(
    found: Upcoming, asked: int, *, calendar: str | None, budget: float, lang: Lang
) -> str | None:
    """The line under ``found`` (a preview of ``asked`` fires), None when it has them all;
    ``budget``: the seconds the search was given."""
    if found.complete:
        return _NO_MORE[lang] if len(found.fires) < asked else None
    to = _day(found.searched_to)
    stopped = _STOPPED[found.stopped or Stop.BUDGET][lang].format(
        seconds=budget, limit=SCAN_LIMIT, to=to
    )
    if calendar is not None and found.closed_from is not None:
        return _CLOSED[lang].format(
            stopped=stopped, calendar=calendar, since=_day(found.closed_from), to=to
        )
    return _UNSEARCHED[lang].format(found=len(found.fires), asked=asked, stopped=stopped)


def _day(day: date | None) -> str:
    return "-" if day is None else day.isoformat()
