"""Every example of issue #12 ("One correct time engine"), as a regression test.

Each failed with the engine that delegated to cronsim (crontab strings) and APScheduler 3
(cron fields): the expected values are Debian cron's documented behaviour.
"""

from __future__ import annotations

import gc
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedkit.errors import ValidationError
from schedkit.triggers import ScheduleSpec, build_trigger

LORD_HOWE = "Australia/Lord_Howe"
NEW_YORK = "America/New_York"
BERLIN = "Europe/Berlin"
SANTIAGO = "America/Santiago"
HAVANA = "America/Havana"


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


def series(spec: dict[str, Any], zone: str, start: datetime, n: int, *, after: bool) -> list[str]:
    """``n`` fires as local ISO strings: from ``start`` on, or strictly ``after`` it."""
    trigger = build_trigger({**spec, "timezone": zone})
    out: list[str] = []
    previous = start if after else None
    while len(out) < n and (fire := trigger.next_fire_time(previous, start)) is not None:
        out.append(fire.astimezone(ZoneInfo(zone)).isoformat())
        previous = fire
    return out


def crontab(expression: str) -> dict[str, Any]:
    return {"trigger": "cron", "expression": expression}


def fields(**values: Any) -> dict[str, Any]:
    return {"trigger": "cron", **values}


# 1. Wildcard jobs in zones with 30-minute DST shifts lost fires.


def test_every_18_hours_in_lord_howe_fires_at_18_00_after_the_30_minute_fall_back() -> None:
    start = local(LORD_HOWE, 2024, 4, 7, 0, 30)  # +11:00, before the 02:00 -> 01:30 change
    assert series(crontab("0 */18 * * *"), LORD_HOWE, start, 2, after=False) == [
        "2024-04-07T18:00:00+10:30",
        "2024-04-08T00:00:00+10:30",
    ]


def test_every_20_minutes_at_8_in_lord_howe_after_the_30_minute_spring_forward() -> None:
    start = local(LORD_HOWE, 2022, 10, 1, 16, 49)  # +10:30; 02:00 -> 02:30 on 2 October
    assert series(crontab("*/20 8 * * *"), LORD_HOWE, start, 4, after=False) == [
        "2022-10-02T08:00:00+11:00",
        "2022-10-02T08:20:00+11:00",
        "2022-10-02T08:40:00+11:00",
        "2022-10-03T08:00:00+11:00",
    ]


# 2. A one-value range with a step is that one value (Debian, Vixie, cronie).


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("5-5/15 * * * *", ["00:05", "01:05", "02:05"]),
        ("0 0 * * 1-1/6", ["2024-01-01", "2024-01-08", "2024-01-15"]),  # Mondays only
        ("0 0 1 JAN-JAN/2 *", ["2024-01-01", "2025-01-01", "2026-01-01"]),
    ],
)
def test_a_one_value_range_with_a_step_is_that_value(expression: str, expected: list[str]) -> None:
    fires = series(crontab(expression), "UTC", datetime(2024, 1, 1, tzinfo=UTC), 3, after=False)
    shown = [f[11:16] if ":" in expected[0] else f[:10] for f in fires]
    assert shown == expected


# 3. Cron fields with wildcards across spring-forward (APScheduler added wall-clock
#    differences as elapsed time).


def test_every_5_minutes_at_midnight_after_spring_forward_new_york() -> None:
    start = local(NEW_YORK, 2019, 3, 10, 0, 55)
    assert series(fields(minute="*/5", hour=0), NEW_YORK, start, 2, after=True) == [
        "2019-03-11T00:00:00-04:00",
        "2019-03-11T00:05:00-04:00",
    ]


def test_half_hourly_at_midnight_on_the_1st_after_spring_forward_new_york() -> None:
    start = local(NEW_YORK, 2024, 3, 1, 0, 30)
    assert series(fields(day=1, hour=0, minute="*/30"), NEW_YORK, start, 3, after=True) == [
        "2024-04-01T00:00:00-04:00",
        "2024-04-01T00:30:00-04:00",
        "2024-05-01T00:00:00-04:00",
    ]


def test_every_hour_on_mondays_after_spring_forward_berlin() -> None:
    start = local(BERLIN, 2024, 3, 25, 23, 0)
    assert series(fields(day_of_week="mon", hour="*"), BERLIN, start, 2, after=True) == [
        "2024-04-01T00:00:00+02:00",
        "2024-04-01T01:00:00+02:00",
    ]


# 4. Zones whose clocks change at midnight.


def test_every_6_hours_on_sundays_skips_midnight_in_santiagos_gap() -> None:
    start = local(SANTIAGO, 2024, 9, 7, 12)  # 8 September 00:00 -04 -> 01:00 -03
    assert series(crontab("0 */6 * * 0"), SANTIAGO, start, 4, after=False) == [
        "2024-09-08T06:00:00-03:00",
        "2024-09-08T12:00:00-03:00",
        "2024-09-08T18:00:00-03:00",
        "2024-09-15T00:00:00-03:00",
    ]


