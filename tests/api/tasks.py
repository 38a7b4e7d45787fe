"""Tasks the API tests run (registered into a fresh registry per server)."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from pydantic import BaseModel, Field

from schedkit import BaseTask, TaskContext, TaskRegistry, task


class EchoParams(BaseModel):
    count: int = Field(ge=0, le=1000)
    label: str = "x"


@task(
    "echo",
    description="Echo the kwargs back",
    category="demo",
    tags=["alpha", "beta"],
    parameters=EchoParams,
    retry={"max_retries": 0},
)
async def echo(count: int, label: str = "x", ctx: TaskContext | None = None) -> dict[str, Any]:
    assert ctx is not None
    ctx.logger.info("echo %s x%d", label, count)
    ctx.logger.warning("second line")
    return {"success": True, "message": "echoed", "data": {"count": count, "label": label}}


@task(
    "slow",
    description="Sleeps until cancelled",
    category="demo",
    tags=["gamma"],
    retry={"max_retries": 0},
)
async def slow(ctx: TaskContext) -> dict[str, Any]:
    for _ in range(600):
        if ctx.cancelled:
            break
        await asyncio.sleep(0.05)
    return {"success": True, "message": "woke"}


@task("boom", description="Always fails", category="ops", retry={"max_retries": 0})
def boom() -> None:
    raise RuntimeError("kaboom")


class NightlyReport(BaseTask):
    """The design document's class form, with its default schedule (02:00 daily)."""

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
        return ["beta"]

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        return {"success": True, "message": "done", "data": None, "statistics": {}}


class Cleanup(NightlyReport):
    @property
    def task_name(self) -> str:
        return "cleanup"

    @property
    def task_description(self) -> str:
        return "Cleanup"

    @property
    def task_category(self) -> str:
        return "data"

    @property
    def default_schedule(self) -> dict[str, Any]:
        return {"trigger": "interval", "hours": 6}


@task(
    "tick",
    category="test",
    schedule={"trigger": "cron", "second": "*", "max_instances": 5, "overlap": "allow"},
)
async def tick(ctx: TaskContext) -> None:
    """Appends one line per execution to $SCHEDKIT_TEST_MARKER (multi-worker test)."""
    line = json.dumps({"run": ctx.run_id, "for": ctx.scheduled_for.isoformat(), "pid": os.getpid()})
    fd = os.open(os.environ["SCHEDKIT_TEST_MARKER"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def api_registry() -> TaskRegistry:
    registry = TaskRegistry()
    for t in (echo, slow, boom, NightlyReport, Cleanup):
        registry.register_task(t)
    return registry
