"""What docs/schedules.md promises about the two cron languages, example by example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedkit.errors import ValidationError
from schedkit.triggers import ScheduleSpec, build_trigger

NEW_YORK = ZoneInfo("America/New_York")


def fires(spec: str | dict[str, Any], start: datetime, n: int, zone: str = "UTC") -> list[str]:
    data = {"expression": spec} if isinstance(spec, str) else spec
    trigger = build_trigger({"trigger": "cron", **data, "timezone": zone})
    out, previous = [], None
    while len(out) < n and (fire := trigger.next_fire_time(previous, start)) is not None:
        out.append(fire.astimezone(ZoneInfo(zone)).strftime("%m-%d %a %H:%M:%S%z"))
        previous = fire
    return out


JAN_2024 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # Both day fields restricted: either fires (crontab); all fields match (cron fields).
        (
            "0 9 1 * 1",
            ["01-01 Mon", "01-08 Mon", "01-15 Mon", "01-22 Mon", "01-29 Mon", "02-01 Thu"],
        ),
        ({"day": 1, "day_of_week": "mon", "hour": 9}, ["01-01 Mon", "04-01 Mon", "07-01 Mon"]),
        # One of them starting with "*": both must match.
        ("0 9 */2 * SAT", ["01-13 Sat", "01-27 Sat", "02-03 Sat"]),
        ("0 0 * * 5,6#3", ["01-05 Fri", "01-12 Fri", "01-19 Fri", "01-20 Sat", "01-26 Fri"]),
        ("0 0 * * FRI-7", ["01-05 Fri", "01-06 Sat", "01-07 Sun", "01-12 Fri"]),
        ({"month": "jan-jul/2"}, ["01-01 Mon", "03-01 Fri", "05-01 Wed", "07-01 Mon"]),
    ],
)
def test_day_rules(spec: str | dict[str, Any], expected: list[str]) -> None:
    assert [f[:9] for f in fires(spec, JAN_2024, len(expected))] == expected


@pytest.mark.parametrize(
    ("spec", "minutes"),
    [
        ("10-40/15 * * * *", ["10", "25", "40", "10"]),
        ("5/15 * * * *", ["05", "20", "35", "50"]),
        ("5-5/15 * * * *", ["05", "05", "05", "05"]),
        ({"minute": "5/15"}, ["05", "20", "35", "50"]),
    ],
)
def test_steps_count_from_the_start_of_their_range(
    spec: str | dict[str, Any], minutes: list[str]
) -> None:
    assert [f[13:15] for f in fires(spec, JAN_2024, len(minutes))] == minutes


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ("0 0 * * FRI-SUN", "trigger.expression"),
        ({"minute": "*/60"}, "trigger.minute"),
        ({"day": "lastly"}, "trigger.day"),
        ({"month": "jan-6"}, "trigger.month"),
        ({"day": "2nd wednesday"}, "trigger.day"),
    ],
)
def test_refused_as_documented(spec: str | dict[str, Any], field: str) -> None:
    data = {"expression": spec} if isinstance(spec, str) else spec
    with pytest.raises(ValidationError) as caught:
        ScheduleSpec.parse({"trigger": "cron", **data})
    assert caught.value.field == field


def test_new_york_examples_of_the_rules_table() -> None:
    spring = datetime(2024, 3, 9, tzinfo=NEW_YORK)
    autumn = datetime(2024, 11, 2, 12, tzinfo=NEW_YORK)
    zone = "America/New_York"
    for spec in ("30 2 * * *", {"hour": 2, "minute": 30}):
        assert fires(spec, spring, 3, zone) == [
            "03-09 Sat 02:30:00-0500",
            "03-10 Sun 03:00:00-0400",
            "03-11 Mon 02:30:00-0400",
        ]
    for spec in ("30 1 * * *", {"hour": 1, "minute": 30}):
        assert fires(spec, autumn, 2, zone) == [
            "11-03 Sun 01:30:00-0400",
            "11-04 Mon 01:30:00-0500",
        ]
    for spec in ("*/30 * * * *", {"minute": "*/30"}):
        assert fires(spec, datetime(2024, 3, 10, 1, 15, tzinfo=NEW_YORK), 3, zone) == [
            "03-10 Sun 01:30:00-0500",
            "03-10 Sun 03:00:00-0400",
            "03-10 Sun 03:30:00-0400",
        ]
        assert fires(spec, datetime(2024, 11, 3, 0, 45, tzinfo=NEW_YORK), 5, zone) == [
            "11-03 Sun 01:00:00-0400",
            "11-03 Sun 01:30:00-0400",
            "11-03 Sun 01:00:00-0500",
            "11-03 Sun 01:30:00-0500",
            "11-03 Sun 02:00:00-0500",
        ]


def test_a_repeating_job_whose_matches_all_fall_in_gaps_has_no_next_fire() -> None:
    trigger = build_trigger(
        {"trigger": "cron", "expression": "* 2 * 3 SUN#2", "timezone": "America/New_York"}
    )
    assert trigger.next_fire_time(None, datetime(2026, 1, 1, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        # The shortest offset changes in tzdata: a week of DST in 2000, four days in 1939.
        ("America/Recife", datetime(2000, 10, 7, tzinfo=UTC)),
        ("Africa/Freetown", datetime(1939, 8, 31, tzinfo=UTC)),
    ],
)
def test_short_lived_offsets_are_not_missed(zone: str, start: datetime) -> None:
    from .oracle import OracleSpec
    from .oracle import fires as oracle_fires

    tz = ZoneInfo(zone)
    end = start + timedelta(days=10)
    for expression, wildcard in (("0,30 * * * *", True), ("30 0 * * *", False)):
        spec = OracleSpec(
            data={},
            seconds=frozenset({0}),
            minutes=frozenset({0, 30} if wildcard else {30}),
            hours=frozenset(range(24)) if wildcard else frozenset({0}),
            day=lambda _day: True,
            wildcard=wildcard,
        )
        trigger = build_trigger({"trigger": "cron", "expression": expression, "timezone": zone})
        got, fire = [], trigger.next_fire_time(None, start)
        while fire is not None and fire <= end:
            got.append(fire)
            fire = trigger.next_fire_time(fire, start)
        assert got == oracle_fires(spec, tz, start, end)


def test_every_kind_of_year_occurs_in_the_cycle_never_fires_checks() -> None:
    """The never-fires reasoning checks one Gregorian cycle: all 21 kinds of year occur."""
    from schedkit.triggers.fields import year_kind

    cycle = {year_kind(year) for year in range(2000, 2400)}
    assert cycle == {year_kind(year) for year in range(1, 10_000)}
    assert len(cycle) == 21
