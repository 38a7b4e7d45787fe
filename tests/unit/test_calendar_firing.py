"""Schedules judged by business calendars: previews and the firing check name the source
that decided each day, and a year no source confirms is a warning, never a silent
Monday–Friday guess (issue #14)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from schedkit.calendars import Base, Calendar, CalendarSet, DayTable, Override, OverrideKind
from schedkit.engine.planning import calendar_check
from schedkit.errors import CalendarNotFoundError
from schedkit.triggers import build_trigger, preview, preview_upcoming

SHANGHAI = ZoneInfo("Asia/Shanghai")
NINE = {"trigger": "cron", "hour": 9, "minute": 0}


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def workdays(**extra: object) -> dict[str, object]:
    return {**NINE, "calendar": "cn_workdays", **extra}


def test_reproduction_2027_new_year_is_not_a_guessed_workday(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="schedkit.triggers.upcoming"):
        got = preview(workdays(), 5, now=sh(2026, 12, 30))
    assert sh(2027, 1, 1, 9) not in got
    assert got == [sh(2026, 12, 30, 9), sh(2026, 12, 31, 9)] + [
        sh(2027, 1, d, 9) for d in (4, 5, 6)
    ]
    # ... and it says so: 2027 is only estimated.
    assert any("2027 is not confirmed" in r.getMessage() for r in caplog.records)


def test_preview_names_the_deciding_source_and_warns() -> None:
    found = preview_upcoming(workdays(), 3, now=sh(2026, 12, 31))
    assert [d.reason() if d else None for d in found.decisions] == [
        "calendar cn_workdays: 2026-12-31 open, decided by chinese-calendar",
        "calendar cn_workdays: 2027-01-04 open, decided by holidays (not confirmed)",
        "calendar cn_workdays: 2027-01-05 open, decided by holidays (not confirmed)",
    ]
    assert [w.title() for w in found.warnings] == ["calendar cn_workdays for 2027 not confirmed"]
    assert found.warnings[0].title("zh") == "日历 cn_workdays 的 2027 年数据未确认"
    assert preview_upcoming(NINE, 1, now=sh(2026, 12, 31)).warnings == []


@pytest.mark.parametrize(
    ("day", "opens"),
    [
        ("2025-09-28", True),  # Sunday, make-up workday before National Day
        ("2025-10-01", False),  # National Day
        ("2025-10-11", True),  # Saturday, make-up workday
        ("2026-02-14", True),  # Saturday, make-up workday before the Spring Festival
        ("2026-02-16", False),  # Spring Festival holiday (a Monday)
        ("2026-02-28", True),  # Saturday, make-up workday after it
    ],
)
def test_known_make_up_workdays_fire(day: str, opens: bool) -> None:
    y, m, d = map(int, day.split("-"))
    found = preview_upcoming(workdays(), 1, now=sh(y, m, d))
    assert (found.fires[0] == sh(y, m, d, 9)) is opens
    if opens:
        assert found.decisions[0] is not None
        assert found.decisions[0].source.value == "chinese-calendar"


def test_operator_notice_for_2027_decides_and_silences_the_warning() -> None:
    notice = DayTable().with_year(
        2027,
        [
            Override(date=date(2027, 1, 1), open=False, kind=OverrideKind.HOLIDAY, note="元旦"),
            Override(
                date=date(2027, 1, 9), open=True, kind=OverrideKind.MAKEUP_WORKDAY, note="调休"
            ),
        ],
        confirmed=True,
    )
    books = CalendarSet(notices=notice)
    found = preview_upcoming(workdays(), 6, now=sh(2026, 12, 31, 10), calendars=books)
    assert [f.day for f in found.fires] == [4, 5, 6, 7, 8, 9]
    last = found.decisions[-1]
    assert last is not None and last.reason() == (
        "calendar cn_workdays: 2027-01-09 open (调休), decided by notice"
    )
    assert found.warnings == []


def test_a_calendar_override_wins_over_every_source() -> None:
    # The operator opens New Year's Day 2027 on a custom calendar (e.g. a trading day).
    own = Calendar(
        name="cn_workdays",
        base=Base.CN_WORKDAYS,
        overrides=(Override(date=date(2027, 1, 1), open=True, note="settlement"),),
    )
    books = CalendarSet(calendars={"cn_workdays": own})
    found = preview_upcoming(workdays(), 1, now=sh(2027, 1, 1), calendars=books)
    assert found.fires == [sh(2027, 1, 1, 9)]
    assert found.decisions[0] is not None and found.decisions[0].source.value == "override"


def test_nth_and_last_workday_of_the_month() -> None:
    third = preview(workdays(calendar={"name": "cn_workdays", "nth": 3}), 3, now=sh(2025, 9, 1))
    # September 2025: 1, 2, 3; October: 9, 10, 11 (the make-up Saturday); November: 5.
    assert third == [sh(2025, 9, 3, 9), sh(2025, 10, 11, 9), sh(2025, 11, 5, 9)]
    last = preview(workdays(calendar={"name": "cn_workdays", "nth": "last"}), 3, now=sh(2026, 1, 1))
    # January 2026 ends on a Saturday; February's last workday is the make-up Saturday 28.
    assert last == [sh(2026, 1, 30, 9), sh(2026, 2, 28, 9), sh(2026, 3, 31, 9)]


def test_trading_day_calendar() -> None:
    spot = Calendar(
        name="sd-spot",
        base=Base.NONE,
        overrides=tuple(
            Override(date=date(2027, 1, d), open=True, kind=OverrideKind.TRADING_DAY)
            for d in (4, 6)
        ),
        confirmed_years=frozenset({2027}),
    )
    books = CalendarSet(calendars={"sd-spot": spot})
    spec = {**NINE, "calendar": "sd-spot"}
    found = preview_upcoming(spec, 5, now=sh(2027, 1, 1), calendars=books)
    assert found.fires == [sh(2027, 1, 4, 9), sh(2027, 1, 6, 9)]
    assert found.warnings == []
    with pytest.raises(CalendarNotFoundError):
        preview_upcoming(spec, 1, now=sh(2027, 1, 1))


def test_the_firing_check_says_why_a_day_is_skipped() -> None:
    trigger = build_trigger(workdays())
    check = calendar_check(trigger, CalendarSet())
    assert check(datetime(2027, 1, 1, 1, 0, tzinfo=UTC)) == (
        "calendar cn_workdays: 2027-01-01 closed (New Year's Day), decided by holidays "
        "(not confirmed)"
    )
    assert check(datetime(2027, 1, 4, 1, 0, tzinfo=UTC)) is None
    missing = calendar_check(build_trigger({**NINE, "calendar": "gone"}), CalendarSet())
    assert missing(datetime(2027, 1, 4, 1, 0, tzinfo=UTC)) == (
        "unknown calendar 'gone': create the calendar or change the schedule"
    )
    assert calendar_check(build_trigger(NINE), CalendarSet())(datetime.now(UTC)) is None
