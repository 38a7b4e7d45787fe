"""Regression: a ``queue_one`` schedule's ``max_instances`` raised from 1 to 2 while one
run ran and one was queued behind it. The queued run stayed blocked until the running
one ended (30 s in the re-audit on PostgreSQL and FerretDB), every fire meanwhile
skipped. Saving the schedule settles its queue, and this node claims what it released
at once (the poll here is 30 s: only that wake-up starts it in time)."""

from __future__ import annotations

import asyncio

from schedkit import RunStatus, Scheduler, TaskContext, task
from schedkit.models import Run

from .conftest import MakeScheduler
from .taps import until

TASK = "q1_limit_raised"


async def test_raising_max_instances_starts_the_queued_run_at_once(
    make_scheduler: MakeScheduler,
) -> None:
    gate = asyncio.Event()
    started: list[str] = []

    @task(TASK, category="t")
    async def held(ctx: TaskContext) -> None:
        started.append(ctx.run_id)
        await gate.wait()

    s: Scheduler = await make_scheduler(held, executor={"poll_interval": 30.0})
    spec = {"trigger": "interval", "seconds": 0.5, "max_instances": 1, "overlap": "queue_one"}
    await s.add_task(TASK, spec)
    await until(lambda: asyncio.sleep(0, len(started) == 1), timeout=10)

    async def queued_run() -> Run | None:
        runs = await s.list_runs(TASK, limit=100)
        return next((r for r in runs if r.blocked_by is not None), None)

    queued = await until(queued_run, timeout=10)
    await s.add_task(TASK, {**spec, "max_instances": 2})
    try:
        await until(lambda: asyncio.sleep(0, queued.id in started), timeout=5)
    finally:
        gate.set()
    done = await s.wait_for_run(queued.id, timeout=10)
    assert done.status is RunStatus.SUCCESS, done
    await s.pause_task(TASK)
