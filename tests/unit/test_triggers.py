"""Schedule specs: accepted forms, validation errors, JSON, runtime contract, preview."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedkit.errors import SchedkitError, ValidationError
from schedkit.models import OverlapPolicy
from schedkit.triggers import (
    CronSpec,
    DateSpec,
    IntervalSpec,
    ScheduleSpec,
    build_trigger,
    parse_trigger,
    preview,
    trigger_from_json,
    upcoming,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def fires(spec: Any, now: datetime, n: int) -> list[datetime]:
    """The first ``n`` nominal fires, each computed from the previous nominal one."""
    trigger = build_trigger(ScheduleSpec.parse(spec).trigger)
    out: list[datetime] = []
    previous = None
    while len(out) < n and (fire := trigger.next_fire_time(previous, now)) is not None:
        out.append(fire)
        previous = fire
    return out


# -- accepted forms ---------------------------------------------------------------------------


def test_parse_takes_the_design_documents_flat_dict_as_is() -> None:
    spec = ScheduleSpec.parse(
        {"trigger": "cron", "hour": 2, "minute": 0, "misfire_grace_time": 300, "max_instances": 1}
    )
    assert spec.trigger == CronSpec(hour=2, minute=0, timezone="Asia/Shanghai")
    assert (spec.misfire_grace_time, spec.max_instances, spec.coalesce) == (300, 1, True)
    assert spec.overlap is OverlapPolicy.SKIP
    # Callers fill the policies a user left out from their own defaults.
    assert spec.model_fields_set == {"trigger", "misfire_grace_time", "max_instances"}


def test_parse_flat_interval_and_date() -> None:
    interval = ScheduleSpec.parse({"trigger": "interval", "minutes": 5}).trigger
    assert isinstance(interval, IntervalSpec)
    assert interval.length() == timedelta(minutes=5)
    date_spec = ScheduleSpec.parse({"trigger": "date", "run_date": "2025-10-01 09:00:00"}).trigger
    assert isinstance(date_spec, DateSpec)
    assert date_spec.run_date == sh(2025, 10, 1, 9)
    assert date_spec.run_date.utcoffset() == timedelta(hours=8)


def test_parse_nested_dict_with_policies() -> None:
    spec = ScheduleSpec.parse(
        {
            "trigger": {"trigger": "cron", "expression": "0 9 * * 1-5", "timezone": "UTC"},
            "overlap": "queue_one",
            "timeout": 60,
            "kwargs": {"region": "east", "limit": 10},
        }
    )
    assert spec.trigger == CronSpec(expression="0 9 * * 1-5", timezone="UTC")
    assert spec.overlap is OverlapPolicy.QUEUE_ONE
    assert spec.timeout == 60
    assert spec.kwargs == {"region": "east", "limit": 10}


def test_parse_crontab_strings_and_macros() -> None:
    assert ScheduleSpec.parse("0 9 * * 1-5").trigger == CronSpec(
        expression="0 9 * * 1-5", timezone="Asia/Shanghai"
    )
    assert ScheduleSpec.parse("  @daily ", default_timezone="UTC").trigger == CronSpec(
        expression="@daily", timezone="UTC"
    )
    flat = ScheduleSpec.parse({"trigger": "30 2 * * *", "max_instances": 2})
    assert flat.trigger == CronSpec(expression="30 2 * * *", timezone="Asia/Shanghai")
    assert flat.max_instances == 2


def test_a_crontab_step_larger_than_its_range_leaves_its_start() -> None:
    """As Debian cron reads it (docs/schedules.md): "*/90" minutes is minute 0, hourly,
    not every 90 minutes, which a newcomer may expect; the cron-field form refuses it."""
    start = sh(2026, 12, 7, 3, 10)
    hourly = [sh(2026, 12, 7, h, 0) for h in (4, 5, 6)]
    assert fires("*/90 * * * *", start, 3) == fires("*/61 * * * *", start, 3) == hourly
    with pytest.raises(ValidationError, match="larger than the range"):
        ScheduleSpec.parse({"trigger": "cron", "minute": "*/90"})


def test_parse_existing_specs() -> None:
    spec = ScheduleSpec.parse({"trigger": "interval", "hours": 1, "coalesce": False})
    again = ScheduleSpec.parse(spec, default_timezone="UTC")
    assert again == spec
    assert again.model_fields_set == spec.model_fields_set
    bare = ScheduleSpec.parse(CronSpec(hour=3), default_timezone="Europe/Berlin")
    assert bare.trigger == CronSpec(hour=3, timezone="Europe/Berlin")


def test_naive_datetimes_are_wall_times_in_the_spec_zone_and_aware_ones_keep_their_instant() -> (
    None
):
    spec = ScheduleSpec.parse(
        {
            "trigger": "interval",
            "hours": 1,
            "timezone": "Europe/Berlin",
            "start_date": datetime(2025, 7, 1, 8, 0),
            "end_date": "2025-07-01T12:00:00Z",
        }
    ).trigger
    assert isinstance(spec, IntervalSpec)
    assert spec.start_date == datetime(2025, 7, 1, 6, 0, tzinfo=UTC)
    assert spec.end_date == datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
    assert spec.end_date is not None and spec.end_date.utcoffset() == timedelta(hours=2)


def test_json_round_trip_for_every_trigger_type() -> None:
    for data in (
        {"trigger": "cron", "hour": 2, "minute": 0, "day_of_week": "mon-fri", "jitter": 30},
        {"trigger": "cron", "expression": "*/5 * * * *", "calendar": "cn_workdays"},
        {"trigger": "interval", "minutes": 90, "start_date": "2025-10-01 00:00"},
        {"trigger": "date", "run_date": "2025-10-01T09:00:00+08:00", "overlap": "allow"},
    ):
        spec = ScheduleSpec.parse(data)
        stored = json.loads(json.dumps(spec.to_json()))
        assert ScheduleSpec.from_json(stored) == spec
        assert parse_trigger(stored["trigger"]) == spec.trigger


def test_trigger_json_is_compact_and_explicit() -> None:
    spec = ScheduleSpec.parse({"trigger": "date", "run_date": "2025-10-01 09:00"})
    assert spec.to_json() == {
        "trigger": {
            "trigger": "date",
            "timezone": "Asia/Shanghai",
            "run_date": "2025-10-01T09:00:00+08:00",
        },
        "misfire_grace_time": 300.0,
        "max_instances": 1,
        "coalesce": True,
        "overlap": "skip",
        "timeout": None,
        "max_runs": None,
        "kwargs": {},
        "labels": [],
        "executor": None,
    }


def test_the_stored_form_in_docs_schedules_md_is_exactly_to_json() -> None:
    """docs/schedules.md "Stored form" once left out ``"max_runs": null``."""
    text = (Path(__file__).parents[2] / "docs" / "schedules.md").read_text(encoding="utf-8")
    section = text.split("## Stored form", 1)[1]
    shown = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])
    assert list(shown) == list(ScheduleSpec.from_json(shown).to_json())
    assert ScheduleSpec.from_json(shown).to_json() == shown


# -- validation errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"trigger": "cron", "hour": 25}, "trigger.hour", "25"),
        ({"trigger": "cron", "minute": 61}, "trigger.minute", "61"),
        ({"trigger": "cron", "day_of_week": "mon-fry"}, "trigger.day_of_week", "fry"),
        ({"trigger": "cron", "day_of_week": 7}, "trigger.day_of_week", "7"),
        ("0 25 * * *", "trigger.expression", "bad hour"),
        ("61 9 * * *", "trigger.expression", "bad minute"),
        ("0 9 * * 8", "trigger.expression", "bad day-of-week"),
        ("0 9 * *", "trigger.expression", "wrong number of fields"),
        ({"trigger": "cron", "hour": 2, "timezone": "Mars/Olympus"}, "trigger.timezone", "Mars"),
        ({"trigger": "crn", "hour": 2}, "trigger.trigger", "unknown trigger type 'crn'"),
        ({"trigger": {"hour": 2}}, "trigger.trigger", "missing trigger type"),
        ({"trigger": "interval", "minutes": 0}, "trigger.minutes", "longer than zero"),
        ({"trigger": "interval"}, "trigger.seconds", "longer than zero"),
        ({"trigger": "interval", "minutes": -5}, "trigger.minutes", "greater than or equal"),
        (
            {
                "trigger": "interval",
                "minutes": 5,
                "start_date": "2025-10-02",
                "end_date": "2025-10-01",
            },
            "trigger.end_date",
            "before start_date",
        ),
        (
            {
                "trigger": "cron",
                "hour": 2,
                "start_date": "2025-10-02T00:00:00+08:00",
                "end_date": "2025-10-01T15:00:00Z",
            },
            "trigger.end_date",
            "before start_date",
        ),
        ({"trigger": "cron", "hourr": 2}, "trigger.hourr", "did you mean 'hour'"),
        (
            {"trigger": "date", "run_date": "2030-01-01T00:00:00+08:00", "minutes": 3},
            "trigger.minutes",
            "a field of interval triggers, not of date triggers",
        ),
        ({"trigger": {"trigger": "cron", "hour": 2}, "overlapp": "skip"}, "overlapp", "'overlap'"),
        ({"trigger": "cron", "hour": 2, "max_instances": 0}, "max_instances", "greater than"),
        ({"trigger": "cron", "hour": 2, "overlap": "sometimes"}, "overlap", "queue_one"),
        ({"trigger": "cron", "hour": 2, "timeout": 0}, "timeout", "greater than"),
        ({"trigger": "cron", "hour": 2, "kwargs": {"at": datetime.now}}, "kwargs.at", "JSON"),
        ({"trigger": "cron"}, "trigger.expression", "needs expression"),
        ({"trigger": "cron", "expression": "0 9 * * *", "hour": 2}, "trigger.expression", "both"),
        ({"trigger": "cron", "day": 30, "month": 2}, "trigger.day", "never fire"),
        ("0 0 30 2 *", "trigger.expression", "never fires"),
        ({"trigger": "date"}, "trigger.run_date", "required"),
        ({"trigger": "cron", "hour": 2, "jitter": -1}, "trigger.jitter", "greater than"),
        (
            {"trigger": "cron", "hour": 2, "calendar": "US Holidays"},
            "trigger.calendar.name",
            "lower",
        ),
        (
            {"trigger": "cron", "hour": 2, "calendar": {"name": "x", "nth": 0}},
            "trigger.calendar.nth",
            "0",
        ),
        (42, None, "dictionary"),
    ],
)
def test_invalid_input_names_the_field(data: Any, field: str | None, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ScheduleSpec.parse(data)
    assert caught.value.field == field
    assert fragment.lower() in caught.value.message.lower()
    assert isinstance(caught.value, SchedkitError)


def test_unknown_default_timezone_is_a_timezone_error() -> None:
    with pytest.raises(ValidationError) as caught:
        ScheduleSpec.parse("0 9 * * *", default_timezone="Asia/Shangai")
    assert caught.value.field == "trigger.timezone"
    assert str(caught.value) == (
        "trigger.timezone: unknown timezone 'Asia/Shangai'; did you mean 'Asia/Shanghai'?"
    )


def test_errors_lists_every_problem_for_api_use() -> None:
    with pytest.raises(ValidationError) as caught:
        ScheduleSpec.parse({"trigger": "cron", "hour": 25, "minute": 61, "max_instances": 0})
    assert [e["loc"] for e in caught.value.errors] == [
        ["trigger", "hour"],
        ["trigger", "minute"],
        ["max_instances"],
    ]
    assert all(isinstance(e["msg"], str) and e["msg"] for e in caught.value.errors)
    assert caught.value.field == "trigger.hour"
    assert "trigger.minute" in caught.value.message


def test_stored_trigger_json_is_validated_too() -> None:
    with pytest.raises(ValidationError) as caught:
        trigger_from_json({"trigger": "cron", "hour": 25, "timezone": "UTC"})
    assert caught.value.field == "trigger.hour"
    with pytest.raises(ValidationError) as caught:
        trigger_from_json({"trigger": "weekly"})
    assert caught.value.field == "trigger.trigger"


# -- runtime contract -------------------------------------------------------------------------


def test_fires_are_aware_utc_and_the_first_is_at_or_after_now() -> None:
    trigger = build_trigger(CronSpec(hour=9, minute=0))
    exactly = trigger.next_fire_time(None, sh(2025, 6, 2, 9))
    assert exactly == sh(2025, 6, 2, 9)
    assert exactly is not None and exactly.tzinfo is UTC
    assert trigger.next_fire_time(None, sh(2025, 6, 2, 9, 0, 1)) == sh(2025, 6, 3, 9)


def test_previous_wins_over_now_so_missed_fires_stay_visible() -> None:
    trigger = build_trigger(CronSpec(expression="0 9 * * *"))
    assert trigger.next_fire_time(sh(2025, 6, 1, 9), sh(2025, 6, 5, 12)) == sh(2025, 6, 2, 9)


def test_naive_times_are_refused() -> None:
    trigger = build_trigger(CronSpec(hour=9))
    with pytest.raises(ValueError, match="naive"):
        trigger.next_fire_time(None, datetime(2025, 6, 1, 9))


def test_date_trigger_fires_once_even_when_late() -> None:
    trigger = build_trigger(DateSpec(run_date=sh(2025, 10, 1, 9)))
    # Past run dates are returned so that the engine's misfire policy decides.
    first = trigger.next_fire_time(None, sh(2025, 10, 1, 9, 0, 5))
    assert first == sh(2025, 10, 1, 9)
    assert trigger.next_fire_time(first, sh(2025, 10, 1, 9, 0, 5)) is None


def test_cron_window_start_and_end_are_inclusive() -> None:
    spec = {
        "trigger": "cron",
        "expression": "0 9 * * *",
        "start_date": "2025-06-03 09:00",
        "end_date": "2025-06-05 09:00",
    }
    assert fires(spec, sh(2025, 6, 1), 10) == [sh(2025, 6, d, 9) for d in (3, 4, 5)]
    dict_form = {**spec, "expression": None, "hour": 9}
    assert fires(dict_form, sh(2025, 6, 1), 10) == [sh(2025, 6, d, 9) for d in (3, 4, 5)]
    assert fires(spec, sh(2025, 7, 1), 1) == []


def test_interval_window_and_anchor() -> None:
    spec = {
        "trigger": "interval",
        "minutes": 20,
        "start_date": "2025-06-01 10:00",
        "end_date": "2025-06-01 11:00",
    }
    # Before start: the start itself; later: the grid that start_date anchors.
    assert fires(spec, sh(2025, 6, 1, 8), 10) == [sh(2025, 6, 1, 10, m) for m in (0, 20, 40)] + [
        sh(2025, 6, 1, 11)
    ]
    assert fires(spec, sh(2025, 6, 1, 10, 25), 1) == [sh(2025, 6, 1, 10, 40)]


def test_interval_without_start_fires_one_interval_after_now_then_keeps_spacing() -> None:
    trigger = build_trigger(IntervalSpec(minutes=5))
    now = sh(2025, 6, 1, 10, 0, 7)
    first = trigger.next_fire_time(None, now)
    assert first == now + timedelta(minutes=5)
    # Later fires come from the previous nominal fire, whatever ``now`` is.
    assert trigger.next_fire_time(first, now + timedelta(hours=1)) == now + timedelta(minutes=10)


# Zones as far from UTC as there are, either way (Kiritimati's +14 is from 1995; in
# year 1 tzdata gives it local mean time, -10:29:20).
EDGE_ZONES = ("Pacific/Kiritimati", "Etc/GMT-14", "Etc/GMT+12", "UTC", "Asia/Shanghai")
EDGE_SPECS: list[dict[str, Any]] = [
    {"trigger": "cron", "expression": "*/20 * * * *"},
    {"trigger": "cron", "hour": "*/5", "minute": 30},
    {"trigger": "interval", "minutes": 50},
    {"trigger": "interval", "hours": 7, "start_date": "9999-12-29T03:00:00"},
    {"trigger": "interval", "hours": 7, "start_date": "0001-01-02T03:00:00"},
    {"trigger": "date", "run_date": "9999-12-29T12:00:00"},
    {"trigger": "date", "run_date": "0001-01-03T12:00:00"},
]


@pytest.mark.parametrize("zone", EDGE_ZONES)
@pytest.mark.parametrize("spec", EDGE_SPECS, ids=lambda spec: json.dumps(spec))
def test_fires_at_the_ends_of_the_dates_can_be_shown_in_any_zone(
    spec: dict[str, Any], zone: str
) -> None:
    # A fire is an instant every zone can show, jittered by up to a day: the API lists
    # it in the spec's and the configured zone. Past that, the series ends (None).
    trigger = build_trigger({**spec, "timezone": zone})
    for now in (datetime.min.replace(tzinfo=UTC), datetime(9999, 12, 28, tzinfo=UTC)):
        previous = None
        for _ in range(300):
            fire = trigger.next_fire_time(previous, now)
            if fire is None:
                break
            for shown in EDGE_ZONES:
                (fire + timedelta(days=1)).astimezone(ZoneInfo(shown))
                fire.astimezone(ZoneInfo(shown))
            trigger.local_day(fire)
            assert trigger.fire_at_or_after(fire, fire + timedelta(hours=1)) != fire
            previous = fire
        else:
            assert now.year == 1  # the series from year 1 goes on
    last = datetime.max.replace(tzinfo=UTC)
    if spec["trigger"] != "date":  # which answers its run date even when passed
        assert trigger.next_fire_time(None, last) is None
    assert trigger.next_fire_time(last, last) is None


@pytest.mark.parametrize("zone", EDGE_ZONES)
def test_a_cron_from_year_one_fires_in_every_zone(zone: str) -> None:
    trigger = build_trigger({"trigger": "cron", "hour": 6, "minute": 0, "timezone": zone})
    fire = trigger.next_fire_time(None, datetime.min.replace(tzinfo=UTC))
    assert fire is not None and fire.year == 1
    assert fire.astimezone(ZoneInfo(zone)).hour == 6


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"trigger": "interval", "hours": 1, "start_date": "0001-01-01T00:00:00"}, "start_date"),
        ({"trigger": "cron", "hour": 1, "end_date": "9999-12-31T23:59:00"}, "end_date"),
        ({"trigger": "date", "run_date": "9999-12-31T23:59:00"}, "run_date"),
    ],
)
def test_a_date_that_is_no_instant_of_years_1_to_9999_is_refused(
    spec: dict[str, Any], field: str
) -> None:
    # 0001-01-01 00:00 at +14 is in year 0 in UTC; 9999-12-31 23:59 at
    # -12 is in year 10000.
    zone = "Etc/GMT-14" if field == "start_date" else "Etc/GMT+12"
    with pytest.raises(ValidationError, match="supported date range") as caught:
        build_trigger({**spec, "timezone": zone})
    assert caught.value.field == f"trigger.{field}"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"trigger": "interval", "days": 3_000_000}, "trigger.days"),
        ({"trigger": "interval", "weeks": 1, "days": 2_999_999}, "trigger.days"),
        (
            {"trigger": "interval", "hours": 1, "start_date": "9999-12-31T23:30"},
            "trigger.start_date",
        ),
        ({"trigger": "date", "run_date": "9999-12-31T08:00"}, "trigger.run_date"),
        ({"trigger": "cron", "year": 9999, "month": 12, "day": 31}, "trigger.year"),
        (
            {"trigger": "cron", "expression": "0 0 * * *", "start_date": "9999-12-31"},
            "trigger.start_date",
        ),
    ],
)
def test_a_schedule_whose_first_fire_is_past_the_supported_dates_is_refused(
    spec: dict[str, Any], field: str
) -> None:
    trigger = build_trigger(spec)
    with pytest.raises(ValidationError, match="never fires") as caught:
        trigger.first_fire(sh(2026, 12, 6))
    assert caught.value.field == field
    assert trigger.next_fire_time(None, sh(2026, 12, 6)) is None


def test_first_fire_is_the_next_fire_otherwise() -> None:
    now = sh(2026, 12, 6)
    for spec in [*EDGE_SPECS, {"trigger": "cron", "year": 2020}]:
        if spec.get("run_date", "").startswith("9999") or spec.get("start_date", "").startswith(
            "9999"
        ):
            continue
        trigger = build_trigger(spec)
        assert trigger.first_fire(now) == trigger.next_fire_time(None, now)


def test_jitter_offsets_are_bounded_deterministic_and_spread() -> None:
    trigger = build_trigger(CronSpec(expression="* * * * *", jitter=30))
    again = build_trigger(CronSpec(expression="* * * * *", jitter=30))
    nominals = [sh(2025, 6, 1) + timedelta(minutes=k) for k in range(500)]
    offsets = [trigger.jitter_offset("report", t) for t in nominals]
    assert all(0 <= o < 30 for o in offsets)
    assert offsets == [again.jitter_offset("report", t) for t in nominals]
    # The same instant written in another zone is the same fire.
    assert trigger.jitter_offset("report", nominals[0].astimezone(UTC)) == offsets[0]
    assert min(offsets) < 3 and max(offsets) > 27
    assert offsets != [trigger.jitter_offset("other", t) for t in nominals]
    assert build_trigger(CronSpec(hour=2)).jitter_offset("report", nominals[0]) == 0.0


@pytest.mark.parametrize(
    "spec",
    [
        {"trigger": "interval", "minutes": 7, "jitter": 120},
        {"trigger": "cron", "expression": "*/5 * * * *", "jitter": 240},
        {"trigger": "cron", "minute": "*/5", "jitter": 240},
    ],
)
def test_jitter_never_drifts_the_series(spec: dict[str, Any]) -> None:
    """Run the engine's loop: fire at nominal + offset, compute on from the nominal."""
    start = sh(2025, 6, 1, 10)
    jittered = build_trigger(ScheduleSpec.parse(spec).trigger)
    plain = fires({k: v for k, v in spec.items() if k != "jitter"}, start, 300)
    nominal = jittered.next_fire_time(None, start)
    seen = []
    for _ in range(300):
        assert nominal is not None
        seen.append(nominal)
        fired_at = nominal + timedelta(seconds=jittered.jitter_offset("s1", nominal))
        assert fired_at >= nominal
        nominal = jittered.next_fire_time(nominal, fired_at)
    assert seen == plain


