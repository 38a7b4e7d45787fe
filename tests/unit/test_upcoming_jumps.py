"""Previews jump over the days a business calendar excludes (a time audit: a fire every
15 seconds on the first workday of the month stepped 5,760 fires a day and, at the scan
limit, said "(no more fires)" two minutes later, for a schedule firing next month)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedkit.calendars import CalendarSet
from schedkit.models import Schedule
from schedkit.triggers import preview_upcoming
from schedkit.triggers.upcoming import PREVIEW_BUDGET, Stop
from tests.search_clocks import step_the_search_clock

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=SHANGHAI)


def test_a_frequent_fire_on_the_first_workday_is_found_next_month() -> None:
    spec = {
        "trigger": "cron",
        "expression": "*/15 * * * * *",
        "calendar": {"name": "cn_workdays", "nth": 1},
    }
    found = preview_upcoming(spec, 3, now=NOW)
    assert found.complete
    # 2027-01-01 is New Year's Day, 01-02 and 01-03 a weekend.
    assert [f.isoformat() for f in found.fires] == [
        "2027-01-04T00:00:00+08:00",
        "2027-01-04T00:00:15+08:00",
        "2027-01-04T00:00:30+08:00",
    ]
    assert all(d is not None and d.open for d in found.decisions)


def test_a_calendar_closed_for_years_stops_the_search_incomplete() -> None:
    """The 31st workday of a month never comes: not found, which is not "no more"."""
    spec = {"trigger": "cron", "hour": 9, "calendar": {"name": "cn_workdays", "nth": 31}}
    found = preview_upcoming(spec, 2, now=NOW)
    assert (found.fires, found.complete) == ([], False)


def test_a_series_ending_among_closed_days_has_no_more_fires() -> None:
    spec = {
        "trigger": "cron",
        "hour": 9,
        "end_date": "2026-12-20T00:00:00+08:00",
        "calendar": {"name": "cn_workdays", "nth": 3},
    }
    found = preview_upcoming(spec, 2, now=NOW)
    assert (found.fires, found.complete) == ([], True)


def test_fires_on_open_days_between_closed_ones_are_all_listed() -> None:
    """Hourly on workdays from a Friday evening: the weekend is jumped, Monday is whole."""
    spec = {"trigger": "cron", "expression": "0 * * * *", "calendar": "cn_workdays"}
    friday = datetime(2026, 12, 11, 22, 30, tzinfo=SHANGHAI)
    found = preview_upcoming(spec, 4, now=friday)
    assert [f.strftime("%a %H:%M") for f in found.fires] == [
        "Fri 23:00",
        "Mon 00:00",
        "Mon 01:00",
        "Mon 02:00",
    ]


def test_a_search_reaching_year_9999_ends_without_an_error() -> None:
    """A re-audit: weekends on the second weekday of the month never fire; the search
    (no budget) reached the end of the supported dates and raised OverflowError."""
    spec = {
        "trigger": "cron",
        "expression": "0 9 * * 6,0",
        "start_date": "9995-01-01T00:00:00+08:00",
        "calendar": {"name": "weekdays", "nth": 2},
    }
    found = preview_upcoming(spec, 3, now=NOW)
    assert found.fires == []


def test_a_listing_s_searches_are_bounded_in_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-audit: ``/stats?upcoming=100`` over schedules on rare calendar days searched a
    tenth of a second each, 11.5 s per request for any viewer. The searches of one
    listing take the preview budget in all; on a clock that moves 0.05 s per reading,
    a one-second budget reaches twenty schedules at most, not the hundred listed."""
    from schedkit.service import fire_searches

    class Clock:
        now = 0.0

        def monotonic(self) -> float:
            self.now += 0.05
            return self.now

    searched: list[str] = []
    real = fire_searches.upcoming

    def counted(trigger: Any, *args: Any, **kwargs: Any) -> Any:
        searched.append(str(kwargs["budget"]))
        return real(trigger, *args, **kwargs)

    monkeypatch.setattr(fire_searches, "upcoming", counted)
    rare = {"trigger": "cron", "hour": 9, "calendar": {"name": "cn_workdays", "nth": 3}}
    many = [
        Schedule(id=f"s{i}", task_name="t", trigger=rare, next_fire_time=NOW.astimezone(UTC))
        for i in range(100)
    ]
    searches = fire_searches.FireSearches(SHANGHAI, clock=Clock().monotonic)
    found = asyncio.run(searches.upcoming(many, 10, CalendarSet()))
    assert 0 < len(searched) <= 20, len(searched)
    assert all(float(b) <= PREVIEW_BUDGET / 10 for b in searched)
    assert not found.complete  # schedules were left unsearched: the answer says so


