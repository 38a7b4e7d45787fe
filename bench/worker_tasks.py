"""The task the worker processes of ``bench.workers`` discover: a no-op."""

from __future__ import annotations

from schedkit import task


@task("bench_worker_noop", description="benchmark no-op", retry={"max_retries": 0})
async def bench_worker_noop() -> None:
    return None
