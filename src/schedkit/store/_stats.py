"""Run statistics every backend computes the same way (the contract suite pins them)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from schedkit.models import TaskStats, success_rate

#: The percentiles of :class:`~schedkit.models.TaskStats`, in its field order (p50, p95,
#: p99). A backend computing them in the database asks for these, as fractions
#: ``p / 100``: the same doubles, so the same ranks, as :func:`nearest_rank`.
PERCENTILES: tuple[int, ...] = (50, 95, 99)


def nearest_rank(sorted_values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest value with ``percent`` % of the values
    at or below it (no interpolation, so the result is always an observed duration)."""
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def task_stats(name: str, counts: dict[str, int], durations: Sequence[float]) -> TaskStats:
    """``durations`` sorted ascending."""
    if not durations:
        return summarized(name, counts, None, ())
    return summarized(
        name,
        counts,
        sum(durations) / len(durations),
        [nearest_rank(durations, p) for p in PERCENTILES],
    )


def summarized(
    name: str, counts: dict[str, int], mean: float | None, percentiles: Sequence[float]
) -> TaskStats:
    """The stats of a task whose durations were summarized elsewhere (in the database):
    their ``mean`` and the nearest-rank values of :data:`PERCENTILES` (empty when the
    task has no durations)."""
    p50, p95, p99 = percentiles if percentiles else (None, None, None)
    return TaskStats(
        task_name=name,
        counts=counts,
        total=sum(counts.values()),
        success_rate=success_rate(counts),
        mean_duration=mean,
        p50_duration=p50,
        p95_duration=p95,
        p99_duration=p99,
    )
