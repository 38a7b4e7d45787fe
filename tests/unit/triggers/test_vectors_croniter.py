"""croniter's own test vectors (kiorky/croniter, src/croniter/tests/test_croniter.py and
test_croniter_dst_repetition.py), ported.

Ported: every forward expectation (``get_next``, which is strictly after the start) and
every accepted/refused expression. Not ported: ``get_prev`` (schedkit has no reverse
iteration), hashed/random expressions (``H``, ``R``: not cron), ``expand_from_start_time``,
``croniter_range`` and internals (``expanded``, ``_get_nth_weekday_of_month``).

croniter's syntax differs in places; each vector keeps croniter's expression (run through
croniter itself, as a transcription check) and gives schedkit's spelling when it differs:
a sixth field is croniter's *last* (seconds) but schedkit's *first*; ``L5`` is ``5L``; a
seventh (year) field and ``day_or=False`` are what the cron-fields form expresses (fields
ANDed, ``year``).

Where croniter's expectation is not Debian cron's, the vector says what schedkit gives and
why: croniter ORs the day fields even when one starts with ``*`` (Debian ANDs them: the
"Vixie cron bug" croniter implements on request), moves a fixed time in a DST gap one hour
on instead of to the gap's end, and accepts wrap-around ranges (``Mon-Sun``, ``Nov-Mar``),
``?``, ``L`` in ranges and lists mixing ``#``/``L`` with other weekdays in its own way.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from .vectors import Rejected, Vector, params, rejects, schedkit_fires


def cv(
    test: str,
    expression: str,
    start: datetime,
    expected: list[str],
    *,
    ours: str | dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    **kw: Any,
) -> Vector:
    """A croniter vector: croniter's ``expression``; schedkit's spelling in ``ours``."""
    peer = {"expression": expression, "options": options or {}}
    if kw.pop("no_peer_check", None):
        peer["skip"] = True
    return Vector(test, expression if ours is None else ours, start, expected, peer=peer, **kw)


def minutes(day: str, times: list[tuple[int, int]]) -> list[str]:
    return [f"{day}T{h:02d}:{m:02d}:00" for h, m in times]


def days(*dates: str, time: str = "00:00:00") -> list[str]:
    return [f"{d}T{time}" for d in dates]


VIXIE = (
    "Debian cron ANDs day-of-month and day-of-week when either starts with '*' "
    "(croniter ORs them unless implement_cron_bug=True)"
)
GAP = (
    "a fixed time in the DST gap runs once at the gap's end in Debian cron; croniter moves "
    "it one hour on"
)
NO_WRAP = "Debian cron refuses a range whose start is after its end (SUN is 0)"
NOT_CRON = "not Debian crontab syntax"

VECTORS = [
    cv(
        "testSecondSec",
        "* * * * * 15,25",
        datetime(2012, 4, 6, 13, 26, 10),
        ["2012-04-06T13:26:15", "2012-04-06T13:26:25", "2012-04-06T13:27:15"],
        ours="15,25 * * * * *",
    ),
    cv(
        "testSecond",
        "*/1 * * * * *",
        datetime(2012, 4, 6, 13, 26, 10),
        ["2012-04-06T13:26:11"],
        ours="* */1 * * * *",
    ),
    cv(
        "testSecondRepeat",
        "* * * * * */15",
        datetime(2012, 4, 6, 13, 26, 36),
        ["2012-04-06T13:26:45", "2012-04-06T13:27:00", "2012-04-06T13:27:15"],
        ours="*/15 * * * * *",
    ),
    cv(
        "testMinute[*/1]",
        "*/1 * * * *",
        datetime(2010, 1, 23, 12, 18),
        minutes("2010-01-23", [(12, m) for m in range(19, 60)] + [(13, 0)]),
    ),
    cv(
        "testMinute[*/5]",
        "*/5 * * * *",
        datetime(2010, 1, 23, 12, 18),
        minutes("2010-01-23", [(12, m) for m in range(20, 60, 5)] + [(13, 0)]),
    ),
    cv(
        "testHour",
        "0 */3 * * *",
        datetime(2010, 1, 24, 12, 2),
        [
            "2010-01-24T15:00:00",
            "2010-01-24T18:00:00",
            "2010-01-24T21:00:00",
            "2010-01-25T00:00:00",
        ],
    ),
    cv(
        "testDay[*/3]",
        "0 0 */3 * *",
        datetime(2010, 2, 24, 12, 9),
        days("2010-02-25", "2010-02-28", "2010-03-01"),
    ),
    cv("testDay[1996]", "0 0 * * *", datetime(1996, 2, 27), days("1996-02-28", "1996-02-29")),
    cv("testDay[2000]", "0 0 * * *", datetime(2000, 2, 27), days("2000-02-28", "2000-02-29")),
    cv("testWeekDay[sat]", "0 0 * * sat", datetime(2010, 2, 25), days("2010-02-27", "2010-03-06")),
    cv(
        "testWeekDay[1 wed]",
        "0 0 1 * wed",
        datetime(2010, 1, 25),
        days("2010-01-27", "2010-02-01", "2010-02-03"),
    ),
    cv(
        "testNthWeekDay[sat#1]",
        "0 0 * * sat#1",
        datetime(2010, 2, 25),
        days("2010-03-06", "2010-04-03"),
    ),
    cv(
        "testNthWeekDay[wed#5]",
        "0 0 * * wed#5",
        datetime(2010, 1, 25),
        days("2010-03-31", "2010-06-30", "2010-09-29"),
    ),
    cv(
        "testWeekDayDayAnd",
        "0 0 1 * mon",
        datetime(2010, 1, 25),
        days("2010-02-01", "2010-03-01", "2010-11-01"),
        options={"day_or": False},
        ours={"day": 1, "day_of_week": "mon", "hour": 0},
    ),
    cv(
        "testDomDowVixieCronBug[default]",
        "0 16 */2 * sat",
        datetime(2023, 5, 2),
        days("2023-05-03", "2023-05-05", "2023-05-06", "2023-05-07", time="16:00:00"),
        debian=days("2023-05-13", "2023-05-27", "2023-06-03", "2023-06-17", time="16:00:00"),
        why=VIXIE,
    ),
    cv(
        "testDomDowVixieCronBug[implement_cron_bug]",
        "0 16 */2 * sat",
        datetime(2023, 5, 2),
        days("2023-05-13", "2023-05-27", "2023-06-03", "2023-06-17", time="16:00:00"),
        options={"implement_cron_bug": True},
    ),
    cv(
        "testMonth",
        "0 0 1 * *",
        datetime(2010, 1, 25),
        days(*(f"2010-{m:02d}-01" for m in range(2, 13)), "2011-01-01"),
    ),
    cv(
        "testLastDayOfMonth",
        "0 0 l * *",
        datetime(2015, 9, 4),
        days("2015-09-30", "2015-10-31", "2015-11-30", "2015-12-31"),
    ),
    cv(
        "testSundayToThursdayWithAlphaConversion",
        "30 22 * * sun-thu",
        datetime(2010, 8, 25, 15, 56),
        ["2010-08-25T22:30:00"],
    ),
    cv("testISOWeekday", "0 0 * * 6", datetime(2010, 2, 25), days("2010-02-27", "2010-03-06")),
    cv(
        "testBug2",
        "0 * * 3 *",
        datetime(2012, 1, 1),
        ["2012-03-01T00:00:00", "2012-03-01T01:00:00", "2012-03-01T02:00:00"],
    ),
    cv(
        "testBug3",
        "00 03 16,30 * *",
        datetime(2013, 3, 1, 12, 17, 34, 257877),
        days("2013-03-16", "2013-03-30", "2013-04-16", time="03:00:00"),
    ),
    cv("testBug57[4/6]", "0 4/6 * * *", datetime(2012, 2, 24), ["2012-02-24T04:00:00"]),
    cv("testBug57[0/6]", "0 0/6 * * *", datetime(2012, 2, 24), ["2012-02-24T06:00:00"]),
    cv("test_multiple_months[03-01]", "0 0 1 3,6,9,12 *", datetime(2016, 3, 1), days("2016-06-01")),
    cv(
        "test_multiple_months[02-15]", "0 0 1 3,6,9,12 *", datetime(2016, 2, 15), days("2016-03-01")
    ),
    cv(
        "test_multiple_months[12-03]",
        "0 0 1 3,6,9,12 *",
        datetime(2016, 12, 3, 10),
        days("2017-03-01"),
    ),
    cv(
        "test_rangeGenerator",
        "1-9/2 0 1 * *",
        datetime(2013, 3, 4),
        minutes("2013-04-01", [(0, 1), (0, 3), (0, 5), (0, 7), (0, 9)]),
    ),
    cv(
        "test_milliseconds[10:00:00.000500]",
        "0 10 * * *",
        datetime(2018, 1, 2, 10, 0, 0, 500),
        ["2018-01-03T10:00:00"],
    ),
    cv(
        "test_milliseconds[10:00:01]",
        "0 10 * * *",
        datetime(2018, 1, 2, 10, 0, 1),
        ["2018-01-03T10:00:00"],
    ),
    cv(
        "test_milliseconds[09:59:59.999999]",
        "0 10 * * *",
        datetime(2018, 1, 2, 9, 59, 59, 999999),
        ["2018-01-02T10:00:00"],
    ),
    cv(
        "test_lwom_friday",
        "0 0 * * L5",
        datetime(1987, 1, 15),
        days(
            *(
                f"1987-{m:02d}-{d:02d}"
                for m, d in enumerate((30, 27, 27, 24, 29, 26, 31, 28, 25, 30, 27, 25), 1)
            )
        ),
        ours="0 0 * * 5L",
    ),
    cv(
        "test_lwom_friday_2hours",
        "0 1,5 * * L5",
        datetime(1987, 1, 15),
        [
            f"1987-{m:02d}-{d:02d}T0{h}:00:00"
            for m, d in enumerate((30, 27, 27, 24, 29, 26), 1)
            for h in (1, 5)
        ],
        ours="0 1,5 * * 5L",
    ),
    cv(
        "test_lwom_friday_2xh_2xm",
        "0,30 1,5 * * L5",
        datetime(1987, 1, 15),
        [
            f"1987-{m:02d}-{d:02d}T0{h}:{mi:02d}:00"
            for m, d in enumerate((30, 27, 27), 1)
            for h in (1, 5)
            for mi in (0, 30)
        ],
        ours="0,30 1,5 * * 5L",
    ),
    cv(
        "test_lwom_tue_thu",
        "0 0 * * L2,L4",
        datetime(2016, 6, 1),
        days(
            "2016-06-28",
            "2016-06-30",
            "2016-07-26",
            "2016-07-28",
            "2016-08-25",
            "2016-08-30",
            "2016-09-27",
            "2016-09-29",
            "2016-10-25",
            "2016-10-27",
        ),
        ours="0 0 * * 2L,4L",
    ),
    cv(
        "test_hash_mixup_all_fri_3rd_sat[a]",
        "0 0 * * 6#3",
        datetime(2021, 3, 1),
        days("2021-03-20"),
    ),
    cv(
        "test_hash_mixup_all_fri_3rd_sat[b]",
        "0 0 * * 5",
        datetime(2021, 3, 1),
        days("2021-03-05", "2021-03-12", "2021-03-19", "2021-03-26"),
    ),
    cv(
        "test_lwom_mixup_all_fri_last_sat[a]",
        "0 0 * * L6",
        datetime(2021, 3, 1),
        days("2021-03-27"),
        ours="0 0 * * 6L",
    ),
    cv(
        "test_lwom_mixup_firstlast_sat[a]",
        "0 0 * * 6#1",
        datetime(2021, 3, 1),
        days("2021-03-06", "2021-04-03", "2021-05-01"),
    ),
    cv(
        "test_lwom_mixup_firstlast_sat[b]",
        "0 0 * * L6",
        datetime(2021, 3, 1),
        days("2021-03-27", "2021-04-24", "2021-05-29"),
        ours="0 0 * * 6L",
    ),
    cv(
        "test_lwom_mixup_firstlast_sat[c]",
        "0 0 * * L6,6#1",
        datetime(2021, 3, 1),
        days("2021-03-06", "2021-03-27", "2021-04-03", "2021-04-24", "2021-05-01", "2021-05-29"),
        ours="0 0 * * 6L,6#1",
    ),
    cv(
        "test_lwom_mixup_4th_and_last[a]",
        "0 0 * * 1#4",
        datetime(2021, 11, 1),
        days("2021-11-22", "2021-12-27", "2022-01-24"),
    ),
    cv(
        "test_lwom_mixup_4th_and_last[b]",
        "0 0 * * L1",
        datetime(2021, 11, 1),
        days("2021-11-29", "2021-12-27", "2022-01-31"),
        ours="0 0 * * 1L",
    ),
    cv(
        "test_lwom_mixup_4th_and_last[c]",
        "0 0 * * 1#4,L1",
        datetime(2021, 11, 1),
        days("2021-11-22", "2021-11-29", "2021-12-27", "2022-01-24", "2022-01-31"),
        ours="0 0 * * 1#4,1L",
    ),
    cv(
        "test_configure_second_location",
        "59 58 1 * * *",
        datetime(2010, 8, 25),
        ["2010-08-25T01:58:59"],
        options={"second_at_beginning": True},
    ),
    cv(
        "test_issue145_getnext",
        "0 13 8 1,4,7,10 wed",
        datetime(2020, 9, 24),
        ["2025-01-08T13:00:00"],
        options={"day_or": False, "max_years_between_matches": 5},
        ours={"month": "1,4,7,10", "day": 8, "day_of_week": "wed", "hour": 13},
    ),
    cv(
        "test_issue156[*,0]",
        "* * * * *,0",
        datetime(2019, 1, 14, 11, 0, 59, 999999),
        ["2019-01-14T11:01:00"],
    ),
    cv(
        "test_issue156[*,sat#3]",
        "0 0 * * *,sat#3",
        datetime(2019, 1, 14, 11, 0, 59, 999999),
        ["2019-01-19T00:00:00"],
        debian=["2019-01-15T00:00:00"],
        why="Debian cron reads '*' in a list as every value: '*,sat#3' is every day",
    ),
    cv("test_issue_2038y", "* * * * *", datetime(2040, 1, 1), ["2040-01-01T00:01:00"]),
    cv(
        "test_get_next_update_current",
        "* * * * * *",
        datetime(2024, 7, 12),
        ["2024-07-12T00:00:01", "2024-07-12T00:00:02", "2024-07-12T00:00:03"],
    ),
    cv(
        "CroniterDST138Test",
        "*/5 * * * *",
        datetime(2024, 1, 25, 4, 46),
        ["2024-01-25T04:50:00", "2024-01-25T04:55:00", "2024-01-25T05:00:00"],
    ),
]

# croniter's year field (7th) and day_or=False: the cron-fields form (fields ANDed).
_YEAR = [
    (
        "test_year[2060]",
        "0 0 11 * * 0 2060",
        (2050, 1, 1),
        {"year": 2060, "day": 11},
        days("2060-01-11", "2060-02-11"),
    ),
    (
        "test_year[2050-2060]",
        "0 0 11 * * 0 2050-2060",
        (2055, 1, 30),
        {"year": "2050-2060", "day": 11},
        days("2055-02-11"),
    ),
    (
        "test_year[list]",
        "0 0 29 2 * 0 2025,2021-2023,2028",
        (2020, 1, 1),
        {"year": "2025,2021-2023,2028", "month": 2, "day": 29},
        days("2028-02-29"),
    ),
    (
        "test_year[2025,*]",
        "0 0 29 2 * 0 2025,*",
        (2020, 1, 1),
        {"year": "2025,*", "month": 2, "day": 29},
        days("2020-02-29"),
    ),
    (
        "test_year[2022/3]",
        "0 0 29 2 * 0 2022/3",
        (2020, 1, 1),
        {"year": "2022/3", "month": 2, "day": 29},
        days("2028-02-29"),
    ),
    (
        "test_year[2023-2035/3]",
        "0 0 29 2 * 0 2023-2035/3",
        (2020, 1, 1),
        {"year": "2023-2035/3", "month": 2, "day": 29},
        days("2032-02-29"),
    ),
    (
        "test_year_with_other_field[2023]",
        "0 0 31 11-12 * 0 2023",
        (2000, 1, 30),
        {"year": 2023, "month": "11-12", "day": 31},
        days("2023-12-31"),
    ),
    (
        "test_year_with_other_field[2023-2025]",
        "0 0 31 1-2 * 0 2023-2025",
        (2024, 12, 30),
        {"year": "2023-2025", "month": "1-2", "day": 31},
        days("2025-01-31"),
    ),
    (
        "test_year_with_other_field[day_or=False]",
        "0 0 1 1 1 0 2020-2030",
        (2000, 1, 1),
        {"year": "2020-2030", "month": 1, "day": 1, "day_of_week": "mon"},
        days("2024-01-01"),
    ),
    (
        "test_year_with_second_at_beginning",
        "59 58 23 31 12 * 2070",
        (2050, 1, 1),
        {"year": 2070, "month": 12, "day": 31, "hour": 23, "minute": 58, "second": 59},
        ["2070-12-31T23:58:59"],
    ),
]
for test, expression, start, fields, expected in _YEAR:
    options: dict[str, Any] = {}
    if "day_or" in test:
        options["day_or"] = False
    if "second_at_beginning" in test:
        options["second_at_beginning"] = True
    fields = {"hour": 0, "minute": 0, "second": 0, **fields} if "second" not in fields else fields
    VECTORS.append(cv(test, expression, datetime(*start), expected, ours=fields, options=options))


def _sunday_ranges(test: str, expression: str, day_numbers: list[int], **kw: Any) -> Vector:
    """croniter's _test_sunday_ranges: the day numbers of 30 fires from 2024-01-01."""
    dates, month = [], 1
    for previous, day in zip([0, *day_numbers], day_numbers, strict=False):
        month += day <= previous
        dates.append(f"2024-{month:02d}-{day:02d}")
    return cv(test, expression, datetime(2024, 1, 1), days(*dates), **kw)


