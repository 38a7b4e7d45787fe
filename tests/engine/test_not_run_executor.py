"""A fire that does not run is recorded for the executor its runs have (a loaded test
run: a Celery schedule's missed fire was recorded as a ``local`` run, so counted and
listed under the wrong executor)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from schedkit import OffsetClock, RunStatus, task

from .conftest import MakeScheduler


async def test_fires_not_run_are_recorded_for_their_schedule_s_executor(
    make_scheduler: MakeScheduler,
) -> None:
    @task(
        "exported",
        category="test",
        schedule={
            "trigger": "cron",
            "minute": "*",
            "misfire_grace_time": None,
            "coalesce": True,
            "executor": "celery",
        },
    )
    async def exported() -> None:
        return None

    clock = OffsetClock()
    first = await make_scheduler(exported, clock=clock)
    await first.stop()
    clock.advance(timedelta(minutes=10))
    second = await make_scheduler(exported, clock=clock)
    for _ in range(200):
        if await second.count_runs("exported", status=RunStatus.SKIPPED) >= 9:
            break
        await asyncio.sleep(0.05)
    runs = await second.list_runs("exported", limit=100)
    skipped = [r for r in runs if r.status is RunStatus.SKIPPED]
    assert len(skipped) >= 9
    assert {r.executor for r in runs} == {"celery"}
