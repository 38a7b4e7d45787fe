"""Run statistics every backend computes the same way (the contract suite pins them)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from schedkit.models import RunStatus, TaskStats


def nearest_rank(sorted_values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest value with ``percent`` % of the values
    at or below it (no interpolation, so the result is always an observed duration)."""
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def task_stats(name: str, counts: dict[str, int], durations: Sequence[float]) -> TaskStats:
    """``durations`` sorted ascending. The success rate is over finished runs."""
    finished = sum(n for status, n in counts.items() if RunStatus(status).finished)
    return TaskStats(
        task_name=name,
        counts=counts,
        total=sum(counts.values()),
        success_rate=counts.get(RunStatus.SUCCESS.value, 0) / finished if finished else None,
        mean_duration=sum(durations) / len(durations) if durations else None,
        p50_duration=nearest_rank(durations, 50) if durations else None,
        p95_duration=nearest_rank(durations, 95) if durations else None,
        p99_duration=nearest_rank(durations, 99) if durations else None,
    )
