"""Notice lines as typed from the State Council notice: weekdays after the dates, dates
and lengths in the note (a re-audit: each of these was one day, the rest its note)."""

from __future__ import annotations

from datetime import date

import pytest

from schedkit.calendars import CalendarImportError, parse_overrides

SPRING_FESTIVAL = [date(2027, 2, day) for day in range(5, 14)]


def _one_error(line: str) -> str:
    with pytest.raises(CalendarImportError) as caught:
        parse_overrides(line, "notice", notice_year=2027)
    (error,) = caught.value.lines
    assert error.line == 1
    return error.message


@pytest.mark.parametrize(
    ("line", "note"),
    [
        ("放假 2027-02-05 (星期五) 至 2027-02-13 (星期六) 春节", "春节"),
        ("放假 2027-02-05 （星期五） 至 2027-02-13 春节", "春节"),
        ("放假 2027-02-05 （周五）至 2月13日 春节", "春节"),
        ("放假 2027-02-05（周五）至 2月13日 春节", "春节"),
        ("放假 2027-02-05 星期五 至 2027-02-13 星期六 春节", "春节"),
        ("放假 2027-02-05（星期五）至13日（星期六）放假调休，共9天", "放假调休，共9天"),
        ("放假 2027-02-05(周五)~02-13(周六) 春节", "春节"),
        ("放假 2027-02-05 周五至 13日 周六 春节", "春节"),
        ("放假 2027-02-05 礼拜五 到 2027-02-13 星期六春节", "星期六春节"),
        ("放假 2027-02-05 (Fri) to 2027-02-13 (Sat) Spring Festival", "Spring Festival"),
        ("holiday 2027-02-05 (Friday) to 2027-02-13 (Saturday) 春节", "春节"),
        ("holiday 2027-02-05 (fri.) - 02-13 （SAT） 春节", "春节"),
        ("放假 2027-02-05 起至 2月13日 春节", "春节"),
        ("放假 2027-02-05 起到 13日 春节", "春节"),
        ("放假 2027年2月5日（星期五）至13日（星期六） 春节", "春节"),
        # The lunar dates the notice prints (a re-audit: refused as "expected a space").
        ("放假 2027年2月5日（农历除夕、周五）至13日（周六） 春节", "春节"),
        ("放假 2027年2月5日（农历腊月二十九）至13日（农历正月初七） 春节", "春节"),
        ("放假 2027-02-05（除夕）至 2027-02-13 春节", "春节"),
        ("放假 2027-02-05（周五，除夕）至 2027-02-13（星期六） 春节", "春节"),
        ("放假 2027/02/05 至 2027/02/13 春节", "春节"),
        ("放假 2027.2.5 至 2.13 春节", "春节"),
        ("放假 2027年2月5日 至 2月13日 春节", "春节"),
    ],
)
def test_a_weekday_after_either_date_is_read_and_a_start_as_the_end_is(
    line: str, note: str
) -> None:
    items = parse_overrides(line, "notice", notice_year=2027)
    assert [o.date for o in items] == SPRING_FESTIVAL
    assert {o.note for o in items} == {note}


@pytest.mark.parametrize(
    ("line", "note"),
    [
        ("上班 2027-02-20（星期六）春节调休", "春节调休"),
        ("上班 2027-09-26 星期日 国庆节调休", "国庆节调休"),
        ("上班 2027-09-26 周天", None),
        ("workday 2027-02-14 (Sun) Spring Festival make-up", "Spring Festival make-up"),
        ("放假 2027-10-01 （星期五）国庆节", "国庆节"),
    ],
)
def test_a_weekday_after_a_single_day_is_read(line: str, note: str | None) -> None:
    (item,) = parse_overrides(line, "notice", notice_year=2027)
    assert item.note == note


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "放假 2027-02-05 (星期六) 至 2027-02-13 春节",
            "2027-02-05 is a Friday, not a Saturday (星期六)",
        ),
        ("放假 2027-02-05 至 13日（周五） 春节", "2027-02-13 is a Saturday, not a Friday (周五)"),
        ("holiday 2027-02-05 (Thu) to 02-13 春节", "2027-02-05 is a Friday, not a Thursday (Thu)"),
        ("上班 2027-02-20 周日 春节调休", "2027-02-20 is a Saturday, not a Sunday (周日)"),
        (
            "放假 2027-10-01 星期四 至 10-07 国庆节",
            "2027-10-01 is a Friday, not a Thursday (星期四)",
        ),
    ],
)
def test_a_weekday_that_is_not_its_date_s_is_refused_naming_both(line: str, message: str) -> None:
    assert (
        _one_error(line) == f"{message}: check the date; a wrong weekday usually means a wrong date"
    )


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("放假 2027-02-05 Fri to 2027-02-13 Sat Spring Festival", "to 2027-02-13"),
        ("放假 2027-10-01 国庆节 至 10-07", "至 10-07"),
        ("放假 2027-10-01 国庆 到 2027-10-07", "到 2027-10-07"),
        ("放假 2027-10-01 国庆节 ~ 10-07", "~ 10-07"),
        ("放假 2027-10-01 国庆节 - 2027-10-07", "- 2027-10-07"),
        ("放假 2027-10-01 国庆节-10-07", "-10-07"),
        ("放假 2027-10-01 国庆节至7日", "至7日"),
        ("放假 2027-10-01 国庆节 至 7", "至 7"),
        ("放假 2027-10-01 国庆节、中秋节 至 10月7日", "至 10月7日"),
        ("放假 2027-02-05 春节（至2月13日）", "至2月13日"),
        ("放假 2027-02-05 至 02-12 春节 .. 02-13", ".. 02-13"),
        ("上班 2027-02-20 春节调休（补 2月12日至13日）", "至13日"),
        ("放假 2027-10-01 国庆节 2027-10-07", "2027-10-07"),
        ("放假 2027-10-01 国庆节 10月7日", "10月7日"),
        ("放假 2027-10-01 国庆节 10-07", "10-07"),
        ("放假 2027-10-01 国庆节 7日", "7日"),
        ("放假 2027-02-05 春节 二月十三日", "二月十三日"),
        ("holiday 2027-02-05 Spring Festival until Feb 13", "Feb 13"),
        ("放假 2027-02-05 春节 2/13", "2/13"),
    ],
)
def test_a_date_later_in_the_note_is_refused_not_cut_to_one_day(line: str, found: str) -> None:
    message = _one_error(line)
    start = line.split()[1]
    assert message.startswith(f"a second date after {start} in the note ({found!r}): ")
    assert "a range must follow the start date (its weekday may come between)" in message


