"""Stopping a node's background tasks: cancel them and wait until each has ended."""

from __future__ import annotations

import asyncio
from typing import Any

#: Seconds after which a cancellation is sent again to a task that has not ended.
RECANCEL_AFTER = 0.5


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
