"""What a task removed from the code leaves in the store, as ``schedkit check`` says it:
its schedules (each fire recorded ``skipped``, with a missed-fire alert) and its pending
runs (no node takes them: docs/cluster.md#a-run-no-live-node-can-take), each with the
command that clears it. Nothing is cleared by itself: a node of other code may still
come (a rolling deploy's next nodes, a rollback)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from shlex import quote

from schedkit.models import LOCAL_EXECUTOR, Run, RunFilter, RunStatus, Schedule
from schedkit.registry import TaskRegistry
from schedkit.service.cluster import takes_runs
from schedkit.store.base import Store
from schedkit.waiting import taken_by_none, tasks_of

#: The pending runs ``check`` reads, newest first, for tasks no node runs.
PENDING_READ = 10_000


def schedule_problem(schedule: Schedule) -> str:
    """What ``check`` says of a schedule whose task is not registered."""
    command = f"schedkit schedule {quote(schedule.task_name)} --remove --id {quote(schedule.id)}"
    return (
        f"task {schedule.task_name!r} is not registered: each fire is recorded skipped; "
        f"remove the schedule with `{command}`"
    )


@dataclasses.dataclass
class Orphans:
    """Pending runs of tasks no node runs: a problem per task, and a warning when there
    were more pending runs than :data:`PENDING_READ` (the older ones were not read)."""

    problems: list[tuple[str, str]]
    warning: str | None


async def pending_orphans(
    store: Store, registry: TaskRegistry, now: datetime, lost_after: float
) -> Orphans:
    """The pending runs (of schedkit nodes, not Celery's) of tasks that neither
    ``registry``, the code checked, nor any live executor has: a node of older code that
    lists no tasks may take any, and the code checked may be the next deploy's."""
    takers = [
        tasks_of(n) for n in await store.list_nodes() if takes_runs(n) and n.alive(now, lost_after)
    ]
    pending = RunFilter(statuses=frozenset({RunStatus.PENDING}), executor=LOCAL_EXECUTOR)
    runs = await store.list_runs(pending, limit=PENDING_READ)
    by_task: dict[str, list[Run]] = {}
    for run in runs:
        if registry.get_task(run.task_name) is None and taken_by_none(run.task_name, takers):
            by_task.setdefault(run.task_name, []).append(run)
    problems = []
    for name, found in sorted(by_task.items()):
        count = await store.count_runs(dataclasses.replace(pending, task_name=name))
        if count:  # else settled since they were read
            problems.append((f"pending runs of {name}", _runs_problem(name, found[0], count)))
    warning = None
    if len(runs) == PENDING_READ:
        warning = (
            f"over {PENDING_READ:,} pending runs: only the newest {PENDING_READ:,} were "
            "checked for tasks no node runs"
        )
    return Orphans(problems, warning)


def _runs_problem(task_name: str, newest: Run, count: int) -> str:
    where = f"task {task_name!r}, which is registered neither here nor on any live node"
    cancel = f"schedkit cancel {quote(newest.id)}"
    if count == 1:
        return f"1 pending run of {where}: no node will take it; cancel it with `{cancel}`"
    listing = f"schedkit history {quote(task_name)} --status pending"
    return (
        f"{count:,} pending runs of {where}: no node will take them; cancel each with "
        f"`schedkit cancel RUN_ID` (listed by `{listing}`), e.g. `{cancel}`"
    )