def test_a_stopped_search_says_why_and_how_far_it_looked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An audit: ``schedkit next`` blamed the calendar for any search that stopped short.
    The search tells a budget that ran out from a calendar that closed the trigger's days,
    and how far it looked."""
    step_the_search_clock(monkeypatch)
    # No calendar: the budget ran out among fires; nothing was closed.
    daily = preview_upcoming({"trigger": "cron", "hour": 9}, 10, now=NOW, budget=3.5)
    assert (len(daily.fires), daily.complete, daily.stopped) == (3, False, Stop.BUDGET)
    assert daily.searched_to == date(2026, 12, 9) and daily.closed_from is None
    # Sundays on a calendar open on weekdays only: every Sunday met is closed.
    sundays = {"trigger": "cron", "hour": 9, "day_of_week": "sun", "calendar": "weekdays"}
    closed = preview_upcoming(sundays, 2, now=NOW, budget=3.5)
    assert (closed.fires, closed.stopped) == ([], Stop.BUDGET)
    assert closed.closed_from == date(2026, 12, 13)  # the first Sunday from the Monday
    assert closed.searched_to == date(2026, 12, 27)
    # The 31st workday never comes: two horizons without an open day end the search.
    monkeypatch.undo()
    never = {"trigger": "cron", "hour": 9, "calendar": {"name": "cn_workdays", "nth": 31}}
    found = preview_upcoming(never, 2, now=NOW)
    assert (found.stopped, found.closed_from) == (Stop.CLOSED, date(2026, 12, 7))
    assert found.searched_to is not None and found.searched_to > date(2030, 1, 1)
    # Complete: no reason, nothing closed.
    done = preview_upcoming(sundays | {"calendar": "all"}, 2, now=NOW)
    assert (done.complete, done.stopped, done.closed_from) == (True, None, None)


def test_a_calendar_closing_every_day_the_trigger_fires_on_ends_the_search() -> None:
    """Saturdays on ``cn_workdays``: after the last make-up Saturday a notice opens, open
    days exist every week but never on a Saturday. Without a budget (``schedkit next``'s
    Python twin, ``preview``) the search stepped week by week to its scan limit: 30 s, to
    the year 3943. Years in which the calendar allows none of the fires end it."""
    saturdays = {"trigger": "cron", "hour": 9, "day_of_week": "sat", "calendar": "cn_workdays"}
    started = time.monotonic()
    found = preview_upcoming(saturdays, 5, now=NOW)
    assert time.monotonic() - started < 3
    assert (found.fires, found.complete, found.stopped) == ([], False, Stop.CLOSED)
    assert found.closed_from == date(2026, 12, 12)  # the first Saturday searched
    assert found.searched_to is not None and date(2030, 1, 1) < found.searched_to < date(2032, 1, 1)
    # A Saturday a notice makes a workday is found, within the years searched.
    a_year_with_one = datetime(2026, 9, 1, tzinfo=SHANGHAI)
    found = preview_upcoming(saturdays, 1, now=a_year_with_one)
    assert found.complete and found.fires[0].weekday() == 5
