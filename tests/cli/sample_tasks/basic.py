"""A function task with parameters and progress, a failing one, a slow one, and a task
class written the design document's way."""

from __future__ import annotations

import logging
import time
from typing import Any

from schedkit import BaseTask, TaskContext, task

logger = logging.getLogger(__name__)

NO_RETRY = {"max_retries": 0}


@task("hello", category="demo", tags=["smoke"], description="Greets someone.", retry=NO_RETRY)
def hello(name: str = "world", times: int = 1, ctx: TaskContext | None = None) -> dict[str, Any]:
    for i in range(times):
        if ctx is not None:
            ctx.progress(i + 1, times, "greetings")
    logger.warning("hello %s", name)
    return {
        "success": True,
        "message": f"hello {name} x{times}",
        "data": {"name": name},
        "statistics": {"greeted": times},
    }


@task("boom", category="demo", description="Always fails.", retry=NO_RETRY)
def boom() -> dict[str, Any]:
    raise ValueError("boom on purpose")


@task("slow", category="demo", description="Takes a while.", retry=NO_RETRY)
def slow(seconds: float = 0.6, ctx: TaskContext | None = None) -> dict[str, Any]:
    steps = 6
    for i in range(steps):
        if ctx is not None:
            ctx.raise_if_cancelled()
            ctx.progress(i, steps, "sleeping")
        time.sleep(seconds / steps)
    return {"success": True, "message": "slept", "data": None, "statistics": {}}


class NightlyReport(BaseTask):
    """Written as in the design document: properties and an async execute."""

    @property
    def task_name(self) -> str:
        return "nightly_report"

    @property
    def task_description(self) -> str:
        return "Nightly report"

    @property
    def task_category(self) -> str:
        return "report"

    @property
    def task_tags(self) -> list[str]:
        return ["report", "daily"]

    @property
    def retry_config(self) -> dict[str, Any]:
        return {"max_retries": 0, "retry_delay": 1, "backoff_factor": 2}

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        return {"success": True, "message": "report written", "data": None, "statistics": {}}