_ALL = list(range(2, 32))
VECTORS += [
    _sunday_ranges(
        "test_sunday_ranges_from[Sun-Mon]",
        "0 0 * * Sun-Mon",
        [
            7,
            8,
            14,
            15,
            21,
            22,
            28,
            29,
            4,
            5,
            11,
            12,
            18,
            19,
            25,
            26,
            3,
            4,
            10,
            11,
            17,
            18,
            24,
            25,
            31,
            1,
            7,
            8,
            14,
            15,
        ],
    ),
    _sunday_ranges(
        "test_sunday_ranges_from[Sun-Tue]",
        "0 0 * * Sun-Tue",
        [
            2,
            7,
            8,
            9,
            14,
            15,
            16,
            21,
            22,
            23,
            28,
            29,
            30,
            4,
            5,
            6,
            11,
            12,
            13,
            18,
            19,
            20,
            25,
            26,
            27,
            3,
            4,
            5,
            10,
            11,
        ],
    ),
    _sunday_ranges(
        "test_sunday_ranges_from[Sun-Wed]",
        "0 0 * * Sun-Wed",
        [
            2,
            3,
            7,
            8,
            9,
            10,
            14,
            15,
            16,
            17,
            21,
            22,
            23,
            24,
            28,
            29,
            30,
            31,
            4,
            5,
            6,
            7,
            11,
            12,
            13,
            14,
            18,
            19,
            20,
            21,
        ],
    ),
    _sunday_ranges(
        "test_sunday_ranges_from[Sun-Thu]",
        "0 0 * * Sun-Thu",
        [
            2,
            3,
            4,
            7,
            8,
            9,
            10,
            11,
            14,
            15,
            16,
            17,
            18,
            21,
            22,
            23,
            24,
            25,
            28,
            29,
            30,
            31,
            1,
            4,
            5,
            6,
            7,
            8,
            11,
            12,
        ],
    ),
    _sunday_ranges(
        "test_sunday_ranges_from[Sun-Fri]",
        "0 0 * * Sun-Fri",
        [
            2,
            3,
            4,
            5,
            7,
            8,
            9,
            10,
            11,
            12,
            14,
            15,
            16,
            17,
            18,
            19,
            21,
            22,
            23,
            24,
            25,
            26,
            28,
            29,
            30,
            31,
            1,
            2,
            4,
            5,
        ],
    ),
    _sunday_ranges("test_sunday_ranges_from[Sun-Sat]", "0 0 * * Sun-Sat", _ALL),
    # The same ranges ending on Sunday, written with 7 (croniter's test runs all spellings).
    _sunday_ranges("test_sunday_ranges_to[Mon-7]", "0 0 * * mon-7", _ALL),
    _sunday_ranges(
        "test_sunday_ranges_to[Tue-7]",
        "0 0 * * tue-7",
        [
            2,
            3,
            4,
            5,
            6,
            7,
            9,
            10,
            11,
            12,
            13,
            14,
            16,
            17,
            18,
            19,
            20,
            21,
            23,
            24,
            25,
            26,
            27,
            28,
            30,
            31,
            1,
            2,
            3,
            4,
        ],
    ),
    _sunday_ranges(
        "test_sunday_ranges_to[Wed-7]",
        "0 0 * * wed-7",
        [
            3,
            4,
            5,
            6,
            7,
            10,
            11,
            12,
            13,
            14,
            17,
            18,
            19,
            20,
            21,
            24,
            25,
            26,
            27,
            28,
            31,
            1,
            2,
            3,
            4,
            7,
            8,
            9,
            10,
            11,
        ],
    ),
    _sunday_ranges(
        "test_sunday_ranges_to[Thu-7]",
        "0 0 * * thu-7",
        [
            4,
            5,
            6,
            7,
            11,
            12,
            13,
            14,
            18,
            19,
            20,
            21,
            25,
            26,
            27,
            28,
            1,
            2,
            3,
            4,
            8,
            9,
            10,
            11,
            15,
            16,
            17,
            18,
            22,
            23,
        ],
    ),
    _sunday_ranges(
        "test_sunday_ranges_to[Fri-7]",
        "0 0 * * fri-7",
        [
            5,
            6,
            7,
            12,
            13,
            14,
            19,
            20,
            21,
            26,
            27,
            28,
            2,
            3,
            4,
            9,
            10,
            11,
            16,
            17,
            18,
            23,
            24,
            25,
            1,
            2,
            3,
            8,
            9,
            10,
        ],
    ),
    _sunday_ranges(
        "test_sunday_ranges_to[Sat-7]",
        "0 0 * * sat-7",
        [
            6,
            7,
            13,
            14,
            20,
            21,
            27,
            28,
            3,
            4,
            10,
            11,
            17,
            18,
            24,
            25,
            2,
            3,
            9,
            10,
            16,
            17,
            23,
            24,
            30,
            31,
            6,
            7,
            13,
            14,
        ],
    ),
    _sunday_ranges(
        "test_sunday_ranges_to[Sun-Sun]",
        "0 0 * * Sun-Sun",
        _ALL,
        debian=days(
            *(
                f"2024-{m:02d}-{d:02d}"
                for m, d in (
                    (1, 7),
                    (1, 14),
                    (1, 21),
                    (1, 28),
                    (2, 4),
                    (2, 11),
                    (2, 18),
                    (2, 25),
                    (3, 3),
                    (3, 10),
                    (3, 17),
                    (3, 24),
                    (3, 31),
                    (4, 7),
                    (4, 14),
                    (4, 21),
                    (4, 28),
                    (5, 5),
                    (5, 12),
                    (5, 19),
                    (5, 26),
                    (6, 2),
                    (6, 9),
                    (6, 16),
                    (6, 23),
                    (6, 30),
                    (7, 7),
                    (7, 14),
                    (7, 21),
                    (7, 28),
                )
            )
        ),
        why="SUN-SUN is the range 0-0, Sundays only (croniter reads it as the whole week)",
    ),
]


