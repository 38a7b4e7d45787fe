"""Helpers of the reliability tests: wrap one method of a live store (the real store
still does the work), wait for a condition, make a manual run to insert."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from schedkit.models import JSON, Run, TriggerSource, new_id

Around = Callable[..., Awaitable[Any]]


def intercept(store: object, name: str, around: Around) -> Callable[[], None]:
    """Route calls of ``store.<name>`` through ``around(original, *args, **kwargs)``;
    returns a function that undoes it."""
    original = getattr(store, name)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return await around(original, *args, **kwargs)

    setattr(store, name, wrapper)
    return lambda: setattr(store, name, original)


async def until(check: Callable[[], Awaitable[Any]], timeout: float, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy (returned); AssertionError after
    ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def manual_run(task_name: str, kwargs: dict[str, JSON] | None = None, max_attempts: int = 3) -> Run:
    """A manual run due now, to insert behind the nodes' backs."""
    return Run(
        id=new_id(),
        task_name=task_name,
        schedule_id=None,
        trigger_source=TriggerSource.MANUAL,
        scheduled_for=datetime.now(UTC),
        kwargs=kwargs or {},
        max_attempts=max_attempts,
    )
