"""A default schedule a node stores is logged, and BaseTask's built-in one (daily at
02:00, which a class task declaring no ``default_schedule`` gets) is warned about."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from schedkit import BaseTask, task

from .conftest import MakeScheduler


class Inherits(BaseTask):
    task_name = "inherits"  # type: ignore[assignment]
    task_description = "keeps BaseTask's default schedule"  # type: ignore[assignment]
    task_category = "t"  # type: ignore[assignment]

    async def execute(self, **kwargs: Any) -> None:
        return None


class Declares(Inherits):
    task_name = "declares"  # type: ignore[assignment]

    @property
    def default_schedule(self) -> dict[str, Any]:
        return {"trigger": "cron", "hour": 6, "minute": 30}


class OnDemand(Inherits):
    task_name = "on_demand"  # type: ignore[assignment]
    default_schedule = None  # type: ignore[assignment]


@task("function_task", category="t")
async def function_task() -> None:
    return None


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # the start, not a store
async def test_a_firing_node_logs_the_defaults_it_stores_and_warns_of_the_inherited_one(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    """An audit: a class task without ``default_schedule`` got a stored 02:00 schedule
    as a node started, with nothing logged (an ``@task`` function gets none)."""
    with caplog.at_level(logging.INFO, logger="schedkit"):
        s = await make_scheduler(Inherits, Declares, OnDemand, function_task)
    said = {(r.levelno, r.getMessage()) for r in caplog.records if "schedkit.service" in r.name}
    assert (
        logging.INFO,
        "stored the default schedule of task inherits: every day at 02:00 (Asia/Shanghai)",
    ) in said
    assert (
        logging.INFO,
        "stored the default schedule of task declares: every day at 06:30 (Asia/Shanghai)",
    ) in said
    warnings = [m for level, m in said if level == logging.WARNING]
    assert warnings == [
        "task inherits declares no default_schedule, so it gets BaseTask's: every day at "
        "02:00 (Asia/Shanghai); set default_schedule = None to run it only on demand, or "
        "declare the schedule it needs"
    ]
    assert not [m for _, m in said if "on_demand" in m or "function_task" in m]
    assert {sc.id for sc in await s.list_schedules()} == {"inherits", "declares"}

    # Stored already: a restart stores nothing, the inheritance is said at every start.
    await s.stop()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="schedkit"):
        await s.start()
    said = {r.getMessage() for r in caplog.records if "schedkit.service" in r.name}
    assert not [m for m in said if m.startswith("stored the default schedule")]
    assert [m for m in said if m.startswith("task inherits declares no default_schedule")]
