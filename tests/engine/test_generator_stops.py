"""A generator task stops at its next item once its run timed out or was cancelled, and
its ``finally`` runs (a sync function cannot be interrupted, a generator's consumer can
stop asking)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from schedkit import RunStatus, task

from .conftest import MakeScheduler

pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)

STEPS: dict[str, list[str]] = {}
STEPPED = threading.Event()


@task("sync_steps", category="t", timeout=0.3, retry={"max_retries": 0})
def sync_steps(key: str) -> Iterator[int]:
    try:
        for i in range(60):  # 3 s of steps: before, all were run past the timeout
            time.sleep(0.05)
            STEPS[key].append(f"step {i}")
            STEPPED.set()
            yield i
    finally:
        STEPS[key].append("finally")


@task("async_steps", category="t", timeout=0.3, retry={"max_retries": 0})
async def async_steps(key: str, stubborn: bool = False) -> AsyncIterator[int]:
    try:
        for i in range(60):
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                if not stubborn:
                    raise
            STEPS[key].append(f"step {i}")
            yield i
    finally:
        STEPS[key].append("finally")


async def stopped_for_good(key: str) -> list[str]:
    """The steps, once no more come: the last is the generator's ``finally``."""
    await asyncio.sleep(0.3)
    seen = list(STEPS[key])
    await asyncio.sleep(0.3)
    assert STEPS[key] == seen, "steps went on after the run was stopped"
    assert seen[-1] == "finally", seen
    return seen


async def test_a_timed_out_sync_generator_stops_at_its_next_item(
    make_scheduler: MakeScheduler,
) -> None:
    """Before: the thread read the generator to its end (3 s of steps, side effects
    included) long after the run was recorded timed out."""
    STEPS["timeout"] = []
    s = await make_scheduler(sync_steps)
    run = await s.run_now("sync_steps", {"key": "timeout"}, wait=True, timeout=10)
    assert run.status is RunStatus.TIMEOUT
    steps = await stopped_for_good("timeout")
    assert len(steps) < 15, steps  # about 6 steps in 0.3 s, one more at most


async def test_a_cancelled_sync_generator_stops_at_its_next_item(
    make_scheduler: MakeScheduler,
) -> None:
    STEPS["cancel"] = []
    STEPPED.clear()
    s = await make_scheduler(sync_steps)
    run = await s.run_now("sync_steps", {"key": "cancel"})
    assert await asyncio.to_thread(STEPPED.wait, 5)
    await s.cancel_run(run.id)
    assert (await s.wait_for_run(run.id, timeout=10)).status is RunStatus.CANCELLED
    await stopped_for_good("cancel")


@pytest.mark.parametrize("stubborn", [False, True])
async def test_a_timed_out_async_generator_stops(
    make_scheduler: MakeScheduler, stubborn: bool
) -> None:
    """A cancelled step ends an async generator; one that swallows its cancellation is
    asked for no further item (before, it was read on, abandoned, to its end)."""
    key = f"async {stubborn}"
    STEPS[key] = []
    s = await make_scheduler(async_steps)
    run = await s.run_now("async_steps", {"key": key, "stubborn": stubborn}, wait=True, timeout=10)
    assert run.status is RunStatus.TIMEOUT
    steps = await stopped_for_good(key)
    assert len(steps) < 15, steps
