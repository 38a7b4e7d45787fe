"""cronsim's own test vectors (cuu508/cronsim, tests/test_cronsim.py), ported.

Every concrete expectation of TestParse, TestValidation, TestIterator and
TestDstTransitions is here; TestReverse has none (it checks that reverse iteration retraces
forward iteration, and schedkit has no reverse iteration), TestOptimizations and
TestExplain test cronsim internals. cronsim iterates strictly after its start.

Where cronsim's expectation is not Debian cron's, the vector says what schedkit gives and
why: cronsim turns off Debian's daylight-saving rules for 6-field expressions (a fixed time
in the gap is then skipped), and accepts a step after ``L``.
"""

from __future__ import annotations

from datetime import datetime
from itertools import product
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim, CronSimError

from schedkit.triggers.crontab import compile_crontab
from schedkit.triggers.fields import LAST

from .vectors import Rejected, Vector, params, rejects, schedkit_fires

NOW = datetime(2020, 1, 1)
RIGA = "Europe/Riga"
# Riga 2021: 28 March 03:00 -> 04:00 (+02 -> +03); 31 October 04:00 -> 03:00.


def riga(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(RIGA), fold=fold)


# -- TestParse: the compiled field sets ----------------------------------------------------

# (test, expression, {field: cronsim's set}); weekdays in cronsim's numbering (0/7 Sunday),
# (weekday, n) for n#k and (weekday, CronSim.LAST) for nL.
PARSE: list[tuple[str, str, dict[str, Any]]] = [
    (
        "test_it_parses_stars",
        "* * * * *",
        {
            "minutes": set(range(60)),
            "hours": set(range(24)),
            "days": set(range(1, 32)),
            "months": set(range(1, 13)),
            "weekdays": set(range(8)),
        },
    ),
    ("test_it_parses_6th_field", "* * * * * *", {"seconds": set(range(60))}),
    ("test_it_parses_numbers", "1 * * * *", {"minutes": {1}}),
    ("test_it_parses_weekday", "* * * * 1", {"weekdays": {1}}),
    ("test_it_handles_0_sunday", "* * * * 0", {"weekdays": {0}}),
    ("test_it_parses_list", "1,2,3 * * * *", {"minutes": {1, 2, 3}}),
    ("test_it_parses_interval", "1-3 * * * *", {"minutes": {1, 2, 3}}),
    ("test_it_parses_two_intervals", "1-3,7-9 * * * *", {"minutes": {1, 2, 3, 7, 8, 9}}),
    ("test_it_parses_step", "*/15 * * * *", {"minutes": {0, 15, 30, 45}}),
    ("test_it_parses_interval_with_step", "0-10/2 * * * *", {"minutes": {0, 2, 4, 6, 8, 10}}),
    ("test_it_parses_start_with_step", "5/15 * * * *", {"minutes": {5, 20, 35, 50}}),
    ("test_it_parses_day_l", "* * L * *", {"days": {"L"}}),
    ("test_it_parses_day_lw", "* * LW * *", {"days": {"LW"}}),
    ("test_it_parses_day_lowercase_l", "* * l * *", {"days": {"L"}}),
    ("test_it_parses_day_lowercase_lw", "* * lw * *", {"days": {"LW"}}),
    (
        "test_it_parses_unrestricted_day_restricted_dow",
        "* * * * 1",
        {"days": set(range(1, 32)), "weekdays": {1}, "day_and": True},
    ),
    (
        "test_it_parses_restricted_day_unrestricted_dow",
        "* * 1 * *",
        {"days": {1}, "weekdays": set(range(8)), "day_and": True},
    ),
    ("test_it_parses_nth_weekday", "* * * * 1#2", {"weekdays": {(1, 2)}}),
    ("test_it_parses_symbolic_weekday", "* * * * MON", {"weekdays": {1}}),
    ("test_it_parses_lowercase_symbolic_weekday", "* * * * mon", {"weekdays": {1}}),
    ("test_it_parses_symbolic_month", "* * * JAN *", {"months": {1}}),
    ("test_it_parses_weekday_range_from_zero", "* * * * 0-2", {"weekdays": {0, 1, 2}}),
    ("test_it_parses_sun_tue", "* * * * sun-tue", {"weekdays": {0, 1, 2}}),
    ("test_it_starts_weekday_step_from_zero", "* * * * */2", {"weekdays": {0, 2, 4, 6}}),
    ("test_it_handles_a_mix_of_ints_and_tuples", "* * * * 1,2,3#1", {"weekdays": {1, 2, (3, 1)}}),
    ("test_it_accepts_weekday_7", "* * * * 7", {"weekdays": {7}}),
    ("test_it_accepts_weekday_l", "* * * * 5L", {"weekdays": {(5, "L")}}),
]


