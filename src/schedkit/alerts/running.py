"""The runs the periodic ``too_long`` check judges: running past their task's threshold,
and not about to be declared lost by the reaper (:func:`schedkit.engine.reaper.doomed`:
a node killed and restarted sent "still running" and "lost" in the same second)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from schedkit.alerts.config import RuleSet
from schedkit.engine.reaper import doomed
from schedkit.extension import ExtensionHost
from schedkit.models import Run, RunStatus

LongRuns = dict[str, list[tuple[Run, float]]]


async def long_runs(
    host: ExtensionHost, rules_for: Callable[[str], RuleSet], now: datetime, limit: int
) -> LongRuns:
    """By task, the running runs over their ``too_long`` with their seconds running."""
    by_task: LongRuns = {}
    for run in await host.list_runs(status=RunStatus.RUNNING, limit=limit):
        if run.started_at is None:
            continue
        threshold = rules_for(run.task_name).too_long
        elapsed = (now - run.started_at).total_seconds()
        if threshold and elapsed > threshold:
            by_task.setdefault(run.task_name, []).append((run, elapsed))
    if not by_task:
        return by_task
    lost_after = host.config.scheduler.lost_after
    nodes = {n.id: n for n in await host.list_nodes()}
    alive = {
        task: [
            (r, e) for r, e in runs if not doomed(r, nodes.get(r.node_id or ""), lost_after, now)
        ]
        for task, runs in by_task.items()
    }
    return {task: runs for task, runs in alive.items() if runs}