def test_crontab_strings_count_weekdays_from_sunday_and_fields_from_monday() -> None:
    monday_noon = sh(2025, 6, 2, 12)  # a Monday
    assert fires("0 9 * * 0", monday_noon, 1) == [sh(2025, 6, 8, 9)]  # Sunday
    assert fires("0 9 * * 7", monday_noon, 1) == [sh(2025, 6, 8, 9)]  # Sunday
    assert fires("0 9 * * SUN", monday_noon, 1) == [sh(2025, 6, 8, 9)]
    assert fires("0 9 * * 1", monday_noon, 1) == [sh(2025, 6, 9, 9)]  # Monday
    # APScheduler's fields: 0 is Monday, names work.
    assert fires({"trigger": "cron", "day_of_week": 0, "hour": 9}, monday_noon, 1) == [
        sh(2025, 6, 9, 9)
    ]
    assert fires({"trigger": "cron", "day_of_week": "sun", "hour": 9}, monday_noon, 1) == [
        sh(2025, 6, 8, 9)
    ]


def test_six_field_crontab_has_leading_seconds() -> None:
    assert fires("*/20 30 9 * * *", sh(2025, 6, 2, 9, 30, 5), 4) == [
        sh(2025, 6, 2, 9, 30, 20),
        sh(2025, 6, 2, 9, 30, 40),
        sh(2025, 6, 3, 9, 30, 0),
        sh(2025, 6, 3, 9, 30, 20),
    ]


