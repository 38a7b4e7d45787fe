"""Helpers several route modules share."""

from __future__ import annotations

from typing import Any

from schedkit import readmodels
from schedkit.api.schemas import RunAccepted, RunPage
from schedkit.models import Run
from schedkit.service import Scheduler

__all__ = ["accepted", "run_page"]


async def run_page(
    scheduler: Scheduler, task: str | None, *, limit: int, offset: int, **query: Any
) -> RunPage:
    """One page of history, newest first, with the total count of the same filter."""
    runs = await scheduler.list_runs(task, limit=limit, offset=offset, **query)
    waiting = await scheduler.waiting_reasons(runs)
    return RunPage(
        items=[readmodels.run_summary(r, scheduler.tz, waiting.get(r.id)) for r in runs],
        total=await scheduler.count_runs(task, **query),
        limit=limit,
        offset=offset,
    )


def accepted(run: Run, scheduler: Scheduler) -> RunAccepted:
    return RunAccepted(
        run_id=run.id,
        task_name=run.task_name,
        status=run.status,
        finished=run.status.finished,
        run=readmodels.run_view(run, scheduler.tz),
    )
