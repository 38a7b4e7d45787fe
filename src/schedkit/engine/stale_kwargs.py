"""Stored schedules whose kwargs no longer fit their task's parameters: a deploy renamed,
added or retyped a parameter after the schedule was made. Each fire of such a schedule
makes a run that fails at its start (StaleKwargsError); ``schedkit check`` lists them,
and the node that takes the scheduler lease says so once in its log."""

from __future__ import annotations

import asyncio
import logging

from schedkit.errors import SchedkitError, StoreError
from schedkit.models import Schedule
from schedkit.registry import TaskRegistry
from schedkit.store.base import Store
from schedkit.task import BaseTask

logger = logging.getLogger(__name__)

#: Schedules read per store call while checking them.
PAGE = 1_000
#: Schedules the warning names (it counts them all).
NAMED = 5


def kwargs_problem(task: BaseTask, schedule: Schedule) -> str | None:
    """What ``task``'s parameters as declared now say of ``schedule``'s kwargs (what
    creating the schedule would say); None when they fit."""
    try:
        task.validate_kwargs(schedule.kwargs)
    except SchedkitError as exc:
        return str(exc)
    return None


async def say_stale_kwargs(store: Store, registry: TaskRegistry, after: float) -> None:
    """One WARNING naming the first stored schedules whose kwargs no longer fit their
    task, and how many there are, ``after`` seconds from now. Reads the schedules of the
    tasks that declare parameters (the others take any kwargs) a page at a time,
    yielding to the event loop between pages: at 100,000 schedules it is a background
    read, not a pause."""
    await asyncio.sleep(after)
    named: list[str] = []
    count = 0
    try:
        for counts in await store.schedule_counts():
            task = registry.get_task(counts.task_name)
            if task is None or task.parameters is None:
                continue
            for offset in range(0, counts.total, PAGE):
                for schedule in await store.list_schedules(
                    task.task_name, limit=PAGE, offset=offset
                ):
                    if (problem := kwargs_problem(task, schedule)) is not None:
                        count += 1
                        if len(named) < NAMED:
                            named.append(
                                f"schedule {schedule.id} (task {task.task_name}): {problem}"
                            )
                await asyncio.sleep(0)
    except StoreError as exc:
        logger.warning("could not check the stored schedules' kwargs: %s", exc)
        return
    if not count:
        return
    more = f"; and {count - len(named)} more" if count > len(named) else ""
    logger.warning(
        "%d stored schedule(s) have kwargs that no longer fit their task's parameters (changed "
        "since the schedules were made), so each of their runs will fail, not retried: %s%s; "
        "`schedkit check` lists them all; edit their kwargs or delete them",
        count,
        "; ".join(named),
        more,
    )
