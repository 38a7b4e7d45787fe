"""Tasks run by the node processes of the multi-process tests.

Each execution appends one line to the file named by SCHEDKIT_TEST_MARKER (O_APPEND
writes of a short line are atomic), so the test can count executions across processes.
"""

from __future__ import annotations

import asyncio
import os

from schedkit import TaskContext, task
from tests.engine.nodes import append_line


def _mark(ctx: TaskContext, event: str) -> None:
    append_line(
        os.environ["SCHEDKIT_TEST_MARKER"],
        {
            "event": event,
            "run": ctx.run_id,
            "for": ctx.scheduled_for.isoformat(),
            "attempt": ctx.attempt,
            "pid": os.getpid(),
        },
    )


@task(
    "tick",
    category="test",
    schedule={"trigger": "cron", "second": "*", "max_instances": 5, "overlap": "allow"},
)
async def tick(ctx: TaskContext) -> None:
    _mark(ctx, "tick")


@task("long_job", category="test", retry={"max_retries": 2, "retry_delay": 0.1, "jitter": 0})
async def long_job(ctx: TaskContext) -> None:
    _mark(ctx, "start")
    if ctx.attempt == 1:
        await asyncio.sleep(60)
    _mark(ctx, "done")


@task("quick", category="test", retry={"max_retries": 2, "retry_delay": 0.1, "jitter": 0})
async def quick(ctx: TaskContext) -> None:
    _mark(ctx, "quick")
