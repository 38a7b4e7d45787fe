"""``allowed_fire``: the next fire a business calendar allows, from a schedule's stored
nominal fire. It jumps over the days the calendar excludes; the answer must be the one
the preview loop (``upcoming``, fire by fire) gives, for every kind of trigger."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedkit.calendars import Base, Calendar, CalendarSet, Override, OverrideKind
from schedkit.triggers import (
    AllowedFire,
    Blocked,
    OpenDays,
    Trigger,
    allowed_fire,
    build_trigger,
    upcoming,
)
from schedkit.triggers.upcoming import ALLOWED_HORIZON

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: A trading calendar open on three days of October 2025 only.
SPOT = Calendar(
    name="spot",
    base=Base.NONE,
    overrides=tuple(
        Override(date=date(2025, 10, d), open=True, kind=OverrideKind.TRADING_DAY)
        for d in (9, 10, 20)
    ),
)
BOOKS = CalendarSet(calendars={"spot": SPOT})
#: Every series ends, so that the fire-by-fire loop ends too where no day is allowed.
END = "2026-06-30T00:00:00"

TRIGGERS: list[dict[str, Any]] = [
    {"trigger": "cron", "hour": 6},
    {"trigger": "cron", "expression": "30 9-17/2 * * 1-5"},
    {"trigger": "cron", "expression": "0 10 * * 0"},  # Sundays only
    {"trigger": "interval", "hours": 5},
    {"trigger": "interval", "hours": 36, "start_date": "2025-09-01T01:00:00"},
    # Santiago moves its clocks at midnight: some days have no 00:00 (nor 00:30).
    {"trigger": "cron", "hour": 0, "minute": 30, "timezone": "America/Santiago"},
]
CALENDARS: list[Any] = [
    "cn_workdays",
    "weekdays",
    "spot",
    {"name": "cn_workdays", "nth": 3},
    {"name": "cn_workdays", "nth": "last"},
]
#: Around the National Day and New Year breaks, the Spring Festival 2026 and Santiago's
#: clock changes (September and April) ...
STARTS = [
    datetime(2025, 9, 5),
    datetime(2025, 9, 26),
    datetime(2025, 12, 31),
    datetime(2026, 2, 13),
]
#: ... the nominal fires searched from: the first at or after each of these days.
DAYS_AFTER = (0, 1, 3, 8)


def trigger(spec: dict[str, Any], calendar: Any) -> Trigger:
    return build_trigger({**spec, "calendar": calendar, "end_date": END})


def stepped(t: Trigger, nominal: datetime, books: CalendarSet) -> datetime | None:
    """The preview loop's answer: each fire from ``nominal`` in turn until one is allowed."""
    found = upcoming(t, 1, nominal, first=nominal, calendars=books)
    assert found.complete
    return found.fires[0] if found.fires else None


@pytest.mark.parametrize("spec", TRIGGERS, ids=lambda s: str(list(s.values())[1:]))
@pytest.mark.parametrize("calendar", CALENDARS, ids=str)
def test_the_jump_finds_what_the_preview_loop_finds(spec: dict[str, Any], calendar: Any) -> None:
    t = trigger(spec, calendar)
    days = OpenDays(BOOKS)  # shared by every search, as in a listing
    for start in STARTS:
        for after in DAYS_AFTER:
            nominal = t.next_fire_time(
                None, (start + timedelta(days=after)).replace(tzinfo=SHANGHAI)
            )
            assert nominal is not None
            got = allowed_fire(t, nominal, days)
            assert got.fire == stepped(t, nominal, BOOKS), (nominal, got)
            assert got.blocked is (None if got.fire is not None else Blocked.CLOSED)


def test_a_fire_the_calendar_allows_is_its_own_answer() -> None:
    t = build_trigger({"trigger": "cron", "hour": 6, "calendar": "weekdays"})
    monday = datetime(2030, 1, 7, 6, tzinfo=SHANGHAI).astimezone(UTC)
    # ... without a search, so even when the request's time has run out.
    expired = time.monotonic() - 1
    assert allowed_fire(t, monday, OpenDays(CalendarSet()), deadline=expired) == AllowedFire(
        fire=monday
    )
    saturday = monday - timedelta(days=2)
    assert allowed_fire(t, saturday, OpenDays(CalendarSet())).fire == monday
    assert allowed_fire(t, saturday, OpenDays(CalendarSet()), deadline=expired) == AllowedFire(
        fire=None, blocked=Blocked.UNSEARCHED
    )


def test_without_a_calendar_the_nominal_fire_is_the_answer() -> None:
    t = build_trigger({"trigger": "interval", "minutes": 5})
    nominal = datetime(2030, 1, 5, tzinfo=UTC)
    assert allowed_fire(t, nominal, OpenDays(CalendarSet())) == AllowedFire(fire=nominal)


def test_an_unknown_calendar_is_said() -> None:
    t = build_trigger({"trigger": "cron", "hour": 6, "calendar": "ghost"})
    nominal = datetime(2030, 1, 5, tzinfo=UTC)
    assert allowed_fire(t, nominal, OpenDays(CalendarSet())) == AllowedFire(
        fire=None, blocked=Blocked.MISSING
    )


def test_a_calendar_open_on_no_day_is_searched_up_to_the_horizon() -> None:
    t = build_trigger({"trigger": "cron", "hour": 6, "calendar": "spot"})
    nominal = datetime(2030, 1, 5, 6, tzinfo=SHANGHAI)
    got = allowed_fire(t, nominal, OpenDays(BOOKS))
    assert got == AllowedFire(
        fire=None, blocked=Blocked.CLOSED, until=date(2030, 1, 5) + ALLOWED_HORIZON
    )


def test_a_one_off_fire_on_a_closed_day_has_no_allowed_fire() -> None:
    t = build_trigger(
        {"trigger": "date", "run_date": "2030-01-05T06:00:00", "calendar": "weekdays"}
    )
    nominal = datetime(2030, 1, 5, 6, tzinfo=SHANGHAI)
    assert allowed_fire(t, nominal, OpenDays(CalendarSet())) == AllowedFire(
        fire=None, blocked=Blocked.CLOSED
    )


def test_an_interval_keeps_its_grid_over_the_closed_days() -> None:
    # Every 7 hours from Saturday 03:00: 10:00, 17:00, Sunday 00:00, ... Monday 04:00.
    t = build_trigger({"trigger": "interval", "hours": 7, "calendar": "weekdays"})
    saturday = datetime(2030, 1, 5, 3, tzinfo=SHANGHAI)
    assert allowed_fire(t, saturday, OpenDays(CalendarSet())).fire == datetime(
        2030, 1, 7, 4, tzinfo=SHANGHAI
    )
