"""Regression: a ``queue_one`` fire queued behind a run that ended between the tick's
read of the active runs and its write. The finish released its queue before the queued
run existed, so the run stayed blocked for good, and every later fire of the schedule
was skipped as "one run is already queued" (seen on PostgreSQL, every 0.2 s)."""

from __future__ import annotations

import asyncio
from typing import Any

from schedkit import RunStatus, TaskContext, task
from schedkit.models import Run

from .conftest import MakeScheduler
from .taps import intercept, until


async def test_overlap_queue_one_fire_written_after_its_blocker_ended_runs(
    make_scheduler: MakeScheduler,
) -> None:
    release = asyncio.Event()
    started: list[str] = []

    @task("q1_race", category="t")
    async def held(ctx: TaskContext) -> None:
        started.append(ctx.run_id)
        if len(started) == 1:
            await release.wait()

    s = await make_scheduler(held)
    queued: list[Run] = []

    async def after_the_blocker_ended(original: Any, runs: list[Run], *a: Any, **k: Any) -> Any:
        # Behind a stored run (one fire of the same tick queues behind another).
        stored = [r for r in runs if r.blocked_by and await s.store.get_run(r.blocked_by)]
        if stored and not queued:
            # The tick has read the running run as active: end it before the write.
            queued.append(stored[0])
            release.set()

            async def ended() -> bool:
                blocker = await s.store.get_run(stored[0].blocked_by or "")
                return blocker is not None and blocker.status.finished

            await until(ended, timeout=10)
        return await original(runs, *a, **k)

    intercept(s.store, "record_fires", after_the_blocker_ended)
    await s.add_task(
        "q1_race",
        {"trigger": "interval", "seconds": 0.3, "max_instances": 1, "overlap": "queue_one"},
    )
    await until(lambda: asyncio.sleep(0, bool(queued)), timeout=10)
    await until(lambda: s.store.get_run(queued[0].id), timeout=10)
    done = await s.wait_for_run(queued[0].id, timeout=5)
    assert done.status is RunStatus.SUCCESS, done
    await s.pause_task("q1_race")
    runs = await s.list_runs("q1_race", limit=100)
    assert not [r for r in runs if r.status is RunStatus.SKIPPED], runs