def _months(test: str, expression: str, shown: list[str], **kw: Any) -> Vector:
    """croniter's _test_mth_cron_ranges: 'YY M' of 16 fires from 2024-01-01."""
    dates = [f"20{s.split()[0]}-{int(s.split()[1]):02d}-01" for s in shown]
    return cv(test, expression, datetime(2024, 1, 1), days(*dates), **kw)


VECTORS += [
    _months(
        "test_mth_ranges_from[Jan-Dec]",
        "0 0 1 Jan-Dec *",
        [
            "24 2",
            "24 3",
            "24 4",
            "24 5",
            "24 6",
            "24 7",
            "24 8",
            "24 9",
            "24 10",
            "24 11",
            "24 12",
            "25 1",
            "25 2",
            "25 3",
            "25 4",
            "25 5",
        ],
    ),
    _months(
        "test_mth_ranges_from[Jan-Aug/2]",
        "0 0 1 Jan-Aug/2 *",
        [
            "24 3",
            "24 5",
            "24 7",
            "25 1",
            "25 3",
            "25 5",
            "25 7",
            "26 1",
            "26 3",
            "26 5",
            "26 7",
            "27 1",
            "27 3",
            "27 5",
            "27 7",
            "28 1",
        ],
    ),
    _months(
        "test_mth_ranges_from[Jan-Aug/4]",
        "0 0 1 Jan-Aug/4 *",
        [
            "24 5",
            "25 1",
            "25 5",
            "26 1",
            "26 5",
            "27 1",
            "27 5",
            "28 1",
            "28 5",
            "29 1",
            "29 5",
            "30 1",
            "30 5",
            "31 1",
            "31 5",
            "32 1",
        ],
    ),
]

