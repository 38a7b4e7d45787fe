"""Tasks the console tests drive: a quick one with a parameter form, a slow one that
reports progress and logs, and the design document's class form with a schedule."""

from __future__ import annotations

import asyncio
import enum
from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from schedkit import BaseTask, TaskContext, TaskRegistry, task


class Mode(enum.StrEnum):
    FAST = "fast"
    CAREFUL = "careful"


class GreetParams(BaseModel):
    name: str = Field(description="Who to greet")
    times: int = Field(1, ge=1, le=10)
    loud: bool = False
    day: date | None = None
    mode: Mode = Mode.FAST


@task(
    "greet",
    description="Greets someone (quick)",
    category="demo",
    tags=["quick", "form"],
    parameters=GreetParams,
    retry={"max_retries": 0},
)
async def greet(
    name: str,
    times: int = 1,
    loud: bool = False,
    day: date | None = None,
    mode: Mode = Mode.FAST,
    ctx: TaskContext | None = None,
) -> dict[str, Any]:
    assert ctx is not None
    text = ("HELLO " if loud else "hello ") + name
    ctx.logger.info("greeting %s x%d (%s)", name, times, mode)
    await asyncio.sleep(0.6)  # long enough to be seen running
    return {"success": True, "message": text, "data": {"times": times, "day": str(day)}}


@task(
    "crunch",
    description="Crunches numbers slowly, reporting progress",
    category="demo",
    tags=["slow"],
    retry={"max_retries": 0},
)
async def crunch(ctx: TaskContext, **options: Any) -> dict[str, Any]:
    """No declared parameters (the console offers a JSON object); ``delay`` per batch."""
    steps = 8
    delay = float(options.get("delay", 0.4))
    for step in range(1, steps + 1):
        await asyncio.sleep(delay)
        ctx.progress(step, steps, "batches")
        ctx.logger.info("batch %d of %d done", step, steps)
    return {"success": True, "message": "crunched", "data": {"batches": steps}}


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
        return ["daily"]

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        return {"success": True, "message": "done", "data": None, "statistics": {}}


def console_registry() -> TaskRegistry:
    registry = TaskRegistry()
    for t in (greet, crunch, NightlyReport):
        registry.register_task(t)
    return registry
