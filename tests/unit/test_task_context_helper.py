"""``schedkit.testing.task_context``: a task's code called outside a run (a unit test)
finds the context a run would give it (docs/testing.md).

An audit: ``SettleTask().execute(...)`` raised ``RuntimeError: no run is executing in
this context``, and a function task with a required ``ctx`` needed a ``TaskContext``
whose constructor is not documented."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from schedkit import BaseTask, TaskContext, current_context, task
from schedkit.models import TriggerSource
from schedkit.testing import task_context


class MonthEnd(BaseTask):
    task_name = "month_end"
    task_description = "reads its context"
    task_category = "t"
    default_schedule = None

    def execute(self, **kwargs: Any) -> dict[str, Any]:
        ctx = self.context
        ctx.progress(1, 2, "half")
        return {"day": ctx.scheduled_for.date().isoformat(), "region": ctx.config["region"]}


@task("needs_ctx")
async def needs_ctx(n: int, ctx: TaskContext) -> tuple[str, int, bool]:
    await asyncio.sleep(0)
    found = current_context()
    return ctx.task_name, ctx.attempt, found is ctx and ctx.cancelled


def test_a_base_task_s_execute_finds_the_context() -> None:
    reports: list[dict[str, Any]] = []
    fire = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    with task_context(
        "month_end", scheduled_for=fire, config={"region": "广东"}, on_progress=reports.append
    ) as ctx:
        assert MonthEnd().execute() == {"day": "2026-11-30", "region": "广东"}
    assert (ctx.task_name, ctx.trigger_source, ctx.schedule_id) == (
        "month_end",
        TriggerSource.MANUAL,
        None,
    )
    assert reports == [{"done": 1, "total": 2, "note": "half"}]
    assert current_context() is None


def test_an_async_function_task_takes_it_as_ctx_and_finds_it_current() -> None:
    with task_context("needs_ctx", attempt=2) as ctx:
        ctx.cancel("test")
        assert asyncio.run(needs_ctx(1, ctx=ctx)) == ("needs_ctx", 2, True)
        # The task's own execute passes the current context to its ctx parameter.
        assert asyncio.run(needs_ctx.execute(n=1)) == ("needs_ctx", 2, True)


def test_a_naive_fire_time_is_refused() -> None:
    with (
        pytest.raises(ValueError, match="naive datetime"),
        task_context(scheduled_for=datetime(2026, 11, 30, 18, 0)),
    ):
        pass
