"""Regression: a schedule switched from overlap ``allow`` to ``queue_one`` with
``max_instances`` 1 while several of its runs were active. Its fire queued behind the
newest of them only, and started as soon as that one ended, beside the older ones still
running (a cluster audit on PostgreSQL found 6 overlapping pairs)."""

from __future__ import annotations

import asyncio

from schedkit import RunStatus, Scheduler, TaskContext, task
from schedkit.models import Run

from .conftest import MakeScheduler
from .taps import until

TASK = "q1_over_limit"


async def _runs(s: Scheduler) -> list[Run]:
    return await s.list_runs(TASK, limit=100)


async def test_a_queued_fire_waits_for_every_run_left_from_allow(
    make_scheduler: MakeScheduler,
) -> None:
    gates: dict[str, asyncio.Event] = {}
    running: set[str] = set()
    # Per run started: the runs of the schedule it started beside.
    beside: dict[str, set[str]] = {}

    @task(TASK, category="t")
    async def held(ctx: TaskContext) -> None:
        beside[ctx.run_id] = set(running)
        running.add(ctx.run_id)
        try:
            await gates.setdefault(ctx.run_id, asyncio.Event()).wait()
        finally:
            running.discard(ctx.run_id)

    s = await make_scheduler(held)
    allow = {"trigger": "interval", "seconds": 0.2, "max_instances": 9, "overlap": "allow"}
    await s.add_task(TASK, allow)
    await until(lambda: asyncio.sleep(0, len(running) >= 2), timeout=10)
    await s.add_task(TASK, {**allow, "max_instances": 1, "overlap": "queue_one"})

    async def queued_run() -> Run | None:
        return next((r for r in await _runs(s) if r.blocked_by is not None), None)

    queued = await until(queued_run, timeout=10)
    gates[queued.id] = asyncio.Event()
    gates[queued.id].set()
    left = {r.id for r in await _runs(s) if r.status.active and r.id != queued.id}
    assert len(left) >= 2, left
    while (blocker := queued.blocked_by) is not None:
        assert blocker in left, (blocker, left)
        left.discard(blocker)
        gates.setdefault(blocker, asyncio.Event()).set()

        async def settled(run_id: str = queued.id, blocker: str = blocker) -> Run | None:
            got = await s.store.get_run(run_id)
            return got if got is not None and got.blocked_by != blocker else None

        queued = await until(settled, timeout=10)
        if left:
            # Released with others still active: it would now start beside them.
            assert queued.blocked_by in left, (queued, left)
    assert not left
    done = await s.wait_for_run(queued.id, timeout=10)
    assert done.status is RunStatus.SUCCESS, done
    await s.pause_task(TASK)
    assert beside[queued.id] == set(), beside[queued.id]
