"""Tasks executed by real Celery workers in the Celery executor tests."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

from schedkit import BaseTask, TaskContext, task

NO_RETRY = {"max_retries": 0}
QUICK_RETRY = {"max_retries": 2, "retry_delay": 0.1, "backoff_factor": 1, "jitter": 0}


@task("celery_echo", executor="celery", retry=NO_RETRY)
async def celery_echo(value: int, ctx: TaskContext) -> dict[str, Any]:
    ctx.logger.info("echo %s from pid %s", value, os.getpid())
    ctx.progress(1, 2, "half way")
    return {"success": True, "message": "echoed", "data": {"value": value, "pid": os.getpid()}}


@task("celery_flaky", executor="celery", retry=QUICK_RETRY)
def celery_flaky(ctx: TaskContext) -> dict[str, Any]:
    """Sync code (the worker node's thread lane): fails its first attempt."""
    if ctx.attempt == 1:
        raise RuntimeError("the first attempt fails")
    return {"success": True, "message": f"attempt {ctx.attempt}"}


@task("celery_slow", executor="celery", timeout=0.5, retry=NO_RETRY)
async def celery_slow() -> dict[str, Any]:
    await asyncio.sleep(60)
    return {"success": True}


@task("celery_long", executor="celery", retry=NO_RETRY)
async def celery_long(ctx: TaskContext) -> dict[str, Any]:
    for i in range(1200):
        ctx.progress(i, 1200)
        await asyncio.sleep(0.05)
    return {"success": True}


@task("celery_counted", executor="celery", retry=NO_RETRY)
def celery_counted(path: str) -> dict[str, Any]:
    """Counts its executions in a file; slow enough for a duplicate to arrive meanwhile."""
    with Path(path).open("a", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(0.5)
    return {"success": True}


@task("celery_killed", executor="celery", retry=QUICK_RETRY)
async def celery_killed(marker: str, ctx: TaskContext) -> dict[str, Any]:
    """The first attempt writes its worker's pid and hangs (the test kills the worker)."""
    if ctx.attempt == 1:
        await asyncio.to_thread(Path(marker).write_text, str(os.getpid()), encoding="utf-8")
        await asyncio.sleep(120)
    return {"success": True, "message": f"attempt {ctx.attempt}"}


@task("celery_isolated", executor="celery", isolation="process", timeout=1.0, retry=NO_RETRY)
def celery_isolated(seconds: float) -> dict[str, Any]:
    """Sync code that ignores cancellation: only killing its process stops it."""
    logging.getLogger("celery_isolated").info("child pid %s", os.getpid())
    time.sleep(seconds)
    return {"success": True, "data": {"pid": os.getpid()}}


class CeleryHooked(BaseTask):
    """The design document's hooks, each logging its name, on a Celery worker."""

    task_name = "celery_hooked"
    task_description = "hooks in order on a Celery worker"
    task_category = "test"
    executor = "celery"
    retry_config = NO_RETRY

    def validate_execution_environment(self) -> bool:
        self.context.logger.info("hook: validate")
        return bool(self.context.kwargs.get("valid", True))

    def before_execution(self) -> None:
        self.context.logger.info("hook: before")

    def execute(self, **kwargs: Any) -> dict[str, Any]:
        self.context.logger.info("hook: execute")
        return {"success": True, "message": "hooked"}

    def after_execution(self, result: dict[str, Any]) -> None:
        self.context.logger.info("hook: after")

    def on_failure(self, error: Exception) -> None:
        self.context.logger.info("hook: on_failure %s", type(error).__name__)


@task("local_echo", retry=NO_RETRY)
async def local_echo(value: int, ctx: TaskContext) -> dict[str, Any]:
    """A task of schedkit's own nodes (no executor declared): a schedule may send its
    runs to Celery all the same."""
    ctx.logger.info("local echo %s from pid %s", value, os.getpid())
    return {"success": True, "message": "echoed", "data": {"value": value, "pid": os.getpid()}}


TASKS = [
    local_echo,
    celery_echo,
    celery_flaky,
    celery_slow,
    celery_long,
    celery_counted,
    celery_killed,
    celery_isolated,
    CeleryHooked,
]