@pytest.mark.parametrize(
    ("zone", "start"), [(SANTIAGO, (2024, 9, 7, 12)), (HAVANA, (2024, 3, 9, 12))]
)
def test_the_hour_after_a_midnight_spring_forward_is_not_lost(
    zone: str, start: tuple[int, ...]
) -> None:
    fires = series(crontab("*/30 1 * * 0"), zone, local(zone, *start), 2, after=False)
    day = "2024-09-08" if zone == SANTIAGO else "2024-03-10"
    offset = "-03:00" if zone == SANTIAGO else "-04:00"
    assert fires == [f"{day}T01:00:00{offset}", f"{day}T01:30:00{offset}"]


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        (
            SANTIAGO,
            (2024, 9, 7, 23, 0),
            ["2024-09-07T23:30:00-04:00", "2024-09-08T01:30:00-03:00", "2024-09-08T02:30:00-03:00"],
        ),
        (  # 10 March 00:00 -05 -> 01:00 -04
            HAVANA,
            (2024, 3, 9, 23, 0),
            ["2024-03-09T23:30:00-05:00", "2024-03-10T01:30:00-04:00", "2024-03-10T02:30:00-04:00"],
        ),
        (  # 3 November 01:00 -04 -> 00:00 -05: the 00:xx hour twice
            HAVANA,
            (2024, 11, 2, 23, 0),
            [
                "2024-11-02T23:30:00-04:00",
                "2024-11-03T00:30:00-04:00",
                "2024-11-03T00:30:00-05:00",
                "2024-11-03T01:30:00-05:00",
            ],
        ),
    ],
)
def test_hourly_keeps_the_hour_after_a_midnight_change(
    zone: str, start: tuple[int, ...], expected: list[str]
) -> None:
    fires = series(crontab("30 * * * *"), zone, local(zone, *start), len(expected), after=False)
    assert fires == expected


def test_a_fixed_time_at_midnight_runs_once_at_the_end_of_santiagos_gap() -> None:
    start = local(SANTIAGO, 2024, 9, 7, 12)
    for spec in (crontab("0 0 * * *"), fields(hour=0)):
        assert series(spec, SANTIAGO, start, 2, after=False) == [
            "2024-09-08T01:00:00-03:00",
            "2024-09-09T00:00:00-03:00",
        ]


# 5. Asked exactly at the end of the gap, a fixed time in the gap is due right then.


@pytest.mark.parametrize("spec", [fields(hour=2, minute=30), crontab("30 2 * * *")])
def test_a_fixed_time_in_the_gap_is_due_when_asked_exactly_at_the_gaps_end(
    spec: dict[str, Any],
) -> None:
    start = local(NEW_YORK, 2024, 3, 10, 3, 0)
    assert series(spec, NEW_YORK, start, 2, after=False) == [
        "2024-03-10T03:00:00-04:00",
        "2024-03-11T02:30:00-04:00",
    ]


# "Never fires" is decided by reasoning over the field sets, quickly, for both forms.


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (fields(week=53, month="2-11"), "trigger.week"),
        (fields(week=53, month=6), "trigger.week"),
        (fields(day=30, month=2), "trigger.day"),
        (fields(year="2021-2023", month=2, day=29), "trigger.day"),
        (fields(year="1970-9999/400", week=53, month="2-11"), "trigger.week"),
        (fields(year="*/3", day="5th mon", month=2, day_of_week="tue"), "trigger.day"),
        (crontab("1 1 */100 * MON#4"), "trigger.expression"),
        (crontab("0 0 30 2 *"), "trigger.expression"),
        (crontab("0 0 31 4,6,9,11 *"), "trigger.expression"),
        (crontab("0 0 30,31 2 *"), "trigger.expression"),
    ],
)
def test_a_schedule_that_never_fires_is_rejected_in_under_50_ms(
    spec: dict[str, Any], field: str
) -> None:
    # This thread's CPU time, not the wall clock: the bound is about the reasoning (a
    # search over years would take seconds), not about how busy the machine is. Nor about
    # the garbage earlier tests left: a full collection of it inside the timed call took
    # over 50 ms late in a long test session.
    gc.collect()
    started = time.thread_time()
    with pytest.raises(ValidationError) as caught:
        ScheduleSpec.parse(spec)
    elapsed = time.thread_time() - started
    assert caught.value.field == field
    assert "never fire" in caught.value.message
    assert elapsed < 0.05, f"{elapsed * 1000:.1f} ms of CPU"


def test_rare_but_possible_schedules_are_accepted() -> None:
    for spec in (
        fields(week=53, month=12, day=31, day_of_week="thu"),  # 31 Dec in week 53 on a Thursday
        fields(month=2, day=29, day_of_week="mon"),  # once in 28 years or so
        crontab("0 0 * 2 SUN#5"),  # a February with five Sundays
    ):
        ScheduleSpec.parse(spec)
    trigger = build_trigger({**fields(month=2, day=29, day_of_week="mon"), "timezone": "UTC"})
    assert trigger.next_fire_time(None, datetime(2025, 1, 1, tzinfo=UTC)) == datetime(
        2044, 2, 29, tzinfo=UTC
    )


# Expressions have size limits.


@pytest.mark.parametrize(
    ("spec", "field", "fragment"),
    [
        (crontab(",".join(["1"] * 70_000) + " * * * *"), "trigger.expression", "1024 characters"),
        (crontab(",".join(["1"] * 101) + " * * * *"), "trigger.expression", "100 list items"),
        (fields(minute=",".join(["1"] * 101)), "trigger.minute", "100 list items"),
        (fields(year="2030," * 300 + "2031"), "trigger.year", "1024 characters"),
    ],
)
def test_oversized_expressions_are_refused(spec: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ScheduleSpec.parse(spec)
    assert caught.value.field == field
    assert fragment in caught.value.message
