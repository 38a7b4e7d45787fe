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

import bisect
import dataclasses
import itertools
import math
import operator
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schedkit.models import HourlyRunCount, RunStatus, TaskStats
from schedkit.store._stats import PERCENTILES, summarized

#: The largest relative error of a percentile computed from rollups.
RELATIVE_ERROR = 0.05
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(GAMMA)
#: Seconds; shorter durations are counted in this one's bucket.
MIN_DURATION = 1e-6

#: The periods every finished run is rolled up in, in seconds: hours for the edge of a
#: window, days for its bulk (a 7-day window reads ~8 day rows and at most 12 hour rows
#: per task and status, instead of up to 168 hour rows: :class:`WindowPlan`).
HOUR = 3600
DAY = 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = timedelta(hours=1)
_FINISHED = frozenset(s.value for s in RunStatus if s.finished)

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
    becomes one upsert per (task, status, period) it touches, not one per run. Runs are
    summed per hour first; the day rows are the sums of their hours."""

    def __init__(self) -> None:
        self._hours: dict[tuple[str, str, int], Rollup] = {}

    def __bool__(self) -> bool:
        return bool(self._hours)

    def add(
        self,
        task_name: str,
        scheduled_for: datetime,
        status: RunStatus | str,
        duration: float | None,
        sign: int = 1,
    ) -> None:
        """Count (``sign`` 1) or uncount (-1) a run; only finished runs are rolled up."""
        if status not in _FINISHED:
            return
        # Exact integer arithmetic (a float timestamp rounds 07:59:59.999999 up to 8:00).
        key = (task_name, str(status), (scheduled_for - _EPOCH) // _HOUR)
        rollup = self._hours.get(key)
        if rollup is None:
            rollup = self._hours[key] = Rollup()
        rollup.add(duration, sign)

    def sorted_items(self) -> list[tuple[RollupKey, Rollup]]:
        """In key order: concurrent writers lock rollup rows in one order (no deadlock)."""
        changes: dict[RollupKey, Rollup] = {}
        for (task_name, status, hour), rollup in self._hours.items():
            start = _EPOCH + hour * _HOUR
            changes[(task_name, status, HOUR, start)] = rollup
            day_key = (task_name, status, DAY, period_start(start, DAY))
            day = changes.get(day_key)
            if day is None:
                day = changes[day_key] = Rollup()
            day.merge(rollup)
        return sorted(changes.items(), key=lambda item: item[0])


class DenseHistogram:
    """A histogram summed from many rollups: the counts of consecutive buckets from
    ``low``, added a blob at a time at C speed (a 7-day window of 20 tasks adds ~35,000
    bucket counts; one by one in Python they took longer than reading them)."""

    __slots__ = ("counts", "low")

    def __init__(self) -> None:
        self.low = 0
        self.counts: list[int] = []

    def _cover(self, low: int, high: int) -> None:
        """Extend the buckets to cover ``low`` .. ``high`` - 1."""
        if not self.counts:
            self.low, self.counts = low, [0] * (high - low)
            return
        if low < self.low:
            self.counts[:0] = [0] * (self.low - low)
            self.low = low
        if high > self.low + len(self.counts):
            self.counts.extend([0] * (high - self.low - len(self.counts)))

    def add_blob(self, blob: bytes | None, sign: int = 1) -> None:
        if not blob:
            return
        values = array("q")
        values.frombytes(blob)
        low, counts = values[0], values[1:]
        self._cover(low, low + len(counts))
        start = low - self.low
        end = start + len(counts)
        combine = operator.add if sign > 0 else operator.sub
        self.counts[start:end] = map(combine, self.counts[start:end], counts)

    def add(self, index: int, count: int = 1) -> None:
        self._cover(index, index + 1)
        self.counts[index - self.low] += count

    def percentiles(self) -> list[float]:
        """The nearest-rank values of :data:`PERCENTILES`, each its bucket's value; empty
        when no duration was counted."""
        cumulative = list(itertools.accumulate(self.counts))
        n = cumulative[-1] if cumulative else 0
        if n <= 0:
            return []
        return [
            bucket_value(self.low + bisect.bisect_left(cumulative, max(1, math.ceil(p / 100 * n))))
            for p in PERCENTILES
        ]


@dataclass(slots=True)
class WindowAggregate:
    """One task's window being summed up: exact counts by status, and the durations as
    count, sum and histogram."""

    counts: dict[str, int] = field(default_factory=dict)
    timed: int = 0
    duration_sum: float = 0.0
    histogram: DenseHistogram = field(default_factory=DenseHistogram)

    def count(self, status: str, n: int) -> None:
        if n:
            self.counts[status] = self.counts.get(status, 0) + n

    def add_run(self, status: str, duration: float | None, sign: int = 1) -> None:
        """A finished run read one by one (a partial hour at the window's edge)."""
        self.count(status, sign)
        if duration is not None:
            self.timed += sign
            self.duration_sum += sign * duration
            self.histogram.add(bucket_of(duration), sign)


def approximate_stats(tasks: Mapping[str, WindowAggregate]) -> list[TaskStats]:
    """The stats of each task with runs, percentiles read off its histogram."""
    stats = []
    for name in sorted(tasks):
        agg = tasks[name]
        # A window read as a day minus its start may cancel a status, or a whole task.
        counts = {status: n for status, n in agg.counts.items() if n}
        if not counts:
            continue
        mean = agg.duration_sum / agg.timed if agg.timed else None
        found = summarized(name, counts, mean, agg.histogram.percentiles())
        stats.append(
            dataclasses.replace(found, percentiles_approximate=True, relative_error=RELATIVE_ERROR)
        )
    return stats


def add_rows(into: dict[str, WindowAggregate], rows: Iterable[Sequence[Any]]) -> None:
    """Sum a window's rows (kind, task, status, count, timed, duration sum, histogram
    blob) per task. Kinds: ``r`` a rollup row, ``e`` one finished run (the sum is its
    duration, or None), ``a`` a count of runs not finished; ``-r`` and ``-e`` are
    subtracted (:class:`WindowPlan`)."""
    for kind, name, status, n, timed, total, blob in rows:
        agg = into.get(name)
        if agg is None:
            agg = into[name] = WindowAggregate()
        if kind == "e" or kind == "-e":
            agg.add_run(status, total, -1 if kind == "-e" else 1)
            continue
        if kind == "a":
            agg.count(status, n)
            continue
        sign = -1 if kind == "-r" else 1
        agg.count(status, sign * n)
        agg.timed += sign * timed
        agg.duration_sum += sign * total
        agg.histogram.add_blob(blob, sign)


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """How the finished runs of the window from ``since`` on are read: rollup rows of
    whole periods, and the runs of a partial hour one by one, each part added or
    subtracted (its row kind, :func:`add_rows`).

    The window is cut at the hour nearest ``since``: the runs between the two are
    added (``since`` before it) or subtracted (after it). From that hour on it is the
    hours up to the next day plus the days from there, or, nearer the day's start, the
    days from the day's start minus its hours up to the cut. So a window reads at most
    half an hour of runs and 12 hour rows per task and status, whatever its size."""

    edge_kind: str
    edge_from: datetime
    edge_to: datetime
    hours_kind: str
    hours_from: datetime
    hours_to: datetime
    days_from: datetime

    def params(self) -> dict[str, Any]:
        """The plan as the SQL store's statement parameters of the same names."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def window_plan(since: datetime) -> WindowPlan:
    """The parts of the window from ``since`` on (:class:`WindowPlan`)."""
    hour0, hour1 = period_start(since, HOUR), period_ceil(since, HOUR)
    if since - hour0 < hour1 - since:
        cut, edge = hour0, ("-e", hour0, since)
    else:
        cut, edge = hour1, ("e", since, hour1)
    day0, day1 = period_start(cut, DAY), period_ceil(cut, DAY)
    if cut - day0 < day1 - cut:
        return WindowPlan(*edge, "-r", day0, cut, day0)
    return WindowPlan(*edge, "r", cut, day1, day1)


def hours_span(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The whole hours ``run_counts_per_hour`` counts: from the start of the hour holding
    ``since`` to the end of the one holding ``until``."""
    return period_start(since, HOUR), period_start(until, HOUR) + _HOUR


def hourly_counts(rows: Iterable[tuple[datetime, str, int]]) -> list[HourlyRunCount]:
    """Rows of (hour start, status, count) summed per hour and status, over tasks and
    over the rollups and the runs not finished; ordered, zero counts left out (a row a
    requeue or purge emptied may still be stored)."""
    sums: dict[tuple[datetime, str], int] = {}
    for hour, status, n in rows:
        sums[(hour, status)] = sums.get((hour, status), 0) + n
    return [
        HourlyRunCount(hour=hour, status=RunStatus(status), count=n)
        for (hour, status), n in sorted(sums.items())
        if n
    ]
