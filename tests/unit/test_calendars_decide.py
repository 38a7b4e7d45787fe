"""Business calendars: which source decides a day, and how well a year is known."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from schedkit.calendars import (
    Base,
    Calendar,
    CalendarSet,
    CalendarWarning,
    DayTable,
    Override,
    OverrideKind,
    Source,
    WarningCode,
    YearState,
)
from schedkit.calendars.sources import (
    chinese_calendar_day,
    chinese_calendar_state,
    holidays_day,
    holidays_notice_years,
    statutory_festivals,
)
from schedkit.errors import CalendarNotFoundError

#: The first year neither package has the State Council's notice for (2027 with
#: chinese-calendar 1.11.0 and holidays 0.109). Computed, so that a package release with
#: the 2027 notice moves these tests to the next unknown year instead of breaking them.
OPEN_YEAR = next(
    y
    for y in range(2027, 2100)
    if chinese_calendar_state(y) is YearState.UNCOVERED and y not in holidays_notice_years()
)

BUILTINS = CalendarSet()


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(first: str, last: str) -> list[date]:
    start, end = d(first), d(last)
    return [start + timedelta(n) for n in range((end - start).days + 1)]


def first_weekday(year: int, month: int, weekday: int) -> date:
    day = date(year, month, 1)
    return day + timedelta((weekday - day.weekday()) % 7)


# -- official data: the known 调休 of 2025 and 2026 ------------------------------------


@pytest.mark.parametrize(
    "day",
    ["2025-09-28", "2025-10-11", "2026-01-04", "2026-02-14", "2026-02-28", "2026-09-20"],
)
def test_makeup_weekend_days_are_workdays(day: str) -> None:
    decision = BUILTINS.decide("cn_workdays", d(day))
    assert d(day).weekday() >= 5
    assert decision.open
    assert decision.source is Source.CHINESE_CALENDAR
    assert decision.confirmed
    assert decision.note is not None and "make-up workday" in decision.note


@pytest.mark.parametrize(
    "day", [*days("2025-10-01", "2025-10-08"), *days("2026-02-15", "2026-02-23")]
)
def test_golden_weeks_are_closed_in_both_chinese_bases(day: date) -> None:
    for name in ("cn_workdays", "cn_holidays", "cn_skip_holidays"):
        decision = BUILTINS.decide(name, day)
        assert not decision.open, (name, day)
        assert decision.source is Source.CHINESE_CALENDAR
        assert decision.note  # the festival's name


def test_ordinary_weekend_is_closed_for_workdays_and_open_for_holidays() -> None:
    saturday = d("2025-10-18")
    assert not BUILTINS.decide("cn_workdays", saturday).open
    assert BUILTINS.decide("cn_holidays", saturday).open
    assert BUILTINS.decide("cn_workdays", d("2025-10-17")).open  # a Friday


def test_alias_names_the_same_calendar() -> None:
    assert BUILTINS.calendar("cn_skip_holidays") == BUILTINS.calendar("cn_holidays")
    assert BUILTINS.decide("cn_skip_holidays", d("2025-10-01")).calendar == "cn_holidays"


def test_holidays_package_decides_years_before_chinese_calendar() -> None:
    # 2003: the notice made Saturday 8 February a workday for the Spring Festival.
    assert chinese_calendar_state(2003) is YearState.UNCOVERED
    makeup = BUILTINS.decide("cn_workdays", d("2003-02-08"))
    assert makeup.open and makeup.source is Source.HOLIDAYS and makeup.confirmed
    assert not BUILTINS.decide("cn_workdays", d("2003-02-06")).open


# -- a year no official source has -------------------------------------------------------


def test_year_without_notice_is_an_unconfirmed_estimate_not_monday_to_friday() -> None:
    new_year = date(OPEN_YEAR, 1, 1)
    decision = BUILTINS.decide("cn_workdays", new_year)
    assert not decision.open  # a statutory holiday even without the notice
    assert decision.source is Source.HOLIDAYS
    assert not decision.confirmed
    assert "not confirmed" in decision.reason()
    assert "未确认" in decision.reason("zh")


def test_year_no_source_knows_falls_to_weekday_rule_unconfirmed() -> None:
    decision = BUILTINS.decide("cn_workdays", d("2101-01-03"))  # a Monday
    assert decision.open
    assert decision.source is Source.WEEKDAY_RULE
    assert not decision.confirmed


def test_coverage_of_the_chinese_calendars() -> None:
    by_year = {c.year: c for c in BUILTINS.coverage("cn_workdays", [2003, 2025, OPEN_YEAR, 2101])}
    assert (by_year[2003].state, by_year[2003].source) == (YearState.CONFIRMED, Source.HOLIDAYS)
    assert by_year[2025].source is Source.CHINESE_CALENDAR
    assert by_year[2025].state is YearState.CONFIRMED
    assert by_year[OPEN_YEAR].state is YearState.ESTIMATED
    assert by_year[2101].state is YearState.UNCOVERED
    assert by_year[2101].source is Source.WEEKDAY_RULE


def test_unconfirmed_next_year_is_a_warning_with_code_and_both_languages() -> None:
    warnings = BUILTINS.warnings(
        ["cn_workdays", "cn_skip_holidays", "weekdays"], today=date(OPEN_YEAR - 1, 12, 2)
    )
    assert [(w.calendar, w.year, w.code) for w in warnings] == [
        ("cn_holidays", OPEN_YEAR, WarningCode.YEAR_ESTIMATED),
        ("cn_workdays", OPEN_YEAR, WarningCode.YEAR_ESTIMATED),
    ]
    warning = warnings[1]
    assert warning.title() == f"calendar cn_workdays for {OPEN_YEAR} not confirmed"
    assert f"{OPEN_YEAR} 年" in warning.title("zh")
    assert "State Council" in warning.message() and "国务院" in warning.message("zh-CN")


def test_warnings_look_only_as_far_as_the_horizon() -> None:
    assert BUILTINS.warnings(["cn_workdays"], today=date(OPEN_YEAR - 1, 9, 1)) == []
    late = BUILTINS.warnings(
        ["cn_workdays"], today=date(OPEN_YEAR - 1, 9, 1), horizon=timedelta(days=200)
    )
    assert [w.year for w in late] == [OPEN_YEAR]


def test_unknown_calendar_is_a_warning_and_an_error() -> None:
    warnings = BUILTINS.warnings(["spot"], today=date(2025, 6, 1))
    assert [(w.code, w.calendar, w.year) for w in warnings] == [(WarningCode.MISSING, "spot", None)]
    with pytest.raises(CalendarNotFoundError, match="spot"):
        BUILTINS.decide("spot", date(2025, 6, 2))


# -- operator data ------------------------------------------------------------------------


def notice_for(year: int) -> list[Override]:
    """A notice as an operator would enter it: New Year's Day off, and the first Saturday
    of February a make-up workday (no package knows that one)."""
    return [
        Override(date=date(year, 1, 1), open=False, kind=OverrideKind.HOLIDAY, note="元旦"),
        Override(
            date=first_weekday(year, 2, 5),
            open=True,
            kind=OverrideKind.MAKEUP_WORKDAY,
            note="春节调休",
        ),
    ]


def test_entered_notice_decides_its_days_for_every_chinese_calendar() -> None:
    notices = DayTable().with_year(OPEN_YEAR, notice_for(OPEN_YEAR), confirmed=True)
    custom = Calendar(name="settlement", base=Base.CN_WORKDAYS)
    books = CalendarSet(calendars={"settlement": custom}, notices=notices)
    saturday = first_weekday(OPEN_YEAR, 2, 5)
    assert not holidays_day(saturday).workday  # type: ignore[union-attr]
    for name in ("cn_workdays", "settlement"):
        new_year = books.decide(name, date(OPEN_YEAR, 1, 1))
        assert (new_year.open, new_year.source, new_year.confirmed) == (
            False,
            Source.NOTICE,
            True,
        )
        assert new_year.note == "元旦"
        makeup = books.decide(name, saturday)
        assert makeup.open and makeup.source is Source.NOTICE and makeup.note == "春节调休"
    assert not books.decide("cn_holidays", date(OPEN_YEAR, 1, 1)).open
    # weekdays ignores the Chinese notice
    assert books.decide("weekdays", date(OPEN_YEAR, 1, 1)).open == (
        date(OPEN_YEAR, 1, 1).weekday() < 5
    )


def test_confirmed_notice_year_overrules_the_packages_guesses() -> None:
    guessed_off = next(
        day
        for day in (date(OPEN_YEAR, 1, 2) + timedelta(n) for n in range(360))
        if day.weekday() < 5 and (found := holidays_day(day)) is not None and found.holiday
    )
    notices = DayTable().with_year(OPEN_YEAR, notice_for(OPEN_YEAR), confirmed=True)
    decision = CalendarSet(notices=notices).decide("cn_workdays", guessed_off)
    assert decision.open and decision.source is Source.NOTICE and decision.confirmed
    assert CalendarSet(notices=notices).coverage("cn_workdays", [OPEN_YEAR])[0].state is (
        YearState.CONFIRMED
    )
    assert (
        CalendarSet(notices=notices).warnings(["cn_workdays"], today=date(OPEN_YEAR - 1, 12, 2))
        == []
    )


def test_unconfirmed_notice_decides_listed_days_only_and_stays_a_warning() -> None:
    notices = DayTable().with_year(OPEN_YEAR, notice_for(OPEN_YEAR), confirmed=False)
    books = CalendarSet(notices=notices)
    assert books.decide("cn_workdays", date(OPEN_YEAR, 1, 1)).source is Source.NOTICE
    ordinary = first_weekday(OPEN_YEAR, 3, 2)
    assert books.decide("cn_workdays", ordinary).source is Source.HOLIDAYS
    (warning,) = books.warnings(["cn_workdays"], today=date(OPEN_YEAR - 1, 12, 2))
    assert warning.code is WarningCode.YEAR_ESTIMATED and warning.source is Source.NOTICE
    assert "entered in part" in warning.message() and "部分录入" in warning.message("zh")


def test_calendar_override_wins_over_every_source() -> None:
    closed = Override(
        date=d("2025-09-28"), open=False, kind=OverrideKind.EXTRA_CLOSED, note="机房检修"
    )
    calendar = Calendar(name="cn_workdays", base=Base.CN_WORKDAYS, overrides=(closed,))
    decision = CalendarSet(calendars={"cn_workdays": calendar}).decide("cn_workdays", closed.date)
    assert (decision.open, decision.source, decision.note) == (False, Source.OVERRIDE, "机房检修")
    assert "override" in decision.reason() and "日历覆盖设置" in decision.reason("zh")


def test_a_chinese_calendars_own_confirmed_year_never_overrides_the_notice() -> None:
    """An audit: the 2027 notice entered (245 open days), then "mark the year confirmed"
    as every warning said: cn_workdays' own confirmed 2027 made every day without an
    override follow Monday to Friday (261 open days, New Year's Day open). A store
    written before such confirmations were refused may hold one: it decides nothing, and
    the calendar's own dated overrides still win."""
    maintenance = Override(
        date=first_weekday(OPEN_YEAR, 3, 2), open=False, kind=OverrideKind.EXTRA_CLOSED
    )
    legacy = frozenset({OPEN_YEAR})
    calendars = {
        "cn_workdays": Calendar(
            name="cn_workdays",
            base=Base.CN_WORKDAYS,
            overrides=(maintenance,),
            confirmed_years=legacy,
        ),
        "cn_holidays": Calendar(name="cn_holidays", base=Base.CN_HOLIDAYS, confirmed_years=legacy),
        "settlement": Calendar(name="settlement", base=Base.CN_WORKDAYS, confirmed_years=legacy),
    }
    notices = DayTable().with_year(OPEN_YEAR, notice_for(OPEN_YEAR), confirmed=True)
    books = CalendarSet(calendars=calendars, notices=notices)
    new_year, saturday = date(OPEN_YEAR, 1, 1), first_weekday(OPEN_YEAR, 2, 5)
    for name in calendars:
        closed = books.decide(name, new_year)
        assert (closed.open, closed.source, closed.confirmed) == (False, Source.NOTICE, True)
        assert books.coverage(name, [OPEN_YEAR])[0].source is Source.NOTICE
    for name in ("cn_workdays", "settlement"):
        makeup = books.decide(name, saturday)
        assert (makeup.open, makeup.source) == (True, Source.NOTICE), name
    own = books.decide("cn_workdays", maintenance.date)
    assert (own.open, own.source) == (False, Source.OVERRIDE)
    # Without the notice the year is the estimate again, and a warning: the confirmation
    # neither opens the statutory holidays nor silences the warning.
    alone = CalendarSet(calendars=calendars)
    guessed = alone.decide("cn_workdays", new_year)
    assert (guessed.open, guessed.source, guessed.confirmed) == (False, Source.HOLIDAYS, False)
    assert not alone.decide("cn_workdays", d("2025-10-01")).open  # official data too
    warned = alone.warnings(list(calendars), today=date(OPEN_YEAR - 1, 12, 2))
    assert [(w.calendar, w.source) for w in warned] == [
        (name, Source.HOLIDAYS) for name in sorted(calendars)
    ]
    # A calendar without a Chinese base is still completed by its confirmed year.
    extra = Override(date=d("2025-10-04"), open=True, kind=OverrideKind.EXTRA_OPEN)
    ops = Calendar(
        name="ops", base=Base.WEEKDAYS, overrides=(extra,), confirmed_years=frozenset({2025})
    )
    decision = CalendarSet(calendars={"ops": ops}).decide("ops", d("2025-10-01"))
    assert (decision.open, decision.source, decision.confirmed) == (True, Source.OVERRIDE, True)


NOT_CONFIRM_EN, NOT_CONFIRM_ZH = "mark the year confirmed", "标记该年已确认"


def assert_asks_for_the_notice(warning: CalendarWarning) -> None:
    year = warning.year
    for lang, not_this in (("en", NOT_CONFIRM_EN), ("zh", NOT_CONFIRM_ZH)):
        message = warning.message(lang)
        assert not_this not in message, message
        assert f"schedkit calendar notice {year} FILE" in message, message
        assert f"PUT /calendar-notices/{year}" in message, message
    assert "console's calendar page" in warning.message()
    assert "控制台的日历页面" in warning.message("zh")


def test_warnings_of_chinese_calendars_ask_for_the_notice_not_a_confirmation() -> None:
    """An audit: every warning said "Enter the State Council's holiday notice for 2027
    and mark the year confirmed"; confirming replaced the notice by Monday to Friday."""
    (estimated,) = BUILTINS.warnings(["cn_workdays"], today=date(OPEN_YEAR - 1, 12, 2))
    assert estimated.source is Source.HOLIDAYS
    assert_asks_for_the_notice(estimated)
    partial = DayTable().with_year(OPEN_YEAR, notice_for(OPEN_YEAR), confirmed=False)
    (in_part,) = CalendarSet(notices=partial).warnings(
        ["cn_holidays"], today=date(OPEN_YEAR - 1, 12, 2)
    )
    assert in_part.source is Source.NOTICE
    assert_asks_for_the_notice(in_part)
    assert "without --not-confirmed or --partial" in in_part.message()
    assert "不加 --not-confirmed 或 --partial" in in_part.message("zh")
    late = BUILTINS.warnings(["cn_workdays"], today=date(2100, 12, 2))
    assert [(w.year, w.code) for w in late] == [
        (2100, WarningCode.YEAR_ESTIMATED),
        (2101, WarningCode.YEAR_UNCOVERED),
    ]
    for warning in late:
        assert_asks_for_the_notice(warning)
    # A calendar whose days are entered is confirmed by marking its year: still said so.
    spot = CalendarSet(calendars={"spot": trading("2027-01-04")})
    custom = spot.warnings(["spot"], today=d("2027-12-01"))
    assert [w.code for w in custom] == [WarningCode.YEAR_ESTIMATED, WarningCode.YEAR_UNCOVERED]
    for warning in custom:
        assert NOT_CONFIRM_EN in warning.message() and NOT_CONFIRM_ZH in warning.message("zh")


def test_a_chinese_calendar_with_days_of_its_own_is_warned_to_enter_the_notice() -> None:
    """A maintenance day of cn_workdays in a year without the notice made the warning
    "2027 has some days entered ... mark the year confirmed": the confirmation that
    replaced the year by Monday to Friday."""
    maintenance = Override(date=date(OPEN_YEAR, 1, 8), open=False, kind=OverrideKind.EXTRA_CLOSED)
    ops = Calendar(name="cn_workdays", base=Base.CN_WORKDAYS, overrides=(maintenance,))
    books = CalendarSet(calendars={"cn_workdays": ops})
    assert books.coverage("cn_workdays", [OPEN_YEAR])[0].source is Source.HOLIDAYS
    (warning,) = books.warnings(["cn_workdays"], today=date(OPEN_YEAR - 1, 12, 2))
    assert_asks_for_the_notice(warning)


# -- calendars that need no data ----------------------------------------------------------


def test_weekdays_and_all_are_confirmed_rules() -> None:
    for name, saturday_open in (("weekdays", False), ("all", True)):
        decision = BUILTINS.decide(name, d("2025-10-04"))
        assert (decision.open, decision.source, decision.confirmed) == (
            saturday_open,
            Source.BASE,
            True,
        )
        assert BUILTINS.decide(name, d("2025-10-01")).open  # no Chinese holiday here
    assert BUILTINS.warnings(["weekdays", "all"], today=date(2099, 12, 30)) == []


def trading(*open_days: str, confirmed: frozenset[int] = frozenset()) -> Calendar:
    return Calendar(
        name="spot",
        base=Base.NONE,
        overrides=tuple(
            Override(date=d(day), open=True, kind=OverrideKind.TRADING_DAY) for day in open_days
        ),
        confirmed_years=confirmed,
    )


def test_trading_day_calendar_is_open_on_listed_days_only() -> None:
    spot = CalendarSet(calendars={"spot": trading("2026-01-05", "2026-01-06")})
    assert spot.decide("spot", d("2026-01-05")).open
    assert spot.decide("spot", d("2026-01-05")).note == "trading_day"
    unlisted = spot.decide("spot", d("2026-01-07"))
    assert (unlisted.open, unlisted.source, unlisted.confirmed) == (False, Source.BASE, False)


def test_trading_day_calendar_coverage() -> None:
    spot = CalendarSet(
        calendars={"spot": trading("2026-01-05", "2027-01-04", confirmed=frozenset({2026}))}
    )
    states = [(c.year, c.state) for c in spot.coverage("spot", [2026, 2027, 2028])]
    assert states == [
        (2026, YearState.CONFIRMED),
        (2027, YearState.ESTIMATED),
        (2028, YearState.UNCOVERED),
    ]
    assert spot.decide("spot", d("2026-01-07")).confirmed  # closed, and known to be
    codes = [w.code for w in spot.warnings(["spot"], today=d("2027-12-01"))]
    assert codes == [WarningCode.YEAR_ESTIMATED, WarningCode.YEAR_UNCOVERED]
    messages = [w.message() for w in spot.warnings(["spot"], today=d("2027-12-01"))]
    assert "closed all year" in messages[1]


def test_the_holidays_a_confirmed_notice_must_close_are_the_statutory_ones() -> None:
    """Every day off the law gives, named in English and Chinese, from the ``holidays``
    package: not the weekend days it moves, nor a notice's substitutions. A re-audit:
    with each holiday's first day alone, a notice of first days (its ranges' ends left
    out) confirmed 正月初三 and 10-02 as workdays."""
    assert [(f.day.isoformat(), f.name(), f.name("zh")) for f in statutory_festivals(2027)] == [
        ("2027-01-01", "New Year's Day", "元旦"),
        ("2027-02-05", "Chinese New Year's Eve", "农历除夕"),
        *[(f"2027-02-0{d}", "Chinese New Year (Spring Festival)", "春节") for d in (6, 7, 8)],
        ("2027-04-05", "Tomb-Sweeping Day", "清明节"),
        ("2027-05-01", "Labor Day", "劳动节"),
        ("2027-05-02", "Labor Day", "劳动节"),
        ("2027-06-09", "Dragon Boat Festival", "端午节"),
        ("2027-09-15", "Mid-Autumn Festival", "中秋节"),
        *[(f"2027-10-0{d}", "National Day", "国庆节") for d in (1, 2, 3)],
    ]
    # 中秋 on 国庆's third day: each is listed.
    autumn = [(f.day.isoformat(), f.name_zh) for f in statutory_festivals(2028)][-4:]
    assert autumn == [
        ("2028-10-01", "国庆节"),
        ("2028-10-02", "国庆节"),
        ("2028-10-03", "中秋节"),
        ("2028-10-03", "国庆节"),
    ]
    # A notice typed from the State Council's text closes them: in every year whose
    # notices the official data holds, each is a day off.
    official = [
        y for y in range(2004, OPEN_YEAR) if chinese_calendar_state(y) is YearState.CONFIRMED
    ]
    assert len(official) >= 20
    for year in official:
        for festival in statutory_festivals(year):
            found = chinese_calendar_day(festival.day)
            assert found is not None and not found.workday, festival
    assert statutory_festivals(2101) == ()  # beyond the package: nothing to compare


def test_chinese_reasons_name_the_packages_festivals_in_chinese() -> None:
    """chinese-calendar and holidays name the festivals in English ("National Day",
    holidays' "… (observed)"); an override without a note is named by its kind
    ("holiday"); an operator's own note stays as written."""

    def zh(day: str) -> str:
        return BUILTINS.decide("cn_workdays", d(day)).reason("zh")

    assert zh("2026-10-01").endswith("，国庆节）")
    assert zh("2026-10-10").endswith("，国庆节调休上班）")
    assert zh("2015-09-03").endswith("，抗战胜利 70 周年纪念日）")
    observed = [
        day
        for day in days(f"{OPEN_YEAR}-01-01", f"{OPEN_YEAR}-12-31")
        if "(observed)" in str(getattr(holidays_day(day), "name", ""))
    ]
    assert observed, "holidays moved no festival off a weekend this year"
    reason = zh(observed[0].isoformat())
    assert "（补休）" in reason and "observed" not in reason, reason
    kinds = Calendar(
        name="kinds",
        base=Base.WEEKDAYS,
        overrides=[
            Override(date=d("2026-12-25"), open=False, kind=OverrideKind.HOLIDAY),
            Override(date=d("2026-12-28"), open=False, kind=OverrideKind.HOLIDAY, note="a; b"),
        ],
    )
    said = CalendarSet(calendars={"kinds": kinds})
    assert said.decide("kinds", d("2026-12-25")).reason("zh").endswith("，法定节假日）")
    assert said.decide("kinds", d("2026-12-28")).reason("zh").endswith("，a; b）")
