"""Calendar value objects: accepted input, precise errors, JSON round trips, edits."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from schedkit.calendars import (
    Base,
    Calendar,
    DayTable,
    Override,
    OverrideKind,
    builtin_calendar,
    parse_calendar,
    parse_override,
)
from schedkit.calendars.model import parse_table, table_to_json
from schedkit.errors import ValidationError

SPOT: dict[str, Any] = {
    "name": "spot-trading.sd",
    "base": "none",
    "description": "山东现货市场交易日",
    "confirmed_years": [2026],
    "overrides": [
        {"date": "2026-01-06", "open": True, "kind": "trading_day"},
        {"date": "2026-01-05", "open": True, "kind": "trading_day", "note": "首个交易日"},
    ],
}


def test_json_round_trip_sorts_overrides_by_date() -> None:
    calendar = parse_calendar(SPOT)
    assert [o.date for o in calendar.overrides] == [date(2026, 1, 5), date(2026, 1, 6)]
    data = calendar.to_json()
    assert data["base"] == "none" and data["confirmed_years"] == [2026]
    assert data["overrides"][0] == {
        "date": "2026-01-05",
        "open": True,
        "kind": "trading_day",
        "note": "首个交易日",
    }
    assert parse_calendar(data) == calendar


def test_builtin_calendars_exist_without_data() -> None:
    assert builtin_calendar("cn_workdays") == Calendar(name="cn_workdays", base=Base.CN_WORKDAYS)
    assert builtin_calendar("cn_skip_holidays") == Calendar(
        name="cn_holidays", base=Base.CN_HOLIDAYS
    )
    assert builtin_calendar("none") is None
    assert builtin_calendar("spot") is None


def test_alias_is_accepted_as_name_and_base() -> None:
    calendar = parse_calendar({"name": "ops", "base": "cn_skip_holidays"})
    assert calendar.base is Base.CN_HOLIDAYS
    assert parse_calendar({"name": "cn_skip_holidays", "base": "cn_holidays"}).name == (
        "cn_holidays"
    )


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"name": "Spot", "base": "none"}, "name", "lower-case"),
        ({"name": "", "base": "none"}, "name", "1-64"),
        ({"name": "spot", "base": "workdays"}, "base", "cn_workdays"),
        ({"name": "cn_workdays", "base": "all"}, "base", "built-in calendar 'cn_workdays'"),
        ({"name": "spot", "base": "none", "colour": "red"}, "colour", "Extra inputs"),
        ({"name": "spot", "base": "none", "confirmed_years": [1900]}, "confirmed_years", "1950"),
        (
            {"name": "spot", "base": "none", "overrides": [{"date": "2026-13-01", "open": True}]},
            "overrides.0.date",
            "month",
        ),
        (
            {
                "name": "spot",
                "base": "none",
                "overrides": [
                    {"date": "2026-01-05", "open": True},
                    {"date": "2026-01-05", "open": False},
                ],
            },
            "overrides",
            "2026-01-05 is listed twice",
        ),
    ],
)
def test_bad_calendar_names_the_field(data: dict[str, Any], field: str | None, text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_calendar(data)
    assert caught.value.field == field
    assert text in str(caught.value)


def test_override_kind_defaults_from_open_and_must_agree() -> None:
    assert parse_override({"date": "2027-01-01", "open": False}).kind is OverrideKind.EXTRA_CLOSED
    assert parse_override({"date": "2027-01-01", "open": True}).kind is OverrideKind.EXTRA_OPEN
    with pytest.raises(ValidationError, match="a holiday day is closed, not open"):
        parse_override({"date": "2027-01-01", "open": True, "kind": "holiday"})
    with pytest.raises(ValidationError) as caught:
        parse_override({"date": "2027-01-01", "open": "maybe"})
    assert caught.value.field == "open"


def test_value_objects_are_frozen() -> None:
    calendar = parse_calendar(SPOT)
    with pytest.raises(Exception, match="frozen"):
        calendar.name = "other"  # type: ignore[misc]


def holiday(day: str, note: str = "元旦") -> Override:
    return Override(date=date.fromisoformat(day), open=False, kind=OverrideKind.HOLIDAY, note=note)


def test_with_year_replaces_that_year_and_sets_the_flag() -> None:
    table = DayTable(
        overrides=(holiday("2026-01-01"), holiday("2027-01-01"), holiday("2027-01-04")),
        confirmed_years=frozenset({2026}),
    )
    makeup = Override(
        date=date(2026, 12, 31), open=True, kind=OverrideKind.MAKEUP_WORKDAY, note="元旦调休"
    )
    updated = table.with_year(2027, [holiday("2027-01-02"), makeup], confirmed=True)
    assert [o.date.isoformat() for o in updated.overrides] == [
        "2026-01-01",
        "2026-12-31",
        "2027-01-02",
    ]
    assert updated.confirmed_years == {2026, 2027}
    assert updated.by_date[date(2026, 12, 31)] == makeup.model_copy(update={"notice": 2027})
    assert date(2027, 1, 1) not in updated.by_date
    assert table.by_date.keys() == {date(2026, 1, 1), date(2027, 1, 1), date(2027, 1, 4)}
    assert updated.with_confirmed(2026, False).confirmed_years == {2027}


def test_edits_keep_the_calendar_valid() -> None:
    calendar = parse_calendar(SPOT)
    edited = calendar.with_overrides([holiday("2026-01-06", "检修")]).without_dates(
        [date(2026, 1, 5)]
    )
    assert isinstance(edited, Calendar) and edited.name == "spot-trading.sd"
    assert [(o.date.day, o.open) for o in edited.overrides] == [(6, False)]


def test_entering_a_year_again_removes_what_its_earlier_notice_set_in_another_year() -> None:
    """A notice may set days of the year before (a make-up workday on 31 December); a
    corrected notice entered again must take them away, and leave the days the earlier
    year's own notice set."""
    own = DayTable().with_year(2026, [holiday("2026-12-30", "2026 notice")], confirmed=True)
    spilled = Override(date=date(2026, 12, 31), open=True, kind=OverrideKind.MAKEUP_WORKDAY)
    entered = own.with_year(2027, [holiday("2027-01-01"), spilled], confirmed=True)
    assert entered.by_date.keys() == {date(2026, 12, 30), date(2026, 12, 31), date(2027, 1, 1)}
    corrected = entered.with_year(2027, [holiday("2027-01-01")], confirmed=True)
    assert corrected.by_date.keys() == {date(2026, 12, 30), date(2027, 1, 1)}
    # Stored and read back, the table still knows which notice set which day.
    again = parse_table(table_to_json(entered)).with_year(2027, [], confirmed=False)
    assert again.by_date.keys() == {date(2026, 12, 30)}


