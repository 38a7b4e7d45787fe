"""A backfill's decisions as pure functions: the range, its fires, the chains."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from schedkit.calendars import CalendarSet
from schedkit.engine import backfill
from schedkit.engine.planning import calendar_check
from schedkit.errors import ValidationError
from schedkit.models import RunStatus
from schedkit.triggers import trigger_from_json

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
DAILY = {"trigger": "cron", "hour": 9, "minute": 0, "timezone": "Asia/Shanghai"}


def any_day(_: datetime) -> str | None:
    return None


def test_window_takes_dates_as_whole_local_days_and_stops_at_now() -> None:
    lo, hi = backfill.window(date(2026, 11, 1), date(2026, 11, 15), SHANGHAI, NOW)
    assert lo == datetime(2026, 11, 1, tzinfo=SHANGHAI)
    assert hi == datetime(2026, 11, 16, tzinfo=SHANGHAI)
    lo, hi = backfill.window(date(2026, 12, 1), date(2027, 1, 1), SHANGHAI, NOW)
    assert hi == NOW
    # An aware date-time is taken as it is.
    lo, _ = backfill.window(datetime(2026, 11, 1, 8, tzinfo=SHANGHAI), NOW, SHANGHAI, NOW)
    assert lo == datetime(2026, 11, 1, 0, tzinfo=UTC)
    with pytest.raises(ValidationError) as empty:
        backfill.window(date(2026, 12, 3), date(2026, 12, 5), SHANGHAI, NOW)
    assert empty.value.field == "from"
    # In the zone the dates were typed in (an audit: "2026-11-14T16:00:00+00:00" for a
    # range typed as 2026-11-15 read as a day off).
    with pytest.raises(ValidationError) as reversed_range:
        backfill.window(date(2026, 11, 15), date(2026, 11, 1), SHANGHAI, NOW)
    assert "2026-11-15T00:00:00+08:00 .. 2026-11-02T00:00:00+08:00" in str(reversed_range.value)


def test_fires_in_judges_the_calendar_and_caps_the_count() -> None:
    trigger = trigger_from_json({**DAILY, "calendar": "cn_workdays"})
    lo, hi = backfill.window(date(2026, 9, 26), date(2026, 10, 10), SHANGHAI, NOW)
    check = calendar_check(trigger, CalendarSet())
    fires = backfill.fires_in(trigger, lo, hi, 100, check, series=None)
    assert len(fires) == 15
    runs = {f.nominal.astimezone(SHANGHAI).day for f in fires if f.excluded is None}
    # Weekend 26-27 September and the National Day holidays (1-7 October) are off;
    # Saturday 10 October is a make-up workday (调休).
    assert runs == {28, 29, 30, 8, 9, 10}
    # The skip reason names the day and the source that decided it, as a live skip's.
    national_day = [f.excluded for f in fires if f.nominal.astimezone(SHANGHAI).day == 1]
    assert national_day[0] is not None and "2026-10-01" in national_day[0]
    assert "chinese-calendar" in national_day[0]
    assert len(backfill.fires_in(trigger, lo, hi, 15, check, series=None)) == 15
    with pytest.raises(ValidationError, match="more than 14 fires") as over:
        backfill.fires_in(trigger, lo, hi, 14, check, series=None)
    assert over.value.field == "to"


def test_fires_in_is_half_open() -> None:
    trigger = trigger_from_json(DAILY)
    nine = datetime(2026, 11, 1, 9, tzinfo=SHANGHAI)
    fires = backfill.fires_in(trigger, nine, nine + timedelta(days=2), 10, any_day, series=None)
    assert [f.nominal for f in fires] == [nine, nine + timedelta(days=1)]


def test_fires_in_of_a_date_trigger_only_inside_the_range() -> None:
    once = trigger_from_json({"trigger": "date", "run_date": "2026-11-03T09:00:00+08:00"})
    lo, hi = backfill.window(date(2026, 11, 1), date(2026, 11, 5), SHANGHAI, NOW)
    assert [f.nominal for f in backfill.fires_in(once, lo, hi, 10, any_day, series=None)] == [
        datetime(2026, 11, 3, 9, tzinfo=SHANGHAI)
    ]
    lo, hi = backfill.window(date(2026, 11, 4), date(2026, 11, 5), SHANGHAI, NOW)
    assert backfill.fires_in(once, lo, hi, 10, any_day, series=None) == []


def test_chain_deals_fires_onto_concurrency_chains() -> None:
    fires = [NOW + timedelta(days=i) for i in range(5)]
    assert backfill.chain(fires, 2) == [None, None, fires[0], fires[1], fires[2]]
    assert backfill.chain(fires, 9) == [None] * 5
    assert backfill.chain([], 3) == []
    assert backfill.check_concurrency(1) == 1
    for bad in (0, backfill.MAX_CONCURRENCY + 1):
        with pytest.raises(ValidationError):
            backfill.check_concurrency(bad)


def test_run_ids_depend_on_schedule_and_fire_only() -> None:
    a = backfill.run_id("report", NOW)
    assert a == backfill.run_id("report", NOW.astimezone(SHANGHAI))
    assert a != backfill.run_id("report", NOW + timedelta(seconds=1))
    assert a != backfill.run_id("other", NOW)
    assert len(a) == 32 and backfill.schedule_key("report") == "report:backfill"


def test_progress_counts_one_read_of_the_runs() -> None:
    s = RunStatus
    statuses = [s.SUCCESS, s.SUCCESS, s.FAILED, s.TIMEOUT, s.SKIPPED, s.RUNNING, s.PENDING]
    p = backfill.progress([*statuses, s.CANCELLED, s.LOST])
    assert (p.total, p.done, p.running, p.pending) == (9, 7, 1, 1)
    assert (p.succeeded, p.failed, p.skipped, p.cancelled) == (2, 3, 1, 1)
    assert not p.finished
    assert backfill.progress([]).finished


def test_progress_is_finished_when_every_run_is_done() -> None:
    counts = {"running": 0, "pending": 0, "succeeded": 2, "failed": 0, "skipped": 1}
    done = backfill.Progress(total=3, done=3, cancelled=0, **counts)
    assert done.finished
    assert not backfill.Progress(total=3, done=2, cancelled=0, **{**counts, "pending": 1}).finished


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (date(1, 1, 1), date(1, 1, 2), "from"),  # midnight in Shanghai is 0000-12-31 UTC
        (date(2026, 11, 1), date(9999, 12, 31), "to"),  # its end is 10000-01-01
        (datetime(1, 1, 1, tzinfo=ZoneInfo("Etc/GMT-14")), date(2026, 11, 2), "from"),
    ],
)
def test_window_refuses_dates_outside_the_supported_range_naming_the_field(
    start: date, end: date, field: str
) -> None:
    with pytest.raises(ValidationError, match="supported date range") as raised:
        backfill.window(start, end, SHANGHAI, NOW)
    assert raised.value.field == field


@pytest.mark.parametrize("field", ["from", "to"])
def test_window_refuses_a_date_time_without_offset_naming_the_field(field: str) -> None:
    """Audit finding: a naive date-time was read as a wall time here, while the API took
    one at midnight as a whole day; the docs say a date-time carries its offset."""
    naive = datetime(2026, 11, 1, 0, 0)
    bounds = (naive, date(2026, 11, 2)) if field == "from" else (date(2026, 10, 30), naive)
    with pytest.raises(ValidationError, match="has no offset") as refused:
        backfill.window(*bounds, SHANGHAI, NOW)
    assert refused.value.field == field
    assert "2026-11-01T00:00:00+08:00" in str(refused.value)


NEW_YORK = ZoneInfo("America/New_York")
#: The audit's clock: 2024-11-05 10:17 in New York.
AUDIT_NOW = datetime(2024, 11, 5, 10, 17, tzinfo=NEW_YORK)


def _interval_fires(
    spec: dict[str, object], day: date, *, now: datetime, series: datetime | None = None
) -> list[str]:
    """The backfill fires of ``day`` of an interval schedule saved at ``now`` (its series
    as the schedule book lays it: the trigger's first fire from then), as local times."""
    trigger = trigger_from_json({"trigger": "interval", "timezone": "America/New_York", **spec})
    known = trigger.first_fire(now) if series is None else series
    lo, hi = backfill.window(day, day, NEW_YORK, AUDIT_NOW)
    fires = backfill.fires_in(trigger, lo, hi, 100, any_day, series=known)
    return [f"{f.nominal.astimezone(NEW_YORK):%H:%M%z}" for f in fires]


def test_fires_in_of_an_interval_follow_the_schedules_own_series() -> None:
    """Audit finding: an hourly interval saved at 10:17 (fires at :17) was backfilled on
    2024-11-04 at 01:00..23:00, and every 6 hours at 06:00, 12:00, 18:00: a series laid
    from the range's start, none of them a fire of the schedule's."""
    hourly = _interval_fires({"hours": 1}, date(2024, 11, 4), now=AUDIT_NOW)
    assert hourly == [f"{h:02d}:17-0500" for h in range(24)]
    six = _interval_fires({"hours": 6}, date(2024, 11, 4), now=AUDIT_NOW)
    assert six == ["04:17-0500", "10:17-0500", "16:17-0500", "22:17-0500"]
    # Real time, as the live series: the day the clocks went back has 25 hourly fires.
    autumn = _interval_fires({"hours": 1}, date(2024, 11, 3), now=AUDIT_NOW)
    assert len(autumn) == 25 and autumn[:3] == ["00:17-0400", "01:17-0400", "01:17-0500"]
    # The series as stored decides, wherever it lies: a schedule saved at another
    # moment, or ended long ago (its last fire before the range, six hours of real time
    # apart across the change to winter time: 05:44 EDT is on the grid of 04:44 EST).
    saved = datetime(2024, 11, 5, 8, 50, tzinfo=NEW_YORK)
    other = _interval_fires({"hours": 6}, date(2024, 11, 4), now=saved)
    assert other == ["02:50-0500", "08:50-0500", "14:50-0500", "20:50-0500"]
    ended = datetime(2024, 10, 1, 5, 44, tzinfo=NEW_YORK)
    last = _interval_fires({"hours": 6}, date(2024, 11, 4), now=AUDIT_NOW, series=ended)
    assert last == ["04:44-0500", "10:44-0500", "16:44-0500", "22:44-0500"]


def test_fires_in_of_an_interval_with_start_date_or_no_fire_known() -> None:
    # start_date lays the grid itself; it is also the first fire there is.
    spec = {"hours": 6, "start_date": "2024-11-04T09:05:00-05:00"}
    assert _interval_fires(spec, date(2024, 11, 4), now=AUDIT_NOW) == [
        "09:05-0500",
        "15:05-0500",
        "21:05-0500",
    ]
    # A series with no fire at all (saved already past its end_date) has none to run.
    trigger = trigger_from_json({"trigger": "interval", "hours": 1})
    lo, hi = backfill.window(date(2024, 11, 4), date(2024, 11, 4), NEW_YORK, AUDIT_NOW)
    assert backfill.fires_in(trigger, lo, hi, 100, any_day, series=None) == []
