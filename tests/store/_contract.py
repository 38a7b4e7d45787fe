"""Shared pieces of the store contract suite (``test_contract*.py``): fixed times,
value-object factories and small steps, all through the public Store API only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from schedkit.models import Run, RunOutcome, RunStatus, Schedule, TriggerSource, new_id
from schedkit.store import LostRun, RunFinish, RunRequeue, ScheduleAdvance, Store

#: A fixed instant with a non-zero microsecond part, so that any precision loss shows.
T0 = datetime(2026, 3, 1, 8, 30, 15, 123457, tzinfo=UTC)
SEC = timedelta(seconds=1)
CHINESE = "结算电费：华东电网 ✓"


def make_run(**fields: Any) -> Run:
    """A pending scheduled run of task ``t`` from schedule ``s`` due at T0."""
    values: dict[str, Any] = {
        "id": new_id(),
        "task_name": "t",
        "schedule_id": "s",
        "trigger_source": TriggerSource.SCHEDULE,
        "scheduled_for": T0,
        "not_before": T0,
        "created_at": T0,
    }
    values.update(fields)
    return Run(**values)


def make_schedule(**fields: Any) -> Schedule:
    values: dict[str, Any] = {
        "id": "s",
        "task_name": "t",
        "trigger": {"trigger": "cron", "hour": 2},
        "next_fire_time": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return Schedule(**values)


def outcome(status: RunStatus = RunStatus.SUCCESS, **fields: Any) -> RunOutcome:
    values: dict[str, Any] = {"status": status, "finished_at": T0 + 10 * SEC, "duration": 1.5}
    values.update(fields)
    return RunOutcome(**values)


def assert_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


async def add_runs(store: Store, *runs: Run) -> list[Run]:
    assert await store.insert_runs(runs) == [r.id for r in runs]
    return list(runs)


async def claim_one(store: Store, run: Run, node: str = "n1", now: datetime = T0) -> Run:
    """Claim ``run`` (the only claimable run) for ``node``."""
    claimed = await store.claim_runs(node, now, 10)
    assert [r.id for r in claimed] == [run.id]
    return claimed[0]


async def claim_one_of(store: Store, run: Run) -> None:
    """Claim exactly ``run`` by making it the only claimable one for a moment."""
    claimed = await store.claim_runs("n1", run.not_before, 1, task_names=[run.task_name])
    assert [r.id for r in claimed] == [run.id]


async def seed(store: Store, schedule: Schedule) -> Schedule:
    """Store ``schedule`` at its version, through every version before it (writes are
    compare-and-set: a new schedule starts at version 1)."""
    current = await store.get_schedule(schedule.id)
    start = current.version + 1 if current is not None else 1
    for version in range(start, schedule.version + 1):
        await store.put_schedule(replace(schedule, version=version), expected_version=version - 1)
    return schedule


def adv(
    schedule_id: str, version: int, nxt: datetime | None, last: datetime | None
) -> ScheduleAdvance:
    return ScheduleAdvance(
        schedule_id=schedule_id, version=version, next_fire_time=nxt, last_fire_time=last
    )


def fin(run_id: str, attempt: int, node_id: str | None, result: RunOutcome) -> RunFinish:
    return RunFinish(run_id=run_id, attempt=attempt, node_id=node_id, outcome=result)


def rq(
    run_id: str,
    attempt: int,
    from_statuses: Sequence[RunStatus],
    not_before: datetime,
    attempt_error: dict[str, Any],
    *,
    now: datetime = T0,
) -> RunRequeue:
    return RunRequeue(
        run_id=run_id,
        attempt=attempt,
        from_statuses=frozenset(from_statuses),
        not_before=not_before,
        attempt_error=attempt_error,
        now=now,
    )


def lost(
    run: Run,
    *,
    stale_before: datetime,
    now: datetime,
    retry_at: datetime | None = None,
    node_id: str | None = None,
) -> LostRun:
    """The engine's verdict on ``run`` (as read: its attempt and node) going silent."""
    return LostRun(
        run_id=run.id,
        attempt=run.attempt,
        node_id=node_id or run.node_id or "",
        stale_before=stale_before,
        now=now,
        retry_at=retry_at,
        attempt_error={"attempt": run.attempt, "status": "lost"},
        reason=f"no heartbeat since before {stale_before.isoformat()}",
    )
