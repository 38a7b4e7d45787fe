"""``limits.max_schedules`` under concurrent creates, on every store: an audit found 20
parallel imports of 30 schedules each (limit 60, 20 stored) ending at 230 schedules on
SQLite and 190 on PostgreSQL, each request having counted before any had inserted."""

from __future__ import annotations

import asyncio

from schedkit import ConflictError, Scheduler

from .conftest import MakeScheduler
from .test_bulk_schedules import entries, read_meter


async def _two_nodes(make_scheduler: MakeScheduler, limit: int) -> tuple[Scheduler, Scheduler]:
    first = await make_scheduler(read_meter, limits={"max_schedules": limit})
    return first, await make_scheduler(read_meter, limits={"max_schedules": limit})


async def test_parallel_imports_stay_within_the_limit(make_scheduler: MakeScheduler) -> None:
    nodes = await _two_nodes(make_scheduler, 60)
    await nodes[0].add_schedules(entries(20, prefix="held"))
    outcomes = await asyncio.gather(
        *(nodes[i % 2].add_schedules(entries(30, prefix=f"batch{i:02d}")) for i in range(20)),
        return_exceptions=True,
    )
    stored = [o for o in outcomes if isinstance(o, list)]
    refused = [o for o in outcomes if isinstance(o, ConflictError)]
    assert len(stored) + len(refused) == 20, outcomes
    # 20 + 30 fits, 20 + 60 does not: one import exactly, whichever wins.
    assert len(stored) == 1
    assert all("limits.max_schedules" in str(e) for e in refused)
    assert await nodes[0].count_schedules() == 50


async def test_parallel_creates_stay_within_the_limit(make_scheduler: MakeScheduler) -> None:
    nodes = await _two_nodes(make_scheduler, 10)
    await nodes[0].add_schedules(entries(4, prefix="held"))
    outcomes = await asyncio.gather(
        *(
            nodes[i % 2].add_task(
                "read_meter",
                {"trigger": "cron", "hour": 3, "kwargs": {"meter": f"{i:04d}"}},
                schedule_id=f"one-{i:02d}",
            )
            for i in range(16)
        ),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, ConflictError)]
    assert all("limits.max_schedules" in str(e) for e in refused), outcomes
    assert len(outcomes) - len(refused) == 6
    assert await nodes[1].count_schedules() == 10