# -- business calendars ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "workdays", "skip_holidays"),
    [
        ("2025-09-26", True, True),  # Friday
        ("2025-09-27", False, True),  # ordinary Saturday
        ("2025-09-28", True, True),  # Sunday, make-up workday for National Day
        ("2025-10-01", False, False),  # National Day
        ("2025-10-04", False, False),  # Saturday inside the holiday
        ("2025-10-06", False, False),  # Mid-Autumn Festival, inside the same break
        ("2025-10-11", True, True),  # Saturday, make-up workday
        ("2025-10-12", False, True),  # ordinary Sunday
    ],
)
def test_chinese_calendars(day: str, workdays: bool, skip_holidays: bool) -> None:
    def fires(calendar: str | None) -> bool:
        spec = CronSpec(hour=9, calendar=calendar)
        return sh(*map(int, day.split("-")), 9) in preview(
            spec, 1, now=sh(*map(int, day.split("-")))
        )

    assert fires("cn_workdays") is workdays
    assert fires("cn_skip_holidays") is skip_holidays
    assert fires(None) is True


def test_calendar_day_is_the_local_day() -> None:
    trigger = build_trigger(CronSpec(hour=0, minute=30, calendar="cn_workdays"))
    # 16:30 UTC on 30 September is 00:30 on 1 October in Shanghai.
    assert trigger.local_day(datetime(2025, 9, 30, 16, 30, tzinfo=UTC)) == date(2025, 10, 1)
    assert trigger.local_day(datetime(2025, 9, 30, 15, 30, tzinfo=UTC)) == date(2025, 9, 30)
    got = upcoming(trigger, 1, datetime(2025, 9, 30, 15, 0, tzinfo=UTC))
    assert got.fires == [datetime(2025, 10, 8, 16, 30, tzinfo=UTC)]  # 00:30 on 9 October