# DST vectors. croniter's tests localize with pytz; where a test attaches a pytz zone
# directly (tzinfo=tz) Python uses the zone's first entry, local mean time, so the start
# instants below carry that LMT offset; croniter is not re-run on those (it would need
# pytz's zone objects to reproduce them).


def lmt(*args: int, offset: timedelta) -> datetime:
    return datetime(*args, tzinfo=timezone(offset))


ATHENS, WARSAW, SAO_PAULO = "Europe/Athens", "Europe/Warsaw", "America/Sao_Paulo"


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)


VECTORS += [
    cv(
        "testTimezoneWinterTime",
        "*/30 * * * *",
        local(ATHENS, 2013, 10, 27, 2),
        [
            "2013-10-27T02:30:00+03:00",
            "2013-10-27T03:00:00+03:00",
            "2013-10-27T03:30:00+03:00",
            "2013-10-27T03:00:00+02:00",
            "2013-10-27T03:30:00+02:00",
            "2013-10-27T04:00:00+02:00",
            "2013-10-27T04:30:00+02:00",
        ],
        zone=ATHENS,
    ),
    cv(
        "testTimezoneSummerTime",
        "*/30 * * * *",
        local(ATHENS, 2013, 3, 31, 1),
        [
            "2013-03-31T01:30:00+02:00",
            "2013-03-31T02:00:00+02:00",
            "2013-03-31T02:30:00+02:00",
            "2013-03-31T04:00:00+03:00",
            "2013-03-31T04:30:00+03:00",
        ],
        zone=ATHENS,
    ),
    cv(
        "test_std_dst[0 0 mar]",
        "0 0 * * *",
        local(WARSAW, 2017, 3, 26),
        ["2017-03-27T00:00:00+02:00"],
        zone=WARSAW,
    ),
    cv(
        "test_std_dst[0 * mar]",
        "0 * * * *",
        local(WARSAW, 2017, 3, 26, 1),
        ["2017-03-26T03:00:00+02:00"],
        zone=WARSAW,
    ),
    cv(
        "test_std_dst[0 0 oct]",
        "0 0 * * *",
        local(WARSAW, 2017, 10, 29),
        ["2017-10-30T00:00:00+01:00"],
        zone=WARSAW,
    ),
    cv(
        "test_std_dst[0 * oct 01:59]",
        "0 * * * *",
        local(WARSAW, 2017, 10, 29, 1, 59),
        ["2017-10-29T02:00:00+02:00"],
        zone=WARSAW,
    ),
    cv(
        "test_std_dst[0 * oct 02:00 second copy]",
        "0 * * * *",
        local(WARSAW, 2017, 10, 29, 2, fold=1),
        ["2017-10-29T03:00:00+01:00"],
        zone=WARSAW,
    ),
    *(
        cv(
            f"test_std_dst[0 * oct {h:02d}:00]",
            "0 * * * *",
            local(WARSAW, 2017, 10, 29, h),
            [f"2017-10-29T{h + 1:02d}:00:00+01:00"],
            zone=WARSAW,
        )
        for h in (3, 4, 5)
    ),
    *(
        cv(
            f"test_std_dst2[{h:02d}:{m:02d}]",
            "0 0 * * *",
            local(SAO_PAULO, *day, h, m, fold=int(h == 23)),
            [expected],
            zone=SAO_PAULO,
        )
        for (day, h, m, expected) in [
            ((2018, 2, 17), h, m, "2018-02-18T00:00:00-03:00") for h in (21, 22, 23) for m in (0, 5)
        ]
        + [((2018, 2, 18), 0, m, "2018-02-19T00:00:00-03:00") for m in (0, 5)]
    ),
    cv(
        "test_std_dst3",
        "0 0 24 * *",
        local("Australia/Adelaide", 2020, 4, 15),
        ["2020-04-24T00:00:00+09:30"],
        zone="Australia/Adelaide",
    ),
    cv(
        "test_dst_issue90_st31ny[now]",
        "1 2 * * *",
        lmt(2020, 3, 29, 1, 59, 55, offset=timedelta(minutes=9, seconds=21)),
        ["2020-03-30T02:01:00+02:00"],
        zone="Europe/Paris",
        no_peer_check=True,
    ),
    cv(
        "test_dst_issue90_st31ny[nowp]",
        "1 2 * * *",
        lmt(2020, 3, 28, 1, 58, 55, offset=timedelta(minutes=9, seconds=21)),
        ["2020-03-29T03:01:00+02:00", "2020-03-30T02:01:00+02:00"],
        zone="Europe/Paris",
        no_peer_check=True,
        debian=["2020-03-29T03:00:00+02:00", "2020-03-30T02:01:00+02:00"],
        why=GAP,
    ),
    cv(
        "test_dst_issue90_st31ny[nowt]",
        "1 2 * * *",
        lmt(2020, 3, 29, 2, 0, 0, offset=timedelta(minutes=9, seconds=21)),
        ["2020-03-30T02:01:00+02:00"],
        zone="Europe/Paris",
        no_peer_check=True,
    ),
    cv(
        "test_dst_iter",
        "0 0 * * *",
        lmt(2022, 3, 26, 0, 0, 0, offset=timedelta(hours=2, minutes=20, seconds=23)),
        ["2022-03-26T00:00:00+02:00", "2022-03-27T01:00:00+03:00", "2022-03-28T00:00:00+03:00"],
        zone="Asia/Hebron",
        no_peer_check=True,
    ),
    cv(
        "test_issue_k11",
        "* * * * * ",
        local("America/New_York", 2019, 1, 14, 11, 0, 59),
        ["2019-01-14T11:01:00-05:00"],
        zone="America/New_York",
    ),
    cv(
        "test_issue_k12",
        "* * * * *",
        lmt(2010, 1, 23, 12, 18, offset=timedelta(hours=1, minutes=34, seconds=52)),
        ["2010-01-23T12:44:00+02:00"],
        zone=ATHENS,
        no_peer_check=True,
    ),
]

