"""Stopping background tasks whose loop can swallow a cancellation."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from schedkit.errors import StoreUnavailableError
from schedkit.stopping import cancel_and_wait, wait_for


async def test_a_task_that_swallows_one_cancellation_is_still_stopped() -> None:
    """A loop retrying store errors, whose store call turns a cancellation into a store
    error (as the MongoDB driver can), went on after one cancel: stop() hung."""
    calls = 0

    in_call = asyncio.Event()

    async def store_call() -> None:
        in_call.set()
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            raise StoreUnavailableError("connection closed") from None
        finally:
            in_call.clear()

    async def retrying_loop() -> None:
        nonlocal calls
        while True:  # like the lease loop: a short store call, then a longer wait
            calls += 1
            with contextlib.suppress(StoreUnavailableError):
                await store_call()
            await asyncio.sleep(0.3)

    task = asyncio.create_task(retrying_loop())
    await in_call.wait()
    # One cancellation alone does not end it...
    task.cancel()
    await asyncio.sleep(0.45)
    assert not task.done() and calls >= 2  # it went on to its next store call
    # ...cancel_and_wait does.
    await asyncio.wait_for(cancel_and_wait(task, None), 5)
    assert task.cancelled()


async def test_ended_and_failed_tasks_are_fine() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(fails())
    done = asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    await cancel_and_wait(failed, done)
    assert failed.done() and done.done()


async def test_a_wait_woken_as_its_caller_is_cancelled_still_ends_the_caller() -> None:
    """Python 3.11's ``asyncio.wait_for`` returns a wait that ended in the same loop
    iteration as a cancellation of its caller, and drops the cancellation. A loop woken
    by its event as ``asyncio.run`` cancelled it (a program ending without stop())
    waited again forever: the program hung at exit."""
    wake = asyncio.Event()
    waits = 0

    async def loop_until_cancelled() -> None:
        nonlocal waits
        while True:
            waits += 1
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await wait_for(wake.wait(), 0.05)

    task = asyncio.create_task(loop_until_cancelled())
    await asyncio.sleep(0)  # waiting on its event
    wake.set()
    task.cancel()  # once, in the iteration its wait ends: what asyncio.run does
    done, _ = await asyncio.wait({task}, timeout=0.5)
    assert done and task.cancelled()
    assert waits == 1


async def test_wait_for_times_out_and_answers() -> None:
    with pytest.raises(TimeoutError):
        await wait_for(asyncio.sleep(1), 0.01)
    assert await wait_for(asyncio.sleep(0, "answer"), 1) == "answer"
    assert await wait_for(asyncio.sleep(0, "no limit"), None) == "no limit"


async def _work_with_cleanup(started: asyncio.Event, unwound: asyncio.Event) -> None:
    """Long work whose cleanup itself awaits; ``unwound`` is set once it has run."""
    started.set()
    try:
        await asyncio.sleep(10)
    finally:
        await asyncio.sleep(0.05)
        unwound.set()


async def test_a_cancelled_caller_returns_only_once_the_awaited_work_has_unwound() -> None:
    """Like ``asyncio.wait_for``: a caller cancelled while waiting returns once the work
    it waited on has run its own cleanup. A run's attempt waits on the task's code this
    way; had the caller gone on at once, a node's stop() could close the store while a
    cancelled task was still writing in its ``finally``."""
    unwound = asyncio.Event()
    started = asyncio.Event()
    for timeout in (5.0, None):
        unwound.clear()
        started.clear()
        caller = asyncio.create_task(wait_for(_work_with_cleanup(started, unwound), timeout))
        await started.wait()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert unwound.is_set(), timeout


async def test_a_timed_out_wait_returns_once_the_work_has_unwound() -> None:
    unwound = asyncio.Event()
    with pytest.raises(TimeoutError):
        await wait_for(_work_with_cleanup(asyncio.Event(), unwound), 0.01)
    assert unwound.is_set()