def test_a_calendar_reference_keeps_its_json() -> None:
    plain = ScheduleSpec.parse({"trigger": "cron", "hour": 9, "calendar": "cn_workdays"})
    assert plain.trigger.to_json()["calendar"] == "cn_workdays"
    nth = ScheduleSpec.parse(
        {"trigger": "cron", "hour": 9, "calendar": {"name": "cn_workdays", "nth": "last"}}
    )
    assert nth.trigger.to_json()["calendar"] == {"name": "cn_workdays", "nth": -1}


# -- preview ---------------------------------------------------------------------------------


def test_preview_weekdays_from_a_sunday() -> None:
    got = preview("0 9 * * 1-5", now=sh(2025, 6, 1, 12))
    assert got == [sh(2025, 6, d, 9) for d in (2, 3, 4, 5, 6)]
    assert got[0].strftime("%a %H:%M %z") == "Mon 09:00 +0800"
    assert all(t.tzinfo == SHANGHAI for t in got)


def test_preview_cn_workdays_around_national_day_2025() -> None:
    spec = {"trigger": "cron", "expression": "0 9 * * *", "calendar": "cn_workdays"}
    assert preview(spec, 6, now=sh(2025, 9, 26, 10)) == [
        sh(2025, 9, 28, 9),  # make-up Sunday
        sh(2025, 9, 29, 9),
        sh(2025, 9, 30, 9),
        sh(2025, 10, 9, 9),  # 1–8 October are off
        sh(2025, 10, 10, 9),
        sh(2025, 10, 11, 9),  # make-up Saturday
    ]


