"""Run statistics over windows (counts by status, success rate, duration percentiles)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo

from pydantic import Field

from schedkit.models import HourlyRunCount, TaskStats
from schedkit.readmodels.common import View

__all__ = [
    "HourCounts",
    "TaskStatsView",
    "WindowStats",
    "hour_counts",
    "task_stats_view",
    "window_stats",
]

_HOUR = timedelta(hours=1)


class WindowStats(View):
    """A task's runs scheduled within a window ending now."""

    window: str = Field(description="Window label, e.g. '24h' or '7d'.")
    since: datetime
    total: int = Field(description="Runs in the window, finished or not.")
    counts: dict[str, int] = Field(description="Runs by status.")
    success_rate: float | None = Field(
        description="Successes / finished runs, skipped fires left out; null if none."
    )
    mean_duration: float | None = Field(description="Mean seconds of runs with a duration.")


class TaskStatsView(View):
    task_name: str
    total: int
    counts: dict[str, int]
    success_rate: float | None
    mean_duration: float | None
    p50_duration: float | None
    p95_duration: float | None
    p99_duration: float | None
    percentiles_approximate: bool = Field(
        default=False,
        description="True when the percentiles come from the duration histogram of the "
        "store's rollups: each within relative_error of the exact value (counts, success "
        "rate and mean are exact either way).",
    )
    relative_error: float | None = Field(
        default=None, description="The percentiles' largest relative error; null when exact."
    )


def window_stats(label: str, since: datetime, stats: TaskStats | None) -> WindowStats:
    return WindowStats(
        window=label,
        since=since,
        total=stats.total if stats else 0,
        counts=dict(stats.counts) if stats else {},
        success_rate=stats.success_rate if stats else None,
        mean_duration=stats.mean_duration if stats else None,
    )


def task_stats_view(stats: TaskStats) -> TaskStatsView:
    return TaskStatsView(
        task_name=stats.task_name,
        total=stats.total,
        counts=dict(stats.counts),
        success_rate=stats.success_rate,
        mean_duration=stats.mean_duration,
        p50_duration=stats.p50_duration,
        p95_duration=stats.p95_duration,
        p99_duration=stats.p99_duration,
        percentiles_approximate=stats.percentiles_approximate,
        relative_error=stats.relative_error,
    )


class HourCounts(View):
    """Runs of every task scheduled in one whole UTC hour, by status."""

    start: datetime = Field(description="The hour's start (UTC).")
    start_local: datetime
    counts: dict[str, int] = Field(description="Runs by status; statuses without runs left out.")


def hour_counts(
    first: datetime, hours: int, found: Iterable[HourlyRunCount], tz: tzinfo
) -> list[HourCounts]:
    """Every one of the ``hours`` hours from ``first`` on, with or without runs (a chart
    draws a bar per hour); counts of other hours are left out."""
    starts = [first + i * _HOUR for i in range(hours)]
    per_hour: dict[datetime, dict[str, int]] = {start: {} for start in starts}
    for c in found:
        if c.hour in per_hour:
            per_hour[c.hour][c.status.value] = c.count
    return [
        HourCounts(start=start, start_local=start.astimezone(tz), counts=per_hour[start])
        for start in starts
    ]
