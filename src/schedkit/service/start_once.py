"""One start at a time: concurrent ``Scheduler.start()`` calls share the one under way.

Two starts both ran in full (``asyncio.gather(s.start(), s.start())``): two SQLite
writers and two watchdogs, one of each left running after ``stop()``. A caller arriving
while a start is under way now waits for it and returns, or raises its error. The start
runs in its first caller's task (its cancellation and context variables are the
caller's); a future, made per start, tells the others how it ended, so a Scheduler
reused under another event loop (a second ``asyncio.run``) carries nothing bound to the
first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["StartOnce"]


class StartOnce:
    """Runs a start unless one is under way, in which case it waits for that one."""

    def __init__(self) -> None:
        self._under_way: asyncio.Future[None] | None = None

    async def run(self, start: Callable[[], Awaitable[None]], started: Callable[[], bool]) -> None:
        """Run ``start()`` unless ``started()`` or a start is under way (then wait for it:
        its error is raised here too; if its caller was cancelled, start anew)."""
        while (under_way := self._under_way) is not None:
            try:
                await asyncio.shield(under_way)
                return
            except asyncio.CancelledError:
                if not under_way.cancelled():
                    raise  # this caller was cancelled, not the start it waited for
        if started():
            return
        done = self._under_way = asyncio.get_running_loop().create_future()
        try:
            await start()
        except asyncio.CancelledError:
            done.cancel()
            raise
        except BaseException as exc:
            done.set_exception(exc)
            done.exception()  # retrieved: no "never retrieved" warning without a waiter
            raise
        else:
            done.set_result(None)
        finally:
            self._under_way = None
