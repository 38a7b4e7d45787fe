"""Stopping a node's background tasks: cancel them and wait until each has ended;
waits with a time limit that a cancellation always ends; and whether the running task
is being cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

_T = TypeVar("_T")

#: Seconds after which a cancellation is sent again to a task that has not ended.
RECANCEL_AFTER = 0.5


def being_cancelled() -> bool:
    """Whether the running task has been asked to stop (``Task.cancel()``). A
    ``CancelledError`` is not always its own: a cancellation that reaches a store call can
    come back out as a store error, not to be waited out; code it runs can raise one of
    its own (it awaited a future cancelled elsewhere)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel ``tasks`` and return once every one has ended (their errors discarded).

    One cancellation is not always enough: a cancellation that reaches a task inside a
    store call can come back out as a store error (the driver closing its connection),
    which a loop that retries store errors then retries, so the task goes on. Seen as a
    node whose stop() hung on its lease loop. The cancellation is therefore repeated
    until the task ends.
    """
    given = [task for task in tasks if task is not None]
    pending = {task for task in given if not task.done()}
    while pending:
        for waiting in pending:
            waiting.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_AFTER)
    for ended in given:
        if not ended.cancelled():
            ended.exception()  # retrieved: no "exception was never retrieved" warning


async def wait_for(awaitable: Awaitable[_T], timeout: float | None) -> _T:
    """``asyncio.wait_for`` without its Python 3.11 flaw: there, a wait that ends in the
    loop iteration in which its caller is cancelled returns its result and the
    cancellation is dropped. A background loop woken by its event just as
    ``asyncio.run`` cancelled it (a program ending without ``stop()``) then waited
    again, and the program hung at exit. Here the caller waits through
    ``asyncio.wait``, which never swallows a cancellation of its caller.

    As with ``asyncio.wait_for``, the awaitable has ended (its cleanup run) before a
    cancelled caller goes on, or before ``TimeoutError`` is raised."""
    inner = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({inner}, timeout=timeout)
    except asyncio.CancelledError:
        await _cancel_and_settle(inner)
        raise
    if not done:
        await _cancel_and_settle(inner)
        if not inner.cancelled() and inner.exception() is None:
            return inner.result()
        raise TimeoutError
    return inner.result()


async def _cancel_and_settle(inner: asyncio.Future[Any]) -> None:
    """Cancel ``inner`` and wait until it has ended; a further cancellation of the
    caller meanwhile ends the wait (the caller is being stopped harder)."""
    inner.cancel()
    await asyncio.wait({inner})
    if not inner.cancelled():
        inner.exception()  # retrieved: no "exception was never retrieved" warning
