"""A schedule's calendar reference, and the Nth / last open day of the month."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel

from schedkit.calendars import (
    Base,
    Calendar,
    CalendarField,
    CalendarRef,
    CalendarSet,
    Override,
    OverrideKind,
    Source,
    catalog,
)
from schedkit.errors import ValidationError
from schedkit.triggers import preview_upcoming

BUILTINS = CalendarSet()


class Spec(BaseModel):
    """Stands for the schedule spec the integration step extends."""

    calendar: CalendarField | None = None


@pytest.mark.parametrize(
    ("given", "nth", "stored"),
    [
        ("cn_workdays", None, "cn_workdays"),
        ("cn_skip_holidays", None, "cn_skip_holidays"),
        ({"name": "cn_workdays"}, None, "cn_workdays"),
        ({"name": "cn_workdays", "nth": 3}, 3, {"name": "cn_workdays", "nth": 3}),
        ({"name": "cn_workdays", "nth": "last"}, -1, {"name": "cn_workdays", "nth": -1}),
        ({"name": "spot", "nth": -2}, -2, {"name": "spot", "nth": -2}),
    ],
)
def test_reference_forms_and_json_round_trip(given: Any, nth: int | None, stored: Any) -> None:
    ref = CalendarRef.parse(given)
    assert ref.nth == nth
    assert ref.to_json() == stored
    spec = Spec.model_validate({"calendar": given})
    assert spec.calendar == ref
    dumped = spec.model_dump(mode="json")
    assert dumped == {"calendar": stored}
    assert Spec.model_validate(dumped) == spec
    assert Spec.model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize(
    ("given", "field", "text"),
    [
        ({"name": "cn_workdays", "nth": 0}, "calendar.nth", "counts from 1"),
        ({"name": "cn_workdays", "nth": 32}, "calendar.nth", "less than or equal to 31"),
        ({"name": "cn_workdays", "nth": "first"}, "calendar.nth", "'last'"),
        ({"name": "cn_workdays", "nth": True}, "calendar.nth", "'last'"),
        ({"name": "cn_workdays", "day": 3}, "calendar.day", "Extra inputs"),
        ({"nth": 3}, "calendar.name", "Field required"),
        ("CN Workdays", "calendar.name", "lower-case"),
        (7, "calendar", "valid dictionary"),
    ],
)
def test_bad_reference_names_the_field(given: Any, field: str, text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CalendarRef.parse(given)
    assert caught.value.field == field
    assert text in str(caught.value)


def test_describe_in_both_languages() -> None:
    third = CalendarRef(name="cn_workdays", nth=3)
    assert third.describe() == "3rd open day of the month in cn_workdays"
    assert third.describe("zh") == "每月第 3 个 cn_workdays 开放日"
    assert CalendarRef(name="cn_workdays", nth=-1).describe() == (
        "last open day of the month in cn_workdays"
    )
    assert CalendarRef(name="x", nth=-2).describe("zh") == "每月倒数第 2 个 x 开放日"
    assert CalendarRef(name="x", nth=-2).describe() == "2nd to last open day of the month in x"
    assert CalendarRef(name="x", nth=11).describe().startswith("11th ")


def test_nth_workday_counts_makeup_days_and_skips_golden_week() -> None:
    # 1-8 October 2025 are off, 9 and 10 are workdays and Saturday 11 is a make-up workday.
    assert BUILTINS.nth_open_day("cn_workdays", 2025, 10, 1) == date(2025, 10, 9)
    assert BUILTINS.nth_open_day("cn_workdays", 2025, 10, 3) == date(2025, 10, 11)
    assert BUILTINS.nth_open_day("cn_workdays", 2025, 10, -1) == date(2025, 10, 31)
    # Sunday 28 September 2025 is a make-up workday; 30 September the last workday.
    assert BUILTINS.nth_open_day("cn_workdays", 2025, 9, -1) == date(2025, 9, 30)
    assert BUILTINS.nth_open_day("cn_workdays", 2025, 9, -2) == date(2025, 9, 29)
    assert BUILTINS.nth_open_day("cn_workdays", 2025, 9, -3) == date(2025, 9, 28)
    # February 2026: 14 (Sat) and 28 (Sat) are make-up workdays around the Spring Festival.
    assert BUILTINS.nth_open_day("cn_workdays", 2026, 2, -1) == date(2026, 2, 28)


def test_allows_only_the_nth_open_day() -> None:
    ref = CalendarRef.parse({"name": "cn_workdays", "nth": 3})
    allowed = [d for d in (date(2025, 10, n) for n in range(1, 32)) if BUILTINS.allows(ref, d).open]
    assert allowed == [date(2025, 10, 11)]
    hit = BUILTINS.allows(ref, date(2025, 10, 11))
    assert hit.confirmed and hit.source is Source.CHINESE_CALENDAR
    assert hit.note == "3rd open day of the month in cn_workdays (2025-10)"
    miss = BUILTINS.allows(ref, date(2025, 10, 10))
    assert not miss.open and miss.note is not None and "2025-10-11" in miss.note


def test_an_nth_rules_note_is_in_the_language_asked() -> None:
    """An audit: `schedkit --lang zh next` said "3rd open day of the month in
    cn_workdays (2027-01)" inside its Chinese line."""
    ref = CalendarRef.parse({"name": "cn_workdays", "nth": 3})
    hit = BUILTINS.allows(ref, date(2025, 10, 11), lang="zh")
    assert hit.note == "每月第 3 个 cn_workdays 开放日（2025-10）"
    assert hit.reason("zh") == (
        "日历 cn_workdays：2025-10-11 开放（chinese-calendar 官方数据，"
        "每月第 3 个 cn_workdays 开放日（2025-10））"
    )
    miss = BUILTINS.allows(ref, date(2025, 10, 10), lang="zh")
    assert miss.note == "不是每月第 3 个 cn_workdays 开放日：那是 2025-10-11"
    few = BUILTINS.allows(CalendarRef(name="cn_workdays", nth=31), date(2025, 10, 10), lang="zh")
    assert few.note is not None and few.note.startswith("2025-10 只有 ")
    # The reason a skipped run stores stays English (the console says it in its language).
    assert BUILTINS.allows(ref, date(2025, 10, 10)).note == (
        "not the 3rd open day of the month in cn_workdays: that is 2025-10-11"
    )