def _monday_based(cronsim_weekdays: set[Any]) -> tuple[set[int], set[tuple[int, int]]]:
    plain = {(d + 6) % 7 for d in cronsim_weekdays if isinstance(d, int)}
    positions = {
        ((d + 6) % 7, LAST if n == "L" else n)
        for d, n in (x for x in cronsim_weekdays if not isinstance(x, int))
    }
    return plain, positions


def _bits(mask: int) -> set[int]:
    return {b for b in range(mask.bit_length()) if mask >> b & 1}


@pytest.mark.parametrize(("test", "expression", "expected"), PARSE, ids=[p[0] for p in PARSE])
def test_parse(test: str, expression: str, expected: dict[str, Any]) -> None:
    fields = compile_crontab(expression)
    rule = fields.day_rule
    for name, value in expected.items():
        if name in ("seconds", "minutes", "hours", "months"):
            assert set(getattr(fields, name)) == value
        elif name == "days" and value == {"L"}:
            assert (rule.last_day, rule.days) == (True, 0)
        elif name == "days" and value == {"LW"}:
            assert (rule.last_weekday, rule.days) == (True, 0)
        elif name == "days":
            assert _bits(rule.days) == value
        elif name == "weekdays":
            plain, positions = _monday_based(value)
            assert _bits(rule.weekdays) == plain
            assert set(rule.weekday_positions) == positions
        else:
            assert rule.either is not value


# -- TestValidation and the no-match iterator test ----------------------------------------

_PATTERNS = (
    "%s * * * *",
    "* %s * * *",
    "* * %s * *",
    "* * * %s * ",
    "* * * * %s",
    "* * * * * %s",
    "* * * * * * %s",
    "1-%s * * * *",
    "%s-60 * * * *",
    "* * 1-%s * *",
    "* * 1,%s * *",
    "* * %s/1 * *",
    "* * * %s-DEC *",
    "* * * JAN-%s *",
    "* * * * %s-SUN",
    "* * * * MON-%s",
    "1-%s * * * * *",
    "%s-60 * * * * *",
)
_BAD_VALUES = ("-1", "61", "ABC", "2/", "/2", "2#", "#2", "1##1", "1//2", "¹", "LL", "LWX")

REJECTED = [
    Rejected(f"test_it_rejects_bad_values[{pattern % bad!r}]", pattern % bad)
    for pattern, bad in product(_PATTERNS, _BAD_VALUES)
] + [
    Rejected("test_it_rejects_4_components", "* * * *"),
    Rejected("test_it_rejects_lopsided_range", "* * 5-1 * *"),
    Rejected("test_it_rejects_underscores", "1-1_0 * * * *"),
    Rejected("test_it_rejects_zero_step", "*/0 * * * *"),
    Rejected("test_it_rejects_zero_nth", "* * * * 1#0"),
    Rejected("test_it_rejects_big_nth", "* * * * 1#6"),
    # cronsim: "Bad day-of-month"; schedkit: never fires (the same decision, reasoned).
    Rejected("test_it_checks_day_of_month_range[30 2]", "* * 30 2 *"),
    Rejected("test_it_checks_day_of_month_range[31 4]", "* * 31 4 *"),
    Rejected("test_it_rejects_dow_l_range", "* * * * 5L-6"),
    Rejected("test_it_rejects_dow_l_hash", "* * * * 5L#1"),
    Rejected("test_it_rejects_dow_l_slash", "* * * * 5L/3"),
    Rejected("test_it_rejects_symbolic_dow_l", "* * * * MONL"),
    # cronsim iterates and finds nothing; schedkit refuses it up front.
    Rejected("TestIterator.test_it_handles_no_matches", "1 1 */100 * MON#4"),
]

