"""The chaos test's tasks: scheduled every second, long enough that kills land mid-run.

Each attempt appends a ``start`` mark when its body begins and an ``end`` mark when it
returns to the file named by SCHEDKIT_CHAOS_MARKS (one short O_APPEND write each, atomic
across processes), so the checker can tell which process executed which attempt.
"""

from __future__ import annotations

import asyncio
import os
import random
import time

from schedkit import TaskContext, task
from tests.engine.nodes import append_line

RETRY = {"max_retries": 5, "retry_delay": 0.5, "backoff_factor": 1, "jitter": 0}


def mark(ctx: TaskContext, event: str) -> None:
    append_line(
        os.environ["SCHEDKIT_CHAOS_MARKS"],
        {
            "event": event,
            "task": ctx.task_name,
            "run": ctx.run_id,
            "attempt": ctx.attempt,
            "for": ctx.scheduled_for.isoformat(),
            "pid": os.getpid(),
            "t": time.time(),
        },
    )


@task(
    "chaos_tick",
    category="chaos",
    schedule={"trigger": "cron", "second": "*", "max_instances": 20, "overlap": "allow"},
    retry=RETRY,
)
async def chaos_tick(ctx: TaskContext) -> None:
    """Async, 0.5-3 s, overlapping itself."""
    mark(ctx, "start")
    await asyncio.sleep(random.uniform(0.5, 3.0))
    mark(ctx, "end")


@task(
    "chaos_single",
    category="chaos",
    schedule={"trigger": "cron", "second": "*", "max_instances": 1, "overlap": "skip"},
    retry=RETRY,
)
def chaos_single(ctx: TaskContext) -> None:
    """Sync (thread pool), 1-2.5 s, one at a time: most fires are recorded skipped."""
    mark(ctx, "start")
    time.sleep(random.uniform(1.0, 2.5))
    mark(ctx, "end")