REJECTED = [
    Rejected("testError[4 fields]", "* * * *"),
    Rejected("testError[-90]", "-90 * * * *"),
    Rejected("testError[a]", "a * * * *"),
    Rejected("testError[janu-jun]", "* * * janu-jun *"),
    Rejected("testError[1-1_0]", "1-1_0 * * * *"),
    Rejected("testError[0-10/error]", "0-10/error * * * *"),
    Rejected("testError[0-10/]", "0-10/ * * * *"),
    Rejected("testError[0-1&]", "0-1& * * * *"),
    Rejected("testError[5-100]", "* * 5-100 * *"),
    Rejected("test_error_bad_cron[too many fields]", "* " * 8),
    Rejected("test_invalid_zerorepeat", "*/0 * * * *"),
    Rejected("test_nth_out_of_range[1#7]", "0 0 * * 1#7"),
    Rejected("test_nth_out_of_range[1#0]", "0 0 * * 1#0"),
    Rejected("test_last_out_of_range[L-1]", "0 0 * * L-1"),
    Rejected("test_last_out_of_range[L8]", "0 0 * * L8"),
    Rejected("test_invalid_question_mark[? * * * *]", "? * * * *"),
    Rejected("test_invalid_question_mark[* ? * * *]", "* ? * * *"),
    Rejected("test_invalid_question_mark[* * ?,* * *]", "* * ?,* * *"),
    Rejected("test_overflow", "0-10000000 * * * *"),
    Rejected("test_issue156[*,b]", "* * * * *,b"),
    Rejected("test_issue_k6[0 0 0 0 0]", "0 0 0 0 0"),
    Rejected("test_issue_k6[0 0 0 1 0]", "0 0 0 1 0"),
    Rejected("test_issue_k34", "4 0 L/2 2 0"),
    # croniter finds no next date (CroniterBadDateError); schedkit refuses these up front.
    Rejected("test_bug34", "* * 31 2 *"),
    Rejected("test_year_bad_date_error[2021-2023]", {"year": "2021-2023", "month": 2, "day": 29}),
    Rejected("test_invalid_year[1000]", {"year": 1000}),
    Rejected("test_invalid_year[99999]", {"year": 99999}),
    Rejected("test_invalid_year[2070#3]", {"year": "2070#3"}),
]

