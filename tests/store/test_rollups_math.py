"""The rollups' histogram and percentile arithmetic (``store._rollups``), on its own."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from schedkit.models import RunStatus
from schedkit.store._rollups import (
    DAY,
    HOUR,
    MIN_DURATION,
    RELATIVE_ERROR,
    DenseHistogram,
    Rollup,
    RollupDelta,
    add_encoded,
    bucket_of,
    bucket_value,
    encode_histogram,
    period_ceil,
    period_start,
    window_plan,
)
from schedkit.store._stats import PERCENTILES, nearest_rank

# Floating point at a bucket's edge may put a value one ulp over the bound.
TOLERANCE = RELATIVE_ERROR * (1 + 1e-9)


def test_every_duration_is_within_the_relative_error_of_its_bucket() -> None:
    rng = random.Random(1)
    for duration in [MIN_DURATION, 1e-3, 1.0, 60.0, 86_400.0 * 30] + [
        10 ** rng.uniform(-6, 7) for _ in range(20_000)
    ]:
        value = bucket_value(bucket_of(duration))
        assert abs(value - duration) <= TOLERANCE * duration, duration


def test_shorter_than_the_minimum_counts_as_the_minimum() -> None:
    assert (
        bucket_of(0.0) == bucket_of(-1.0) == bucket_of(MIN_DURATION / 10) == bucket_of(MIN_DURATION)
    )


@pytest.mark.parametrize("n", [1, 2, 3, 19, 20, 21, 100, 101, 5000])
def test_histogram_percentiles_are_within_the_error_of_the_nearest_rank(n: int) -> None:
    rng = random.Random(n)
    durations = sorted(10 ** rng.uniform(-3, 4) for _ in range(n))
    rollup = Rollup()
    for d in durations:
        rollup.add(d)
    # Summed from blobs of several rollups, as a window is.
    dense = DenseHistogram()
    half = {i: c // 2 for i, c in rollup.histogram.items()}
    dense.add_blob(encode_histogram(half))
    dense.add_blob(encode_histogram({i: c - half[i] for i, c in rollup.histogram.items()}))
    found = dense.percentiles()
    assert len(found) == len(PERCENTILES)
    for p, value in zip(PERCENTILES, found, strict=True):
        exact = nearest_rank(durations, p)
        assert abs(value - exact) <= TOLERANCE * exact, (p, value, exact)
    assert rollup.timed == rollup.runs == n
    assert rollup.duration_sum == pytest.approx(sum(durations))


def test_no_durations_no_percentiles() -> None:
    assert DenseHistogram().percentiles() == []
    empty = DenseHistogram()
    empty.add_blob(b"")
    empty.add_blob(None)
    assert empty.percentiles() == []
    rollup = Rollup()
    rollup.add(None)
    assert rollup.runs == 1 and rollup.timed == 0 and rollup.compacted() == {}


def test_dense_histogram_grows_both_ways() -> None:
    dense = DenseHistogram()
    dense.add_blob(encode_histogram({10: 1, 12: 1}))
    dense.add_blob(encode_histogram({5: 2}))
    dense.add(20)
    dense.add_blob(encode_histogram({11: 3, 14: 1}))
    assert dense.low == 5
    assert {dense.low + i: c for i, c in enumerate(dense.counts) if c} == {
        5: 2, 10: 1, 11: 3, 12: 1, 14: 1, 20: 1
    }  # fmt: skip
    # 9 durations: ranks 5, 9 and 9.
    assert dense.percentiles() == [bucket_value(11), bucket_value(20), bucket_value(20)]


def test_encoding_round_trips_and_merges_with_a_sign() -> None:
    histogram = {-100: 2, -98: 1, 5: 7}
    blob = encode_histogram(histogram)
    into: dict[int, int] = {}
    add_encoded(into, blob)
    assert into == histogram
    add_encoded(into, encode_histogram({5: 7}), sign=-1)
    assert {i: c for i, c in into.items() if c} == {-100: 2, -98: 1}
    assert encode_histogram({}) == encode_histogram({3: 0}) == b""
    add_encoded(into, b"")
    add_encoded(into, None)
    assert into[-100] == 2


def test_periods_align_on_utc_hours_and_days() -> None:
    t = datetime(2026, 3, 1, 8, 30, 15, 123457, tzinfo=UTC)
    assert period_start(t, HOUR) == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert period_start(t, DAY) == datetime(2026, 3, 1, tzinfo=UTC)
    assert period_ceil(t, HOUR) == datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert period_ceil(t, DAY) == datetime(2026, 3, 2, tzinfo=UTC)
    hour = datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert period_ceil(hour, HOUR) == hour
    # Any zone: the same instant.
    shanghai = timezone(timedelta(hours=8))
    assert period_start(t.astimezone(shanghai), HOUR) == period_start(t, HOUR)


def test_a_delta_keeps_one_entry_per_key_and_skips_unfinished_runs() -> None:
    t = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    delta = RollupDelta()
    assert not delta
    delta.add("a", t, RunStatus.PENDING, None)
    delta.add("a", t, RunStatus.RUNNING, None)
    assert not delta
    for minute in range(3):
        delta.add("a", t + timedelta(minutes=minute), RunStatus.SUCCESS, 2.0)
    delta.add("a", t, "success", 2.0, sign=-1)
    keys = [key for key, _ in delta.sorted_items()]
    assert keys == [
        ("a", "success", HOUR, datetime(2026, 3, 1, 8, tzinfo=UTC)),
        ("a", "success", DAY, datetime(2026, 3, 1, tzinfo=UTC)),
    ]
    for _, rollup in delta.sorted_items():
        assert (rollup.runs, rollup.timed) == (2, 2)
        assert rollup.compacted() == {bucket_of(2.0): 2}
    assert math.isclose(delta.sorted_items()[0][1].duration_sum, 4.0)


def _at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "edge", "hours", "days_from"),
    [
        # Late in its hour: the runs up to the hour added; early in the day: the day
        # from its start, minus its hours up to 09:00.
        (
            _at(1, 8, 30, 15),
            ("e", _at(1, 8, 30, 15), _at(1, 9)),
            ("-r", _at(1, 0), _at(1, 9)),
            _at(1, 0),
        ),
        (_at(1, 8, 10), ("-e", _at(1, 8), _at(1, 8, 10)), ("-r", _at(1, 0), _at(1, 8)), _at(1, 0)),
        (
            _at(1, 20, 40),
            ("e", _at(1, 20, 40), _at(1, 21)),
            ("r", _at(1, 21), _at(2, 0)),
            _at(2, 0),
        ),
        # Noon is as far from either day boundary: the hours up to the next day.
        (_at(1, 12), ("e", _at(1, 12), _at(1, 12)), ("r", _at(1, 12), _at(2, 0)), _at(2, 0)),
        # Cut at the next midnight: no hour rows at all.
        (_at(1, 23, 50), ("e", _at(1, 23, 50), _at(2, 0)), ("r", _at(2, 0), _at(2, 0)), _at(2, 0)),
        (_at(1, 0, 10), ("-e", _at(1, 0), _at(1, 0, 10)), ("r", _at(1, 0), _at(1, 0)), _at(1, 0)),
    ],
)
def test_a_window_plan_reads_the_shorter_side_of_its_hour_and_day(
    since: datetime,
    edge: tuple[str, datetime, datetime],
    hours: tuple[str, datetime, datetime],
    days_from: datetime,
) -> None:
    plan = window_plan(since)
    assert (plan.edge_kind, plan.edge_from, plan.edge_to) == edge
    assert (plan.hours_kind, plan.hours_from, plan.hours_to) == hours
    assert plan.days_from == days_from


def test_every_window_plan_counts_each_instant_once_from_since_on() -> None:
    """Added and subtracted parts sum to exactly the window, for any ``since``: every
    instant from ``since`` on is counted once, every one before it not at all. At most
    half an hour of runs and 12 hour rows are read."""
    rng = random.Random(11)
    base = _at(1, 0)
    for _ in range(500):
        since = base + timedelta(
            seconds=rng.randrange(3 * 86_400), microseconds=rng.randrange(10**6)
        )
        plan = window_plan(since)
        edge_sign = -1 if plan.edge_kind == "-e" else 1
        hours_sign = -1 if plan.hours_kind == "-r" else 1
        assert plan.edge_to - plan.edge_from <= timedelta(minutes=30)
        assert plan.hours_to - plan.hours_from <= timedelta(hours=12)
        for moment in (plan.hours_from, plan.hours_to):
            assert period_start(moment, HOUR) == moment
        assert period_start(plan.days_from, DAY) == plan.days_from
        probes = [since + timedelta(seconds=s) for s in range(-90_000, 90_000, 997)]
        probes += [since, since - timedelta(microseconds=1)]
        for t in probes:
            counted = (
                edge_sign * (plan.edge_from <= t < plan.edge_to)
                + hours_sign * (plan.hours_from <= t < plan.hours_to)
                + (t >= plan.days_from)
            )
            assert counted == (t >= since), (since, t, plan)
