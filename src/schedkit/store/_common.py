"""Rules every backend applies the same way, written once (the contract suite pins them).

Backends store and perform atomic steps; the few decisions inside those steps that do
not depend on the database (in what order claimed runs come back, which part of a tick
may still be written, when a finish is the retry of one already stored, what a requeue
clears) live here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from schedkit.models import Run, RunOutcome, RunStatus, Schedule
from schedkit.store.values import RunFinish, ScheduleAdvance

#: The run fields a requeue (and a lost attempt sent back to pending) clears: the
#: attempt's outcome lives on in ``attempt_errors`` only.
REQUEUE_CLEARED: tuple[str, ...] = (
    "node_id",
    "started_at",
    "heartbeat_at",
    "finished_at",
    "duration",
    "result",
    "error",
    "reason",
)


def claim_order(run: Run) -> tuple[int, datetime, str]:
    """The order :meth:`Store.claim_runs` hands runs back in: priority descending, then
    ``not_before``, then id (the order its index reads them in)."""
    return (-run.priority, run.not_before, run.id)


def stale_order(run: Run) -> tuple[datetime, str]:
    """The order of :meth:`Store.stale_runs`: oldest heartbeat first, then id."""
    assert run.heartbeat_at is not None  # stale runs are running: they have one
    return (run.heartbeat_at, run.id)


def nothing_to_claim(limit: int, task_names: Sequence[str] | None) -> bool:
    """A claim that cannot return anything (no room, or an empty task filter): answered
    without a query."""
    return limit <= 0 or (task_names is not None and not task_names)


def check_finishes(items: Sequence[RunFinish]) -> None:
    """ValueError unless every item ends its run with a final status."""
    for item in items:
        if not item.outcome.status.finished:
            raise ValueError(
                f"run {item.run_id}: a run can only finish with a final status, "
                f"not {item.outcome.status.value!r}"
            )


def finish_already_stored(
    item: RunFinish,
    *,
    status: RunStatus,
    attempt: int,
    node_id: str | None,
    finished_at: datetime | None,
) -> bool:
    """Whether the stored run shows ``item`` applied already: the same attempt finished
    with the same status at the same instant by the same node. A finish re-sent after
    its acknowledgement was lost then counts as applied (finishing is idempotent)."""
    outcome: RunOutcome = item.outcome
    return (
        attempt == item.attempt
        and status == outcome.status
        and finished_at == outcome.finished_at
        and node_id == item.node_id
    )


def held_for_finish(
    item: RunFinish, *, status: RunStatus, attempt: int, node_id: str | None
) -> bool:
    """Whether the stored run is where ``item`` may finish it: ``running`` at its attempt
    on its node, or ``pending`` at its attempt when the item names no node."""
    if attempt != item.attempt:
        return False
    if item.node_id is None:
        return status is RunStatus.PENDING
    return status is RunStatus.RUNNING and node_id == item.node_id


def still_current(
    runs: Sequence[Run], advances: Sequence[ScheduleAdvance], current: set[str]
) -> tuple[list[Run], list[ScheduleAdvance]]:
    """The part of a tick's writes :meth:`Store.record_fires` may apply, given the ids of
    the schedules found at the version their advance names: runs of schedules named in
    ``advances`` but not current are dropped with their advance; other runs are kept."""
    named = {advance.schedule_id for advance in advances}
    kept = [run for run in runs if run.schedule_id not in named or run.schedule_id in current]
    return kept, [advance for advance in advances if advance.schedule_id in current]


def check_new_schedules(schedules: Sequence[Schedule]) -> None:
    """ValueError unless every schedule is a first version and no id repeats (what
    :meth:`~schedkit.store.Store.insert_schedules` takes)."""
    seen: set[str] = set()
    for schedule in schedules:
        check_schedule_version(schedule, 0)
        if schedule.id in seen:
            raise ValueError(f"schedule {schedule.id!r} is given twice")
        seen.add(schedule.id)


def check_schedule_version(schedule: Schedule, expected_version: int) -> None:
    """ValueError unless ``schedule`` is the next version after ``expected_version``."""
    if expected_version < 0:
        raise ValueError(f"expected_version must be 0 or more, not {expected_version}")
    if schedule.version != expected_version + 1:
        raise ValueError(
            f"schedule {schedule.id!r} written at version {schedule.version} over expected "
            f"version {expected_version}: a write must carry version {expected_version + 1}"
        )
