"""Engine tests: a Scheduler with short intervals, on every store backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from schedkit import SchedkitConfig, Scheduler, TaskRegistry
from schedkit.clock import Clock
from tests.stopping import stop_or_fail

FAST = {
    "timezone": "Asia/Shanghai",
    "entry_points": False,
    "executor": {"poll_interval": 0.05, "max_workers": 4},
    "scheduler": {
        "lease_ttl": 2.0,
        "lookahead": 1.0,
        "refresh_interval": 0.2,
        "heartbeat_interval": 0.2,
        "lost_after": 3.0,
        "shutdown_grace": 2.0,
    },  # Sub-second schedules keep these tests short (the default minimum is 1 s).
    "limits": {"min_interval": 0.0},
}


def fast_config(store_url: str, **overrides: Any) -> SchedkitConfig:
    data: dict[str, Any] = {**FAST, "store_url": store_url}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return SchedkitConfig(**data)


MakeScheduler = Callable[..., Awaitable[Scheduler]]


@pytest.fixture
async def make_scheduler(store_url: str) -> AsyncIterator[MakeScheduler]:
    """Start Schedulers on this test's store; all are stopped at the end."""
    started: list[Scheduler] = []

    async def make(
        *tasks: Any,
        registry: TaskRegistry | None = None,
        clock: Clock | None = None,
        **overrides: Any,
    ) -> Scheduler:
        reg = registry if registry is not None else TaskRegistry()
        for t in tasks:
            reg.register_task(t)
        s = Scheduler(fast_config(store_url, **overrides), registry=reg, clock=clock)
        await s.start()
        started.append(s)
        return s

    yield make
    for s in reversed(started):
        # A stop that hangs was seen once in a while on FerretDB in the full suite.
        await stop_or_fail(s, grace=1.0)