def test_plain_reference_is_the_calendar_decision() -> None:
    for day in (date(2025, 9, 28), date(2025, 10, 1), date(2025, 10, 12)):
        assert BUILTINS.allows("cn_workdays", day) == BUILTINS.decide("cn_workdays", day)


def test_month_with_fewer_open_days_has_no_nth_day() -> None:
    spot = Calendar(
        name="spot",
        base=Base.NONE,
        overrides=tuple(
            Override(date=date(2026, 1, n), open=True, kind=OverrideKind.TRADING_DAY)
            for n in (5, 6)
        ),
        confirmed_years=frozenset({2026}),
    )
    books = CalendarSet(calendars={"spot": spot})
    ref = CalendarRef(name="spot", nth=3)
    assert books.nth_open_day("spot", 2026, 1, 3) is None
    decision = books.allows(ref, date(2026, 1, 6))
    assert not decision.open
    assert decision.note == "2026-01 has only 2 open days, no 3rd open day of the month in spot"
    assert books.allows(CalendarRef(name="spot", nth=-1), date(2026, 1, 6)).open


def test_nth_day_in_an_unconfirmed_month_is_unconfirmed() -> None:
    ref = CalendarRef(name="cn_workdays", nth=-1)
    last = BUILTINS.nth_open_day("cn_workdays", 2101, 1, -1)
    assert last == date(2101, 1, 31)  # a Monday, by the weekday rule
    assert not BUILTINS.allows(ref, last).confirmed


def test_a_preview_of_nth_day_fires_decides_each_month_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An audit: each day asked of an Nth-day rule re-decided its whole month, 22,956 day
    decisions (0.7 s) for five fires of "the 3rd workday of the month, if a Monday". A set
    decides a month once: at most every day of each month the preview spans."""
    decided: list[date] = []
    real = catalog.decide

    def counted(calendar: Calendar, day: date, notices: Any = None) -> Any:
        decided.append(day)
        return real(calendar, day, notices)

    monkeypatch.setattr(catalog, "decide", counted)
    spec = {
        "trigger": "cron",
        "hour": 9,
        "day_of_week": "mon",
        "calendar": {"name": "cn_workdays", "nth": 3},
    }
    now = datetime(2026, 12, 7, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    found = preview_upcoming(spec, 5, now=now)
    assert found.complete and len(found.fires) == 5
    assert all(f.weekday() == 0 for f in found.fires)
    last = found.fires[-1]
    months = (last.year - now.year) * 12 + last.month - now.month + 1
    # A month once, plus the search's look one day past a month's end at most.
    assert len(decided) <= 31 * (months + 1), (len(decided), months)


def test_a_set_is_not_changed_by_the_mapping_it_was_made_from() -> None:
    """The month cache is safe because a set never changes: a caller's dict edited later
    (a new override) is a new set's business, not this one's."""
    open_days = tuple(
        Override(date=date(2026, 1, n), open=True, kind=OverrideKind.TRADING_DAY) for n in (5, 6)
    )
    spot = Calendar(name="spot", base=Base.NONE, overrides=open_days)
    given = {"spot": spot}
    books = CalendarSet(calendars=given)
    first = CalendarRef(name="spot", nth=1)
    assert books.allows(first, date(2026, 1, 5)).open
    given["spot"] = spot.with_overrides(
        [Override(date=date(2026, 1, 2), open=True, kind=OverrideKind.TRADING_DAY)]
    )
    assert books.allows(first, date(2026, 1, 5)).open  # the set as made
    again = CalendarSet(calendars=given)
    assert again.allows(first, date(2026, 1, 2)).open
    assert not again.allows(first, date(2026, 1, 5)).open
