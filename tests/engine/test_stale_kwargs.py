"""Kwargs stored before a deploy changed the task's parameters (a schedule's, a pending
run's): the run fails at its start, before any hook, with the message validation gives
at a run's creation, and is not retried; the node taking the scheduler lease warns of
the schedules whose kwargs no longer fit."""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Any, ClassVar

import pytest

from schedkit import BaseTask, RunStatus, task

from .conftest import MakeScheduler


@task("fetch_prices", retry={"max_retries": 3, "retry_delay": 0})
def fetch_prices_v1(day: date, limit: int = 10) -> None:
    """As deployed first: its runs are made with 4 attempts."""


class FetchPricesV2(BaseTask):
    """The next deploy: ``limit`` renamed ``limits``."""

    task_name = "fetch_prices"
    task_description = "fetch prices"
    task_category = "t"
    default_schedule = None
    retry_config: ClassVar[dict[str, Any]] = {"max_retries": 3, "retry_delay": 0}
    calls: ClassVar[list[str]] = []

    def validate_execution_environment(self) -> bool:
        self.calls.append("validate")
        return True

    def before_execution(self) -> None:
        self.calls.append("before")

    def execute(self, day: date, limits: int = 10) -> dict[str, Any]:
        self.calls.append("execute")
        return {"success": True}


async def test_stale_kwargs_fail_the_run_before_its_hooks_and_are_not_retried(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    """An audit: such a run failed with pydantic's raw text ("1 validation error for
    V2_parameters ... https://errors.pydantic.dev/..."), after its before_execution, and
    was retried at every fire."""
    old = await make_scheduler(
        fetch_prices_v1, scheduler={"enabled": False}, executor={"enabled": False}
    )
    kwargs = {"day": "2026-12-01", "limit": 3}
    config = {"trigger": "cron", "hour": 3, "kwargs": kwargs}
    await old.add_task("fetch_prices", config, schedule_id="prices_nightly")
    pending = await old.run_now("fetch_prices", kwargs)
    FetchPricesV2.calls = []
    with caplog.at_level(logging.WARNING, logger="schedkit"):
        new = await make_scheduler(FetchPricesV2)
        done = await new.wait_for_run(pending.id, timeout=30)
        for _ in range(200):  # the check of the stored schedules runs in the background
            if "prices_nightly" in caplog.text:
                break
            await asyncio.sleep(0.05)
    assert done.status is RunStatus.FAILED
    assert (done.attempt, done.max_attempts) == (1, 4)  # not retried
    assert done.error is not None and done.error["type"] == "StaleKwargsError"
    message = done.error["message"]
    assert message.startswith("kwargs.limit: unknown key 'limit' (did you mean 'limits'?); ")
    assert "errors.pydantic.dev" not in message
    assert FetchPricesV2.calls == []  # no hook ran
    warned = [
        r.getMessage() for r in caplog.records if "no longer fit their task" in r.getMessage()
    ]
    assert len(warned) == 1, caplog.text
    assert warned[0].startswith("1 stored schedule(s) have kwargs")
    assert "schedule prices_nightly (task fetch_prices): kwargs.limit: unknown key" in warned[0]
