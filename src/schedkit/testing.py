"""Calling a task's code outside a run, in a unit test (docs/testing.md).

A task's code may reach its run's :class:`~schedkit.context.TaskContext` (``self.context``
in a ``BaseTask``, a ``ctx`` parameter, ``current_context()``); outside a run there is
none, and ``self.context`` raises. :func:`task_context` makes one and makes it current
for a ``with`` block. Everything else about a run (kwargs validated and stored, retries,
timeout, logs, the result's storage) is the scheduler's: test that with a ``Scheduler``
on a SQLite file and ``run_now(..., wait=True)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from schedkit.context import TaskContext
from schedkit.models import TriggerSource, ensure_utc, new_id, utcnow

__all__ = ["task_context"]


@contextmanager
def task_context(
    task_name: str = "test",
    *,
    kwargs: Mapping[str, Any] | None = None,
    scheduled_for: datetime | None = None,
    attempt: int = 1,
    schedule_id: str | None = None,
    trigger_source: TriggerSource = TriggerSource.MANUAL,
    config: Mapping[str, Any] | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[TaskContext]:
    """A :class:`TaskContext` as a run of ``task_name`` would have, current in the block::

        with task_context("settle_month", scheduled_for=fire) as ctx:
            result = SettleMonthTask().execute(month="2026-11")  # self.context works
            settle(month="2026-11", ctx=ctx)  # a function task's ctx parameter

    ``scheduled_for`` (aware; naive is a ValueError) defaults to now; ``config`` is the
    per-task config (``execution_context``); ``on_progress`` receives each
    ``ctx.progress`` report as the dict a run stores. ``ctx.cancel(reason)`` sets the
    cancel flag the code checks. An ``asyncio.run(...)`` inside the block sees the
    context too.
    """
    ctx = TaskContext(
        run_id=new_id(),
        task_name=task_name,
        schedule_id=schedule_id,
        scheduled_for=ensure_utc(scheduled_for) if scheduled_for is not None else utcnow(),
        attempt=attempt,
        kwargs=kwargs or {},
        trigger_source=trigger_source,
        config=config,
        on_progress=on_progress,
    )
    token = ctx.activate()
    try:
        yield ctx
    finally:
        TaskContext.deactivate(token)