@pytest.mark.parametrize(
    ("line", "said", "sets"),
    [
        ("放假 2027-02-05 春节放假9天", "9 days", "1 day"),
        ("放假 2027-10-01 共7天 国庆节", "7 days", "1 day"),
        ("放假 2027-10-01 至 10-03 国庆节 共七天", "7 days", "3 days"),
        ("holiday 2027-10-01..10-03 National Day (7 days)", "7 days", "3 days"),
        ("放假 2027-02-05 至 02-12 春节（九天）", "9 days", "8 days"),
    ],
)
def test_a_length_in_the_note_must_be_the_days_the_line_sets(
    line: str, said: str, sets: str
) -> None:
    assert _one_error(line) == f"the note says {said}; the line sets {sets}"


@pytest.mark.parametrize(
    ("line", "note"),
    [
        ("放假 2027-02-05 - 元旦", "元旦"),
        ("放假 2027-02-05 至 2027-02-13, 春节", "春节"),
        ("放假 2027-02-05 至 2027-02-13，春节", "春节"),
        ("放假 2027-02-05 至 13日、春节", "春节"),
        ("放假 2027-02-05：春节", "春节"),
        ("放假 2027-02-05 — 春节", "春节"),
        ("放假 2027-02-05 : ", None),
    ],
)
def test_a_note_loses_the_separator_before_it(line: str, note: str | None) -> None:
    assert {o.note for o in parse_overrides(line, "notice", notice_year=2027)} == {note}


@pytest.mark.parametrize(
    ("line", "days", "note"),
    [
        ("上班 2027-02-20 补 2027-02-12", 1, "补 2027-02-12"),
        ("上班 2027-02-20 补2月12日", 1, "补2月12日"),
        ("上班 2027-02-20 春节调休（补 2月12日、13日）", 1, "春节调休（补 2月12日、13日）"),
        ("上班 2027-02-20 调 2027-02-12", 1, "调 2027-02-12"),
        ("workday 2027-02-20 make-up for 2027-02-12", 1, "make-up for 2027-02-12"),
        ("放假 2027-10-01 至 10-07 国庆节、中秋节", 7, "国庆节、中秋节"),
        ("放假 2027-09-15 2027年中秋节", 1, "2027年中秋节"),
        ("上班 2027-04-25 劳动节调休（星期日）", 1, "劳动节调休（星期日）"),
        ("workday 2027-02-20 to make up for Spring Festival", 1, "to make up for Spring Festival"),
        ("放假 2027-02-05 至 02-13 春节放假调休，共9天", 9, "春节放假调休，共9天"),
        ("放假 2027-10-01 至 10-07 国庆节（七天，第1天起）", 7, "国庆节（七天，第1天起）"),
        ("上班 2027-02-20 春节调休（春节共9天）", 1, "春节调休（春节共9天）"),
        ("放假 2027-10-01 国庆节（前一天下午提前下班）", 1, "国庆节（前一天下午提前下班）"),
        ("放假 2027-10-01 国庆节（星期五至星期日）", 1, "国庆节（星期五至星期日）"),
        ("放假 2027-10-01 国庆节 周五加班费3倍", 1, "国庆节 周五加班费3倍"),
        ("放假 2027-10-01 周五国庆节", 1, "周五国庆节"),
        ("放假 2027-10-01 国庆节 call 010-12345678", 1, "国庆节 call 010-12345678"),
        ("放假 2027-10-01 国庆节加班 1.5倍 to 3倍", 1, "国庆节加班 1.5倍 to 3倍"),
        ("workday 2027-02-20 Day 1 after Spring Festival", 1, "Day 1 after Spring Festival"),
        (
            "holiday 2027-02-05 Spring Festival, closes up to 3 hours early",
            1,
            "Spring Festival, closes up to 3 hours early",
        ),
    ],
)
def test_notes_naming_a_date_or_a_number_still_read(line: str, days: int, note: str) -> None:
    items = parse_overrides(line, "notice", notice_year=2027)
    assert (len(items), {o.note for o in items}) == (days, {note})
