"""Previews jump over the days a business calendar excludes (a time audit: a fire every
15 seconds on the first workday of the month stepped 5,760 fires a day and, at the scan
limit, said "(no more fires)" two minutes later, for a schedule firing next month)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedkit.models import Schedule
from schedkit.triggers import preview_upcoming
from schedkit.triggers.upcoming import PREVIEW_BUDGET

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
    from schedkit.readmodels import schedules as listing

    class Clock:
        now = 0.0

        def monotonic(self) -> float:
            self.now += 0.05
            return self.now

    searched: list[str] = []
    real = listing.upcoming

    def counted(trigger: Any, *args: Any, **kwargs: Any) -> Any:
        searched.append(str(kwargs["budget"]))
        return real(trigger, *args, **kwargs)

    monkeypatch.setattr(listing, "time", Clock())
    monkeypatch.setattr(listing, "upcoming", counted)
    rare = {"trigger": "cron", "hour": 9, "calendar": {"name": "cn_workdays", "nth": 3}}
    many = [
        Schedule(id=f"s{i}", task_name="t", trigger=rare, next_fire_time=NOW.astimezone(UTC))
        for i in range(100)
    ]
    listing.upcoming_fires(many, SHANGHAI, 10, None)
    assert 0 < len(searched) <= 20, len(searched)
    assert all(float(b) <= PREVIEW_BUDGET / 10 for b in searched)