def test_entering_a_year_again_keeps_the_days_the_next_year_s_notice_set() -> None:
    """An audit: the 2028 notice set 2027-12-28 (make-up workday) and 2027-12-31
    (holiday), as the 2019 notice set days of December 2018; entering the 2027 notice
    again (to fix a note) reverted both, silently, with 2027 still confirmed."""
    first = DayTable().with_year(2027, [holiday("2027-01-01")], confirmed=True)
    makeup = Override(date=date(2027, 12, 28), open=True, kind=OverrideKind.MAKEUP_WORKDAY)
    with_2028 = first.with_year(
        2028, [holiday("2027-12-31"), holiday("2028-01-01"), makeup], confirmed=True
    )
    again = with_2028.with_year(2027, [holiday("2027-01-01", "New Year")], confirmed=True)
    assert again.by_date[date(2027, 12, 31)].notice == 2028
    assert again.by_date[date(2027, 12, 28)].open is True
    assert again.by_date[date(2027, 1, 1)].note == "New Year"
    # Stored and read back, the marks still say which notice set which day.
    reread = parse_table(table_to_json(with_2028)).with_year(2027, [], confirmed=False)
    assert reread.by_date.keys() == {date(2027, 12, 28), date(2027, 12, 31), date(2028, 1, 1)}


@pytest.mark.parametrize(
    "day", ["2028-01-03", "2026-11-30", "2025-12-31", "2026-12-20", "2026-12-27"]
)
def test_a_notice_cannot_set_a_day_outside_its_year_and_the_december_before(day: str) -> None:
    """An audit: a 2027 notice with a year typo closed 2028-01-03..07 (or 2026 days the
    official package decides) without a word."""
    with pytest.raises(ValidationError, match=f"{day} is not a day a 2027 notice sets"):
        DayTable().with_year(2027, [holiday("2027-01-01"), holiday(day)], confirmed=True)


@pytest.mark.parametrize("day", ["2026-12-28", "2026-12-31"])
def test_a_notice_sets_the_last_days_of_the_december_before(day: str) -> None:
    """A New Year's break ending on 1 January starts on 30 December at the earliest, and
    its make-up workday is the weekend before: 28 December at the earliest (the notices
    since 2004 set 29-31 December only). An audit: a 2027 notice closing 2026-12-20 was
    accepted."""
    table = DayTable().with_year(2027, [holiday("2027-01-01"), holiday(day)], confirmed=True)
    assert date.fromisoformat(day) in table.by_date


def test_a_confirmed_notice_must_close_a_day_of_its_year() -> None:
    """An audit: an empty notice file confirmed 2027, so every statutory holiday of it
    became a workday and the calendar warning went away."""
    makeup = Override(date=date(2027, 1, 9), open=True, kind=OverrideKind.MAKEUP_WORKDAY)
    for days in ([], [makeup], [holiday("2026-12-31")]):
        with pytest.raises(ValidationError, match="closes no day of 2027"):
            DayTable().with_year(2027, days, confirmed=True)
    assert DayTable().with_year(2027, [makeup], confirmed=False).by_date.keys() == {
        date(2027, 1, 9)
    }
