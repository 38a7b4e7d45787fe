"""Run rollups: per task, status and period (an hour, a day) of ``scheduled_for``, the
number of finished runs, of those with a duration, their duration sum and a histogram of
their durations in log-sized buckets. ``run_stats`` reads a window from them instead of
every run in it (docs/stores.md, "Run statistics").

Buckets: bucket ``i`` holds the durations in ``(GAMMA ** (i - 1), GAMMA ** i]`` seconds,
with ``GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)``, and stands for
``2 * GAMMA ** i / (GAMMA + 1)``: within :data:`RELATIVE_ERROR` of every duration in it.
So a percentile read off the histogram is within that relative error of the exact
nearest-rank percentile (the rank falls in the bucket holding the exact value). Durations
under :data:`MIN_DURATION` count as that (the histogram needs a lowest bucket).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from schedkit.models import RunStatus, TaskStats
from schedkit.store._stats import PERCENTILES, summarized

#: The largest relative error of a percentile computed from rollups.
RELATIVE_ERROR = 0.05
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(GAMMA)
#: Seconds; shorter durations are counted in this one's bucket.
MIN_DURATION = 1e-6

HOUR = 3600
DAY = 86_400
#: The periods every finished run is rolled up in: hours for the edge of a window, days
#: for its bulk (a 7-day window reads ~8 day rows and at most 23 hour rows per task and
#: status, instead of up to 168 hour rows).
PERIODS: tuple[int, ...] = (HOUR, DAY)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: (task_name, status, period in seconds, period start)
RollupKey = tuple[str, str, int, datetime]


def bucket_of(duration: float) -> int:
    return math.ceil(math.log(max(duration, MIN_DURATION)) / _LOG_GAMMA)


def bucket_value(index: int) -> float:
    result: float = 2 * GAMMA**index / (GAMMA + 1)
    return result


def period_start(moment: datetime, period: int) -> datetime:
    """The start of the period (UTC, aligned on the epoch) holding ``moment``."""
    seconds = (moment - _EPOCH) // timedelta(seconds=1)
    return _EPOCH + timedelta(seconds=seconds - seconds % period)


def period_ceil(moment: datetime, period: int) -> datetime:
    """The first period start at or after ``moment``."""
    start = period_start(moment, period)
    return start if start == moment else start + timedelta(seconds=period)


def percentiles(histogram: Mapping[int, int]) -> list[float]:
    """The nearest-rank values of :data:`PERCENTILES` read off ``histogram`` (bucket →
    count, counts positive), each its bucket's value; empty for an empty histogram."""
    n = sum(histogram.values())
    if n <= 0:
        return []
    ranks = [max(1, math.ceil(p / 100 * n)) for p in PERCENTILES]
    found: list[float] = []
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        while len(found) < len(ranks) and ranks[len(found)] <= seen:
            found.append(bucket_value(index))
    return found


def encode_histogram(histogram: Mapping[int, int]) -> bytes:
    """Compact and fast to read: int64s, the first bucket's index then the counts of the
    buckets from it to the last non-empty one (b'' when empty)."""
    used = [i for i, c in histogram.items() if c]
    if not used:
        return b""
    low, high = min(used), max(used)
    return array("q", [low, *(histogram.get(i, 0) for i in range(low, high + 1))]).tobytes()


def add_encoded(into: dict[int, int], blob: bytes | None, sign: int = 1) -> None:
    """Add the histogram ``blob`` (:func:`encode_histogram`) into ``into``."""
    if not blob:
        return
    values = array("q")
    values.frombytes(blob)
    low = values[0]
    for offset, count in enumerate(values[1:]):
        if count:
            into[low + offset] = into.get(low + offset, 0) + sign * count


@dataclass(slots=True)
class Rollup:
    """The aggregates of one key (or a change to them: counts may be negative)."""

    runs: int = 0
    timed: int = 0
    duration_sum: float = 0.0
    histogram: dict[int, int] = field(default_factory=dict)

    def add(self, duration: float | None, sign: int = 1) -> None:
        self.runs += sign
        if duration is not None:
            self.timed += sign
            self.duration_sum += sign * duration
            index = bucket_of(duration)
            self.histogram[index] = self.histogram.get(index, 0) + sign

    def merge(self, other: Rollup) -> None:
        self.runs += other.runs
        self.timed += other.timed
        self.duration_sum += other.duration_sum
        for index, count in other.histogram.items():
            self.histogram[index] = self.histogram.get(index, 0) + count

    def compacted(self) -> dict[int, int]:
        return {i: c for i, c in self.histogram.items() if c}


class RollupDelta:
    """The changes one write makes to the rollups, one entry per key: a finish batch
    becomes one upsert per (task, status, period) it touches, not one per run."""

    def __init__(self) -> None:
        self.changes: dict[RollupKey, Rollup] = {}

    def __bool__(self) -> bool:
        return bool(self.changes)

    def add(
        self,
        task_name: str,
        scheduled_for: datetime,
        status: RunStatus | str,
        duration: float | None,
        sign: int = 1,
    ) -> None:
        """Count (``sign`` 1) or uncount (-1) a run; only finished runs are rolled up."""
        status = RunStatus(status)
        if not status.finished:
            return
        for period in PERIODS:
            key = (task_name, status.value, period, period_start(scheduled_for, period))
            rollup = self.changes.get(key)
            if rollup is None:
                rollup = self.changes[key] = Rollup()
            rollup.add(duration, sign)

    def sorted_items(self) -> list[tuple[RollupKey, Rollup]]:
        """In key order: concurrent writers lock rollup rows in one order (no deadlock)."""
        return sorted(self.changes.items(), key=lambda item: item[0])


@dataclass(slots=True)
class WindowAggregate:
    """One task's window being summed up: exact counts by status, and the durations as
    count, sum and histogram."""

    counts: dict[str, int] = field(default_factory=dict)
    finished: Rollup = field(default_factory=Rollup)

    def count(self, status: str, n: int) -> None:
        if n:
            self.counts[status] = self.counts.get(status, 0) + n


def approximate_stats(tasks: Mapping[str, WindowAggregate]) -> list[TaskStats]:
    """The stats of each task with runs, percentiles read off its histogram."""
    stats = []
    for name in sorted(tasks):
        agg = tasks[name]
        counts = {s: n for s, n in agg.counts.items() if n}
        if not counts:
            continue
        timed = agg.finished.timed
        mean = agg.finished.duration_sum / timed if timed else None
        found = summarized(name, counts, mean, percentiles(agg.finished.compacted()))
        stats.append(
            TaskStats(
                task_name=found.task_name,
                counts=found.counts,
                total=found.total,
                success_rate=found.success_rate,
                mean_duration=found.mean_duration,
                p50_duration=found.p50_duration,
                p95_duration=found.p95_duration,
                p99_duration=found.p99_duration,
                percentiles_approximate=True,
                relative_error=RELATIVE_ERROR,
            )
        )
    return stats


def add_rows(
    into: dict[str, WindowAggregate],
    rows: Iterable[tuple[str, str, int, int, float, bytes | None]],
) -> None:
    """Sum rollup rows (task, status, runs, timed, duration_sum, histogram blob)."""
    for name, status, runs, timed, total, blob in rows:
        agg = into.get(name)
        if agg is None:
            agg = into[name] = WindowAggregate()
        agg.count(status, runs)
        agg.finished.runs += runs
        agg.finished.timed += timed
        agg.finished.duration_sum += total
        add_encoded(agg.finished.histogram, blob)