# croniter accepts these; Debian cron (and schedkit) do not.
NOT_DEBIAN = [
    ("testRangeWithUppercaseLastDayOfMonth", "0 0 29-L * *", NOT_CRON + ": L in a range"),
    ("test_issue_142_dow", "35 * 1-l/8 * *", NOT_CRON + ": L in a range"),
    ("test_question_mark", "0 0 1 * ?", NOT_CRON + ": '?' is Quartz's"),
    ("test_issue_k33", "30 23 1-7 JAN MON-FRI#1", NOT_CRON + ": # after a range"),
    ("test_sunday_ranges_to[Mon-Sun]", "0 0 * * Mon-Sun", NO_WRAP),
    ("test_sunday_ranges_to[Tue-Sun]", "0 0 * * Tue-Sun", NO_WRAP),
    ("test_sunday_ranges_to[Wed-Sun]", "0 0 * * Wed-Sun", NO_WRAP),
    ("test_sunday_ranges_to[Thu-Sun]", "0 0 * * Thu-Sun", NO_WRAP),
    ("test_sunday_ranges_to[Fri-Sun]", "0 0 * * Fri-Sun", NO_WRAP),
    ("test_sunday_ranges_to[Sat-Sun]", "0 0 * * Sat-Sun", NO_WRAP),
    ("test_sunday_ranges_from[Thu-Tue/2]", "0 0 * * Thu-Tue/2", NO_WRAP),
    ("test_sunday_ranges_from[Thu-Tue/3]", "0 0 * * Thu-Tue/3", NO_WRAP),
    ("test_issue_monsun_117", "0 0 * * Wed-Sun", NO_WRAP),
    ("test_mth_ranges_from[Nov-Mar]", "0 0 1 Nov-Mar *", NO_WRAP),
    ("test_mth_ranges_from[Apr-Feb]", "0 0 1 Apr-Feb *", NO_WRAP),
    ("test_mth_ranges_from[Apr-Mar/3]", "0 0 1 Apr-Mar/3 *", NO_WRAP),
    ("test_mth_ranges_from[Apr-Mar/2]", "0 0 1 Apr-Mar/2 *", NO_WRAP),
]