def test_calendar_filters_a_weekday_cron_but_cannot_add_make_up_days() -> None:
    spec = {"trigger": "cron", "expression": "0 9 * * 1-5", "calendar": "cn_workdays"}
    assert preview(spec, 5, now=sh(2025, 9, 26, 10)) == [
        sh(2025, 9, 29, 9),
        sh(2025, 9, 30, 9),
        sh(2025, 10, 9, 9),
        sh(2025, 10, 10, 9),
        sh(2025, 10, 13, 9),
    ]


def test_preview_skip_holidays_keeps_ordinary_weekends() -> None:
    spec = {
        "trigger": "cron",
        "hour": 9,
        "calendar": "cn_skip_holidays",
        "timezone": "Asia/Shanghai",
    }
    assert preview(spec, 4, now=sh(2025, 9, 30, 10)) == [
        sh(2025, 10, d, 9) for d in (9, 10, 11, 12)
    ]


def test_preview_other_forms() -> None:
    assert preview({"trigger": "interval", "hours": 6}, 2, now=sh(2025, 6, 1)) == [
        sh(2025, 6, 1, 6),
        sh(2025, 6, 1, 12),
    ]
    assert preview(DateSpec(run_date=sh(2025, 6, 1, 9)), now=sh(2025, 5, 1)) == [sh(2025, 6, 1, 9)]
    assert preview(DateSpec(run_date=sh(2025, 6, 1, 9)), now=sh(2025, 7, 1)) == []
    berlin = preview("0 9 * * *", 1, now=sh(2025, 6, 1), default_timezone="Europe/Berlin")
    assert berlin[0].utcoffset() == timedelta(hours=2)
    assert berlin[0].hour == 9
