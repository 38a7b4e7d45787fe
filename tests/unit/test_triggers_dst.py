"""Daylight-saving rules, pinned in two DST zones for crontab strings and cron fields.

2025 transitions: Europe/Berlin springs forward 02:00→03:00 on 30 March and falls back
03:00→02:00 on 26 October; America/New_York springs forward 02:00→03:00 on 9 March and
falls back 02:00→01:00 on 2 November.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from schedkit.triggers import CronSpec, ScheduleSpec, build_trigger

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def series(spec: dict[str, Any], now: datetime, n: int) -> list[datetime]:
    trigger = build_trigger(ScheduleSpec.parse(spec).trigger)
    out: list[datetime] = []
    previous = None
    while len(out) < n and (fire := trigger.next_fire_time(previous, now)) is not None:
        out.append(fire)
        previous = fire
    return out


def local(fires: list[datetime], tz: str) -> list[str]:
    return [f.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M%z") for f in fires]


def both_forms(expression: str, **fields: Any) -> list[dict[str, Any]]:
    return [
        {"trigger": "cron", "expression": expression},
        {"trigger": "cron", **fields},
    ]


FIXED_0230 = both_forms("30 2 * * *", hour=2, minute=30)
HALF_HOURLY = both_forms("*/30 * * * *", minute="*/30")


@pytest.mark.parametrize("form", [*FIXED_0230, {"trigger": "cron", "expression": "0 30 2 * * *"}])
def test_fixed_time_in_the_spring_gap_runs_once_at_the_gaps_end_berlin(
    form: dict[str, Any],
) -> None:
    fires = series({**form, "timezone": BERLIN}, utc(2025, 3, 28, 12), 3)
    assert local(fires, BERLIN) == ["03-29 02:30+0100", "03-30 03:00+0200", "03-31 02:30+0200"]
    assert fires[1] == utc(2025, 3, 30, 1, 0)


@pytest.mark.parametrize("form", FIXED_0230)
def test_fixed_time_in_the_spring_gap_runs_once_at_the_gaps_end_new_york(
    form: dict[str, Any],
) -> None:
    fires = series({**form, "timezone": NEW_YORK}, utc(2025, 3, 8, 12), 3)
    assert local(fires, NEW_YORK) == ["03-09 03:00-0400", "03-10 02:30-0400", "03-11 02:30-0400"]
    assert fires[0] == utc(2025, 3, 9, 7, 0)


@pytest.mark.parametrize("form", [*FIXED_0230, {"trigger": "cron", "expression": "0 30 2 * * *"}])
def test_fixed_time_in_the_repeated_hour_runs_once_berlin(form: dict[str, Any]) -> None:
    fires = series({**form, "timezone": BERLIN}, utc(2025, 10, 25, 12), 3)
    assert local(fires, BERLIN) == ["10-26 02:30+0200", "10-27 02:30+0100", "10-28 02:30+0100"]
    assert fires[0] == utc(2025, 10, 26, 0, 30)


@pytest.mark.parametrize("form", both_forms("30 1 * * *", hour=1, minute=30))
def test_fixed_time_in_the_repeated_hour_runs_once_new_york(form: dict[str, Any]) -> None:
    fires = series({**form, "timezone": NEW_YORK}, utc(2025, 11, 1, 12), 3)
    assert local(fires, NEW_YORK) == ["11-02 01:30-0400", "11-03 01:30-0500", "11-04 01:30-0500"]


@pytest.mark.parametrize("form", FIXED_0230)
def test_starting_inside_the_second_copy_does_not_rerun_the_fixed_time(
    form: dict[str, Any],
) -> None:
    # 01:10 UTC is 02:10 CET, inside the repeated hour, after the 02:30 CEST fire.
    fires = series({**form, "timezone": BERLIN}, utc(2025, 10, 26, 1, 10), 1)
    assert local(fires, BERLIN) == ["10-27 02:30+0100"]


def test_apscheduler_alone_runs_a_fixed_time_twice_on_fall_back() -> None:
    """Why cron fields are not handed to APScheduler as is (a canary for an upgrade)."""
    aps = CronTrigger(hour=2, minute=30, timezone=BERLIN)
    first = aps.get_next_fire_time(None, utc(2025, 10, 25, 12))
    second = aps.get_next_fire_time(first, first)
    assert (first.astimezone(UTC), second.astimezone(UTC)) == (
        utc(2025, 10, 26, 0, 30),
        utc(2025, 10, 26, 1, 30),
    )


@pytest.mark.parametrize("form", both_forms("30 1,2 * * *", hour="1,2", minute=30))
def test_fixed_times_around_the_gap(form: dict[str, Any]) -> None:
    # APScheduler alone skips the 02:30 fire entirely here.
    fires = series({**form, "timezone": BERLIN}, utc(2025, 3, 29, 23), 3)
    assert local(fires, BERLIN) == ["03-30 01:30+0100", "03-30 03:00+0200", "03-31 01:30+0200"]


@pytest.mark.parametrize("form", HALF_HOURLY)
@pytest.mark.parametrize(
    ("tz", "start", "expected"),
    [
        (
            BERLIN,
            utc(2025, 10, 25, 23, 30),
            [
                "10-26 01:30+0200",
                "10-26 02:00+0200",
                "10-26 02:30+0200",
                "10-26 02:00+0100",
                "10-26 02:30+0100",
                "10-26 03:00+0100",
            ],
        ),
        (
            NEW_YORK,
            utc(2025, 11, 2, 4, 30),
            [
                "11-02 00:30-0400",
                "11-02 01:00-0400",
                "11-02 01:30-0400",
                "11-02 01:00-0500",
                "11-02 01:30-0500",
                "11-02 02:00-0500",
            ],
        ),
    ],
)
def test_repeating_within_the_hour_runs_in_both_copies(
    form: dict[str, Any], tz: str, start: datetime, expected: list[str]
) -> None:
    fires = series({**form, "timezone": tz}, start, 6)
    assert local(fires, tz) == expected
    assert all(b - a == timedelta(minutes=30) for a, b in pairwise(fires))


@pytest.mark.parametrize("form", HALF_HOURLY)
def test_repeating_within_the_hour_skips_the_gap(form: dict[str, Any]) -> None:
    fires = series({**form, "timezone": NEW_YORK}, utc(2025, 3, 9, 6, 30), 3)
    assert local(fires, NEW_YORK) == ["03-09 01:30-0500", "03-09 03:00-0400", "03-09 03:30-0400"]


@pytest.mark.parametrize("form", both_forms("0 */2 * * *", hour="*/2", minute=0))
def test_wildcard_hour_is_a_repeating_job(form: dict[str, Any]) -> None:
    spring = series({**form, "timezone": BERLIN}, utc(2025, 3, 29, 22, 30), 2)
    assert local(spring, BERLIN) == ["03-30 00:00+0100", "03-30 04:00+0200"]
    autumn = series({**form, "timezone": BERLIN}, utc(2025, 10, 25, 22, 30), 3)
    assert local(autumn, BERLIN) == ["10-26 02:00+0200", "10-26 02:00+0100", "10-26 04:00+0100"]


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK])
@pytest.mark.parametrize(
    "start", [utc(2025, 3, 8, 22), utc(2025, 3, 29, 22), utc(2025, 10, 25, 22)]
)
def test_intervals_keep_real_time_spacing(tz: str, start: datetime) -> None:
    spec = {"trigger": "interval", "minutes": 20, "timezone": tz, "start_date": start}
    fires = series(spec, start, 3 * 24 * 3)
    assert all(b - a == timedelta(minutes=20) for a, b in pairwise(fires))


def test_a_daily_interval_is_24_real_hours_so_its_wall_time_moves() -> None:
    spec = {"trigger": "interval", "days": 1, "timezone": BERLIN, "start_date": "2025-03-29 12:00"}
    fires = series(spec, utc(2025, 3, 29), 2)
    assert local(fires, BERLIN) == ["03-29 12:00+0100", "03-30 13:00+0200"]


def test_fixed_time_fires_every_day_through_a_year_of_transitions() -> None:
    for tz in (BERLIN, NEW_YORK):
        for form in FIXED_0230:
            trigger = build_trigger(CronSpec.model_validate({**form, "timezone": tz}))
            fires = []
            previous = None
            for _ in range(365):
                previous = trigger.next_fire_time(previous, utc(2025, 1, 1))
                assert previous is not None
                fires.append(previous.astimezone(ZoneInfo(tz)).date())
            assert len(set(fires)) == 365


@pytest.mark.parametrize("form", [*FIXED_0230, *HALF_HOURLY])
def test_a_cron_start_or_end_date_in_the_gap_is_read_as_the_crons_fires_are(
    form: dict[str, Any],
) -> None:
    """Audit finding: start_date 02:30 on New York's spring-forward day was read with
    fold=0 (03:30), skipping that day's only fire of `30 2 * * *` (03:00, the gap's end),
    while the same wall time as end_date kept it; both are inclusive. A naive cron bound
    in a gap is now the gap's end, where the cron's times in the gap fire."""
    day = {**form, "timezone": NEW_YORK}
    start = ScheduleSpec.parse({**day, "start_date": "2024-03-10 02:30"}).trigger
    end = ScheduleSpec.parse({**day, "end_date": "2024-03-10 02:30"}).trigger
    assert start.to_json()["start_date"] == end.to_json()["end_date"] == "2024-03-10T03:00:00-04:00"
    first = series({**day, "start_date": "2024-03-10 02:30"}, utc(2024, 3, 1), 1)
    last = series({**day, "end_date": "2024-03-10 02:30"}, utc(2024, 3, 10, 6), 10)
    assert local(first, NEW_YORK) == ["03-10 03:00-0400"]
    assert local(last, NEW_YORK)[-1] == "03-10 03:00-0400"
    # An aware bound keeps its instant; an interval's start_date is its first fire, an
    # instant read as PEP 495 reads it (03:30), as documented.
    aware = {**day, "start_date": "2024-03-10T02:30:00-05:00"}
    assert ScheduleSpec.parse(aware).trigger.to_json()["start_date"] == "2024-03-10T03:30:00-04:00"
    interval = {"trigger": "interval", "hours": 1, "timezone": NEW_YORK}
    spec = ScheduleSpec.parse({**interval, "start_date": "2024-03-10 02:30"}).trigger
    assert spec.to_json()["start_date"] == "2024-03-10T02:30:00-05:00"