# croniter refuses these (CroniterUnsupportedSyntaxError); schedkit ORs the weekday items.
MIXED = [
    (
        "test_hash_mixup_all_fri_3rd_sat[c]",
        "0 0 * * 5,6#3",
        days("2021-03-05", "2021-03-12", "2021-03-19", "2021-03-20", "2021-03-26"),
    ),
    (
        "test_lwom_mixup_all_fri_last_sat[c]",
        "0 0 * * 5,6L",
        days("2021-03-05", "2021-03-12", "2021-03-19", "2021-03-26", "2021-03-27"),
    ),
]


@pytest.mark.parametrize("vector", params(VECTORS))
def test_schedkit_fires(vector: Vector) -> None:
    assert schedkit_fires(vector) == vector.schedkit_expects, vector.why


@pytest.mark.parametrize("vector", params(v for v in VECTORS if not v.peer.get("skip")))
def test_croniter_gives_its_own_expectation(vector: Vector) -> None:
    """The transcription check: croniter itself yields what its test expects."""
    iterator = croniter(vector.peer["expression"], vector.start, **vector.peer["options"])
    got = [iterator.get_next(datetime).isoformat() for _ in vector.expected]
    assert got == vector.expected


@pytest.mark.parametrize("vector", params(REJECTED))
def test_rejected(vector: Rejected) -> None:
    assert rejects(vector.spec)


@pytest.mark.parametrize(("test", "expression", "why"), NOT_DEBIAN, ids=[n[0] for n in NOT_DEBIAN])
def test_croniter_extensions_are_refused(test: str, expression: str, why: str) -> None:
    croniter(expression, datetime(2024, 1, 1))  # croniter takes it
    assert rejects(expression), why


@pytest.mark.parametrize(("test", "expression", "expected"), MIXED, ids=[m[0] for m in MIXED])
def test_weekday_lists_mixing_positions_fire_on_the_union(
    test: str, expression: str, expected: list[str]
) -> None:
    vector = Vector(test, expression, datetime(2021, 3, 1), expected)
    assert schedkit_fires(vector) == expected
