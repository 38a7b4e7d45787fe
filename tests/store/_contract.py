"""Shared pieces of the store contract suite (``test_contract*.py``): fixed times,
value-object factories and small steps, all through the public Store API only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schedkit.models import Run, RunOutcome, RunStatus, Schedule, TriggerSource, new_id
from schedkit.store import Store

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