# cronsim accepts these; schedkit refuses them (Debian has no L, and a step after a single
# day means nothing).
NOT_DEBIAN = [
    ("test_it_accepts_l_with_step", "* * L/2 * *"),
    ("test_it_accepts_lw_with_step", "* * LW/2 * *"),
]


@pytest.mark.parametrize("vector", params(REJECTED))
def test_rejected(vector: Rejected) -> None:
    assert rejects(vector.spec)


@pytest.mark.parametrize(("test", "expression"), NOT_DEBIAN)
def test_a_step_after_l_is_refused(test: str, expression: str) -> None:
    CronSim(expression, NOW)  # cronsim takes it
    assert rejects(expression)


# -- TestIterator and TestDstTransitions ---------------------------------------------------

FIVE_FIELD_REASON = (
    "cronsim applies no DST rule to 6-field expressions, so a fixed time in the gap "
    "(03:30 on 28 March) is skipped; schedkit applies Debian's rule to every expression "
    "whose minute and hour are fixed: it runs once at the gap's end, 04:00"
)

VECTORS = [
    Vector("test_it_handles_l", "1 1 L * *", NOW, ["2020-01-31T01:01:00"]),
    Vector("test_it_handles_lw", "1 1 LW 5 *", NOW, ["2020-05-29T01:01:00"]),
    Vector(
        "test_it_handles_last_friday",
        "1 1 * * 5L",
        NOW,
        [
            f"2020-{m:02d}-{d:02d}T01:01:00"
            for m, d in enumerate((31, 28, 27, 24, 29, 26, 31, 28, 25, 30, 27, 25), 1)
        ],
    ),
    Vector(
        "test_it_handles_last_sunday_two_notations[0L]", "1 1 * * 0L", NOW, ["2020-01-26T01:01:00"]
    ),
    Vector(
        "test_it_handles_last_sunday_two_notations[7L]", "1 1 * * 7L", NOW, ["2020-01-26T01:01:00"]
    ),
    Vector("test_it_handles_nth_weekday", "1 1 * * 1#2", NOW, ["2020-01-13T01:01:00"]),
    Vector(
        "test_it_handles_dow_star",
        "1 1 1-7 * */7",
        NOW,
        [
            "2020-01-05T01:01:00",
            "2020-02-02T01:01:00",
            "2020-03-01T01:01:00",
            "2020-04-05T01:01:00",
        ],
    ),
    Vector(
        "test_it_handles_dom_star",
        "1 1 */100,1-7 * MON",
        NOW,
        [
            "2020-01-06T01:01:00",
            "2020-02-03T01:01:00",
            "2020-03-02T01:01:00",
            "2020-04-06T01:01:00",
        ],
    ),
    Vector(
        "test_it_handles_every_x_weekdays",
        "1 1 * * */3",
        NOW,
        [
            "2020-01-01T01:01:00",
            "2020-01-04T01:01:00",
            "2020-01-05T01:01:00",
            "2020-01-08T01:01:00",
        ],
    ),
    Vector(
        "test_it_handles_seconds",
        "*/15 * * * * *",
        NOW,
        [f"2020-01-01T00:{m:02d}:{s:02d}" for m, s in ((0, 15), (0, 30), (0, 45), (1, 0), (1, 15))],
    ),
]


def _dst(test: str, expression: str, start: datetime, expected: list[str], **kw: Any) -> Vector:
    return Vector(test, expression, start, expected, zone=RIGA, **kw)


