"""APScheduler 3's own cron test vectors (agronholm/apscheduler 3.x,
tests/triggers/test_cron.py), ported to the cron-fields form.

Ported: every test that computes a fire time (its ``timezone`` fixture is Europe/Berlin;
US/Eastern is America/New_York; fixed offsets are Etc/GMT zones). Not ported: repr/str,
pickling, the local-zone default and ``from_crontab`` (APScheduler's crontab counts
weekdays from Monday and ANDs the day fields: not a crontab in Debian's sense), whose
tests assert no fire time; the jitter tests draw random delays, so only their nominal fire
times are kept (schedkit's jitter is a deterministic offset on top, tested elsewhere).

``get_next_fire_time(None, now)`` is "at or after now"; ``get_next_fire_time(start,
start)`` is "strictly after start": each DST vector is ported in both forms.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from .vectors import Rejected, Vector, params, rejects, schedkit_fires

BERLIN = "Europe/Berlin"
EASTERN = "America/New_York"


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(BERLIN))


def eastern(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(EASTERN), fold=fold)


def at(test: str, spec: dict[str, Any], start: datetime, expected: list[str], **kw: Any) -> Vector:
    return Vector(test, spec, start, expected, zone=kw.pop("zone", BERLIN), after=False, **kw)


ONCE_IN_ITS_FIRST_OCCURRENCE = (
    "APScheduler runs a fixed time again in the second copy of the repeated hour; Debian "
    "cron runs it once, in its first occurrence"
)

VECTORS = [
    at(
        "test_cron_trigger_1",
        {"year": "2009/2", "month": "1/3", "day": "5-13"},
        berlin(2008, 12, 1),
        ["2009-01-05T00:00:00+01:00"],
    ),
    at(
        "test_cron_trigger_2",
        {"year": "2009/2", "month": "1/3", "day": "5-13"},
        berlin(2009, 10, 14),
        ["2011-01-05T00:00:00+01:00"],
    ),
    at(
        "test_cron_trigger_3",
        {"year": "2009", "month": "feb-dec", "hour": "8-10"},
        berlin(2009, 1, 1),
        ["2009-02-01T08:00:00+01:00"],
    ),
    at(
        "test_cron_trigger_4",
        {"year": "2012", "month": "2", "day": "last"},
        berlin(2012, 2, 1),
        ["2012-02-29T00:00:00+01:00"],
    ),
    at(
        "test_cron_year_list",
        {"year": "2009,2008"},
        berlin(2009, 1, 1),
        ["2009-01-01T00:00:00+01:00"],
    ),
    at(
        "test_cron_start_date",
        {"year": "2009", "month": "2", "hour": "8-10", "start_date": "2009-02-03 11:00:00"},
        berlin(2009, 1, 1),
        ["2009-02-04T08:00:00+01:00"],
    ),
    Vector(
        "test_previous_fire_time_1",
        {"day": "*"},
        berlin(2015, 11, 23),
        ["2015-11-24T00:00:00+01:00"],
        zone=BERLIN,
        peer={"now": berlin(2015, 11, 26)},
    ),
    Vector(
        "test_previous_fire_time_2",
        {"day": "*"},
        berlin(2015, 11, 23),
        ["2015-11-22T00:00:00+01:00"],
        zone=BERLIN,
        peer={"now": berlin(2015, 11, 22)},
        debian=["2015-11-24T00:00:00+01:00"],
        why=(
            "not a DST rule but schedkit's contract: the next fire is strictly after the "
            "previous nominal fire whatever 'now' is (APScheduler takes the earlier of the two)"
        ),
    ),
    Vector(
        "test_previous_fire_time_3",
        {"day": "*"},
        berlin(2016, 4, 25),
        ["2016-04-26T00:00:00+02:00"],
        zone=BERLIN,
    ),
    at(
        "test_cron_weekday_overlap",
        {"year": 2009, "month": 1, "day": "6-10", "day_of_week": "2-4"},
        berlin(2009, 1, 1),
        ["2009-01-07T00:00:00+01:00"],
    ),
    at(
        "test_cron_weekday_positional",
        {"year": 2009, "month": 1, "day": "4th wed"},
        berlin(2009, 1, 1),
        ["2009-01-28T00:00:00+01:00"],
    ),
    at(
        "test_week_1",
        {"year": 2009, "month": 2, "week": 8},
        berlin(2009, 1, 1),
        ["2009-02-16T00:00:00+01:00"],
    ),
    at(
        "test_week_2",
        {"year": 2009, "week": 15, "day_of_week": 2},
        berlin(2009, 1, 1),
        ["2009-04-08T00:00:00+02:00"],
    ),
    at(
        "test_cron_extra_coverage",
        {"day": "6,8"},
        berlin(2009, 12, 31),
        ["2010-01-06T00:00:00+01:00"],
    ),
    at(
        "test_cron_increment_weekday",
        {"hour": "5-6"},
        berlin(2009, 9, 25, 7),
        ["2009-09-26T05:00:00+02:00"],
    ),
    at("test_month_rollover", {"day": 30}, berlin(2016, 2, 1), ["2016-03-30T00:00:00+02:00"]),
    at(
        "test_end_date[before]",
        {"year": 2014, "hour": 4, "end_date": "2014-04-13 03:00:00"},
        berlin(2014, 4, 12, 2, 30),
        ["2014-04-12T04:00:00+02:00"],
    ),
    at(
        "test_end_date[after]",
        {"year": 2014, "hour": 4, "end_date": "2014-04-13 03:00:00"},
        berlin(2014, 4, 13, 2, 30),
        [],
    ),
    at(
        "test_different_tz",
        {"year": 2009, "week": 15, "day_of_week": 2},
        datetime(2008, 12, 31, 22, tzinfo=ZoneInfo("Etc/GMT+10")),
        ["2009-04-08T00:00:00+02:00"],
    ),
    at(
        "test_timezone_change",
        {"hour": 11, "minute": "*/5"},
        datetime(2009, 9, 26, 10, 16, tzinfo=ZoneInfo("Etc/GMT+6")),
        ["2009-09-26T11:20:00-05:00"],
        zone="Etc/GMT+5",
    ),
    at(
        "test_jitter_with_timezone (nominal)",
        {"hour": 11, "minute": "*/5", "jitter": 5},
        datetime(2009, 9, 26, 10, 16, tzinfo=ZoneInfo("Etc/GMT+6")),
        ["2009-09-26T11:20:00-05:00"],
        zone="Etc/GMT+5",
    ),
    at(
        "test_jitter_produces_differrent_valid_results (nominal)",
        {"minute": "*", "jitter": 5},
        berlin(2017, 11, 12, 6, 55, 30),
        ["2017-11-12T06:56:00+01:00"],
    ),
]

_DST = [
    ("absolute_spring", {"hour": 8}, eastern(2013, 3, 9, 12), "2013-03-10T08:00:00-04:00", None),
    (
        "absolute_autumn",
        {"hour": 8},
        eastern(2013, 11, 2, 12, fold=1),
        "2013-11-03T08:00:00-05:00",
        None,
    ),
    (
        "absolute_autumn_from_before_into_repeated_interval",
        {"hour": 1, "minute": 30},
        eastern(2013, 11, 3, 0, 30),
        "2013-11-03T01:30:00-04:00",
        None,
    ),
    (
        "absolute_autumn_from_repeated_into_repeated_interval",
        {"hour": 1, "minute": 30},
        eastern(2013, 11, 3, 1, 30, 5),
        "2013-11-03T01:30:00-05:00",
        "2013-11-04T01:30:00-05:00",
    ),
    (
        "absolute_autumn_from_repeated_interval_to_after",
        {"hour": 1, "minute": 30},
        eastern(2013, 11, 3, 1, 30, 5, fold=1),
        "2013-11-04T01:30:00-05:00",
        None,
    ),
    (
        "interval_spring",
        {"minute": "*/30"},
        eastern(2013, 3, 10, 1, 35, fold=1),
        "2013-03-10T03:00:00-04:00",
        None,
    ),
    (
        "interval_autumn",
        {"minute": "*/30"},
        eastern(2013, 11, 3, 1, 35),
        "2013-11-03T01:00:00-05:00",
        None,
    ),
]
for name, spec, start, expected, debian in _DST:
    for after in (False, True):
        VECTORS.append(
            Vector(
                f"test_dst_change[{name}-{'previous' if after else 'now'}]",
                spec,
                start,
                [expected],
                zone=EASTERN,
                after=after,
                debian=None if debian is None else [debian],
                why="" if debian is None else ONCE_IN_ITS_FIRST_OCCURRENCE,
            )
        )
for after in (False, True):
    VECTORS.append(
        Vector(
            f"test_dst_change_2[{'previous' if after else 'now'}]",
            {"minute": 30},
            datetime(2017, 10, 29, 3, 30, 0, 5, tzinfo=ZoneInfo("Europe/Helsinki"), fold=1),
            ["2017-10-29T04:30:00+02:00"],
            zone="Europe/Helsinki",
            after=after,
        )
    )

REJECTED = [
    # APScheduler returns None (no fire ever); schedkit refuses it up front.
    Rejected(
        "test_cron_weekday_nomatch",
        {"year": 2009, "month": 1, "day": "6-10", "day_of_week": "0,6"},
    ),
    Rejected("test_cron_faulty_expr", {"year": "2009-fault"}),
    Rejected("test_cron_bad_kwarg", {"second": 0, "third": 1}),
    Rejected("test_invalid_ranges[too_large_step_all]", {"day": "*/31"}),
    Rejected("test_invalid_ranges[too_large_step_range]", {"day": "4-6/3"}),
    Rejected("test_invalid_ranges[too_high_last]", {"hour": "0-24"}),
    Rejected("test_invalid_ranges[too_low_first]", {"day": "0-3"}),
]

_WINDOW = ("start_date", "end_date", "jitter")


@pytest.mark.parametrize("vector", params(VECTORS))
def test_schedkit_fires(vector: Vector) -> None:
    assert schedkit_fires(vector) == vector.schedkit_expects, vector.why


@pytest.mark.parametrize("vector", params(REJECTED))
def test_rejected(vector: Rejected) -> None:
    assert rejects(vector.spec)


@pytest.mark.parametrize("vector", params(VECTORS))
def test_apscheduler_gives_its_own_expectation(vector: Vector) -> None:
    """The transcription check: APScheduler itself returns what its test expects."""
    assert isinstance(vector.spec, dict)
    fields = {k: v for k, v in vector.spec.items() if k not in _WINDOW}
    window = {k: v for k, v in vector.spec.items() if k in ("start_date", "end_date")}
    trigger = CronTrigger(timezone=ZoneInfo(vector.zone), **fields, **window)
    now = vector.peer.get("now", vector.start)
    fire = trigger.get_next_fire_time(vector.start if vector.after else None, now)
    # str(), not ==: aware datetimes in one zone compare as naive, ignoring fold.
    shown = None if fire is None else fire.isoformat()
    assert shown == (vector.expected[0] if vector.expected else None)


def test_apscheduler_also_returns_nothing_for_the_no_match_vector() -> None:
    trigger = CronTrigger(
        year=2009, month=1, day="6-10", day_of_week="0,6", timezone=ZoneInfo(BERLIN)
    )
    assert trigger.get_next_fire_time(None, berlin(2009, 1, 1)) is None


def test_jittered_fires_stay_within_the_jitter() -> None:
    """test_jitter_produces_differrent_valid_results: 25-35 s after 06:55:30."""
    from schedkit.triggers import build_trigger

    trigger = build_trigger({"trigger": "cron", "minute": "*", "jitter": 5, "timezone": BERLIN})
    now = berlin(2017, 11, 12, 6, 55, 30)
    nominal = trigger.next_fire_time(None, now)
    assert nominal is not None
    offsets = {trigger.jitter_offset(f"s{i}", nominal) for i in range(100)}
    assert len(offsets) > 1
    for offset in offsets:
        assert (
            timedelta(seconds=25)
            <= nominal + timedelta(seconds=offset) - now
            <= timedelta(seconds=35)
        )