MAR, OCT = riga(2021, 3, 28, 1, 30), riga(2021, 10, 31, 1, 30)
VECTORS += [
    _dst(
        "test_001_every_hour_mar",
        "0 * * * *",
        MAR,
        ["2021-03-28T02:00:00+02:00", "2021-03-28T04:00:00+03:00"],
    ),
    _dst(
        "test_001_every_hour_oct",
        "0 * * * *",
        OCT,
        [
            "2021-10-31T02:00:00+03:00",
            "2021-10-31T03:00:00+03:00",
            "2021-10-31T03:00:00+02:00",
            "2021-10-31T04:00:00+02:00",
        ],
    ),
    _dst(
        "test_002_every_30_minutes_mar",
        "*/30 * * * *",
        riga(2021, 3, 28, 2, 10),
        ["2021-03-28T02:30:00+02:00", "2021-03-28T04:00:00+03:00", "2021-03-28T04:30:00+03:00"],
    ),
    _dst(
        "test_002_every_30_minutes_oct",
        "*/30 * * * *",
        riga(2021, 10, 31, 2, 10),
        [
            "2021-10-31T02:30:00+03:00",
            "2021-10-31T03:00:00+03:00",
            "2021-10-31T03:30:00+03:00",
            "2021-10-31T03:00:00+02:00",
            "2021-10-31T03:30:00+02:00",
            "2021-10-31T04:00:00+02:00",
        ],
    ),
    _dst(
        "test_003_every_15_minutes_mar",
        "*/15 * * * *",
        riga(2021, 3, 28, 2, 40),
        ["2021-03-28T02:45:00+02:00", "2021-03-28T04:00:00+03:00"],
    ),
    _dst(
        "test_003_every_15_minutes_oct",
        "*/15 * * * *",
        riga(2021, 10, 31, 2, 40),
        [
            f"2021-10-31T0{h}:{m:02d}:00+0{o}:00"
            for h, m, o in (
                (2, 45, 3),
                (3, 0, 3),
                (3, 15, 3),
                (3, 30, 3),
                (3, 45, 3),
                (3, 0, 2),
                (3, 15, 2),
                (3, 30, 2),
                (3, 45, 2),
                (4, 0, 2),
            )
        ],
    ),
    _dst(
        "test_004_every_2_hours_mar",
        "0 */2 * * *",
        MAR,
        ["2021-03-28T02:00:00+02:00", "2021-03-28T04:00:00+03:00", "2021-03-28T06:00:00+03:00"],
    ),
    _dst(
        "test_004_every_2_hours_oct",
        "0 */2 * * *",
        OCT,
        ["2021-10-31T02:00:00+03:00", "2021-10-31T04:00:00+02:00", "2021-10-31T06:00:00+02:00"],
    ),
    _dst(
        "test_005_30_minutes_past_every_2_hours_mar",
        "30 */2 * * *",
        MAR,
        ["2021-03-28T02:30:00+02:00", "2021-03-28T04:30:00+03:00"],
    ),
    _dst(
        "test_005_30_minutes_past_every_2_hours_oct",
        "30 */2 * * *",
        OCT,
        ["2021-10-31T02:30:00+03:00", "2021-10-31T04:30:00+02:00"],
    ),
    _dst(
        "test_006_every_3_hours_oct",
        "0 */3 * * *",
        OCT,
        ["2021-10-31T03:00:00+03:00", "2021-10-31T03:00:00+02:00", "2021-10-31T06:00:00+02:00"],
    ),
    _dst(
        "test_008_at_1_2_3_4_5_mar",
        "0 1,2,3,4,5 * * *",
        MAR,
        ["2021-03-28T02:00:00+02:00", "2021-03-28T04:00:00+03:00", "2021-03-28T05:00:00+03:00"],
    ),
    _dst(
        "test_008_at_1_2_3_4_5_oct",
        "0 1,2,3,4,5 * * *",
        OCT,
        ["2021-10-31T02:00:00+03:00", "2021-10-31T03:00:00+03:00", "2021-10-31T04:00:00+02:00"],
    ),
    _dst(
        "test_009_30_past_1_2_3_4_5_mar",
        "30 1,2,3,4,5 * * *",
        MAR,
        ["2021-03-28T02:30:00+02:00", "2021-03-28T04:00:00+03:00", "2021-03-28T04:30:00+03:00"],
    ),
    _dst(
        "test_009_30_past_1_2_3_4_5_oct",
        "30 1,2,3,4,5 * * *",
        OCT,
        ["2021-10-31T02:30:00+03:00", "2021-10-31T03:30:00+03:00", "2021-10-31T04:30:00+02:00"],
    ),
    _dst(
        "test_010_at_2_mar",
        "0 2 * * *",
        MAR,
        ["2021-03-28T02:00:00+02:00", "2021-03-29T02:00:00+03:00"],
    ),
    _dst(
        "test_010_at_2_oct",
        "0 2 * * *",
        OCT,
        ["2021-10-31T02:00:00+03:00", "2021-11-01T02:00:00+02:00"],
    ),
    _dst(
        "test_011_at_3_mar",
        "0 3 * * *",
        riga(2021, 3, 27, 1, 30),
        ["2021-03-27T03:00:00+02:00", "2021-03-28T04:00:00+03:00", "2021-03-29T03:00:00+03:00"],
    ),
    _dst(
        "test_011_at_3_oct",
        "0 3 * * *",
        OCT,
        ["2021-10-31T03:00:00+03:00", "2021-11-01T03:00:00+02:00"],
    ),
    _dst(
        "test_012_at_4_mar",
        "0 4 * * *",
        riga(2021, 3, 27, 1, 30),
        ["2021-03-27T04:00:00+02:00", "2021-03-28T04:00:00+03:00", "2021-03-29T04:00:00+03:00"],
    ),
    _dst(
        "test_012_at_4_oct",
        "0 4 * * *",
        riga(2021, 10, 30, 1, 30),
        ["2021-10-30T04:00:00+03:00", "2021-10-31T04:00:00+02:00", "2021-11-01T04:00:00+02:00"],
    ),
    _dst(
        "test_014_every_hour_enumerated_mar",
        "0 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23 * * *",
        MAR,
        ["2021-03-28T02:00:00+02:00", "2021-03-28T04:00:00+03:00", "2021-03-28T05:00:00+03:00"],
    ),
    _dst(
        "test_014_every_hour_enumerated_oct",
        "0 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23 * * *",
        OCT,
        ["2021-10-31T02:00:00+03:00", "2021-10-31T03:00:00+03:00", "2021-10-31T04:00:00+02:00"],
    ),
    _dst(
        "test_015_every_other_hour_enumerated_mar",
        "0 1,3,5,7,9,11,13,15,17,19,21,23 * * *",
        riga(2021, 3, 28, 0, 30),
        ["2021-03-28T01:00:00+02:00", "2021-03-28T04:00:00+03:00", "2021-03-28T05:00:00+03:00"],
    ),
    _dst(
        "test_015_every_other_hour_enumerated_oct",
        "0 1,3,5,7,9,11,13,15,17,19,21,23 * * *",
        riga(2021, 10, 31, 0, 30),
        ["2021-10-31T01:00:00+03:00", "2021-10-31T03:00:00+03:00", "2021-10-31T05:00:00+02:00"],
    ),
    _dst(
        "test_016_at_1_to_5_mar",
        "0 1-5 * * *",
        MAR,
        ["2021-03-28T02:00:00+02:00", "2021-03-28T04:00:00+03:00", "2021-03-28T05:00:00+03:00"],
    ),
    _dst(
        "test_016_at_1_to_5_oct",
        "0 1-5 * * *",
        OCT,
        ["2021-10-31T02:00:00+03:00", "2021-10-31T03:00:00+03:00", "2021-10-31T04:00:00+02:00"],
    ),
    _dst(
        "test_at_3_15_mar",
        "15 3 * * *",
        riga(2021, 3, 27),
        ["2021-03-27T03:15:00+02:00", "2021-03-28T04:00:00+03:00", "2021-03-29T03:15:00+03:00"],
    ),
    _dst(
        "test_at_3_15_oct",
        "15 3 * * *",
        riga(2021, 10, 30),
        ["2021-10-30T03:15:00+03:00", "2021-10-31T03:15:00+03:00", "2021-11-01T03:15:00+02:00"],
    ),
    _dst(
        "test_every_minute_mar",
        "* * * * *",
        riga(2021, 3, 28, 2, 58),
        ["2021-03-28T02:59:00+02:00", "2021-03-28T04:00:00+03:00"],
    ),
    _dst(
        "test_every_minute_oct",
        "* * * * *",
        riga(2021, 10, 31, 3, 58),
        ["2021-10-31T03:59:00+03:00", "2021-10-31T03:00:00+02:00", "2021-10-31T03:01:00+02:00"],
    ),
    _dst(
        "test_every_minute_from_1_to_6_mar",
        "* 1-6 * * *",
        riga(2021, 3, 28, 2, 58),
        ["2021-03-28T02:59:00+02:00", "2021-03-28T04:00:00+03:00"],
    ),
    _dst(
        "test_every_minute_from_1_to_6_oct",
        "* 1-6 * * *",
        riga(2021, 10, 31, 3, 58),
        ["2021-10-31T03:59:00+03:00", "2021-10-31T03:00:00+02:00", "2021-10-31T03:01:00+02:00"],
    ),
    _dst(
        "test_no_tz_fixup_for_subminute_granularity",
        "11,22 30 1,2,3,4 * * *",
        riga(2021, 3, 28, 1, 31),
        [
            "2021-03-28T02:30:11+02:00",
            "2021-03-28T02:30:22+02:00",
            "2021-03-28T04:30:11+03:00",
            "2021-03-28T04:30:22+03:00",
        ],
        debian=[
            "2021-03-28T02:30:11+02:00",
            "2021-03-28T02:30:22+02:00",
            "2021-03-28T04:00:00+03:00",
            "2021-03-28T04:30:11+03:00",
        ],
        why=FIVE_FIELD_REASON,
    ),
    _dst(
        "test_no_tz_fixup_with_nonzero_seconds_field",
        "33 30 1-10 * * *",
        riga(2021, 3, 28, 1, 31),
        ["2021-03-28T02:30:33+02:00", "2021-03-28T04:30:33+03:00", "2021-03-28T05:30:33+03:00"],
        debian=[
            "2021-03-28T02:30:33+02:00",
            "2021-03-28T04:00:00+03:00",
            "2021-03-28T04:30:33+03:00",
        ],
        why=FIVE_FIELD_REASON,
    ),
    _dst(
        "test_no_tz_fixup_with_zero_seconds_field",
        "0 30 1-10 * * *",
        riga(2021, 3, 28, 1, 31),
        ["2021-03-28T02:30:00+02:00", "2021-03-28T04:30:00+03:00", "2021-03-28T05:30:00+03:00"],
        debian=[
            "2021-03-28T02:30:00+02:00",
            "2021-03-28T04:00:00+03:00",
            "2021-03-28T04:30:00+03:00",
        ],
        why=FIVE_FIELD_REASON,
    ),
]


@pytest.mark.parametrize("vector", params(VECTORS))
def test_schedkit_fires(vector: Vector) -> None:
    assert schedkit_fires(vector) == vector.schedkit_expects, vector.why


@pytest.mark.parametrize("vector", params(VECTORS))
def test_cronsim_gives_its_own_expectation(vector: Vector) -> None:
    """The transcription check: cronsim itself yields what its test expects."""
    assert isinstance(vector.spec, str)
    iterator = CronSim(vector.spec, vector.start)
    assert [next(iterator).isoformat() for _ in vector.expected] == vector.expected


@pytest.mark.parametrize("vector", params(REJECTED[:-1]))
def test_cronsim_refuses_what_its_tests_refuse(vector: Rejected) -> None:
    assert isinstance(vector.spec, str)
    with pytest.raises(CronSimError):
        CronSim(vector.spec, NOW)
