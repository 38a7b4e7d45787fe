"""An attempt's work as an asyncio task that a cancel or a timeout stops within a bound.

Cancelling a task only asks it to stop: a task body that catches ``CancelledError`` and
goes on (or loops forever) ignores the request. Awaited directly, such work held its
run ``running`` past its timeout and its cancel, recorded ``success`` once it chose to
return, and held up the node's stop without limit. So the attempt awaits a gate instead
of the task: the gate opens when the task ends, or :data:`ABANDON_AFTER` seconds after
the task was asked to stop. Work still going then is *abandoned*: it keeps running (a
coroutine, like a thread, cannot be stopped from outside) but the attempt ends without
it, its outcome the timeout or the cancel it ignored.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schedkit.engine.threads import HeldThread

#: Seconds a cancelled or timed-out attempt's work gets to end before it is abandoned.
ABANDON_AFTER = 5.0


class WorkAbandonedError(Exception):
    """The work did not end within :data:`ABANDON_AFTER` of being asked to stop."""


class Work:
    """``task``, stopped by :meth:`cancel` or after ``timeout`` seconds (if given)."""

    def __init__(self, task: asyncio.Task[Any], timeout: float | None = None) -> None:
        self.task = task
        #: The thread a sync task's code runs in (set by the attempt), which goes on
        #: when the task awaiting it is cancelled.
        self.thread: HeldThread | None = None
        #: Whether the timeout stopped it.
        self.timed_out = False
        loop = asyncio.get_running_loop()
        self._gate: asyncio.Future[None] = loop.create_future()
        self._abandon_at: asyncio.TimerHandle | None = None
        self._deadline = None if timeout is None else loop.call_later(timeout, self._time_out)
        task.add_done_callback(self._open)

    def cancel(self) -> None:
        """Ask the work to stop; it is abandoned if still going :data:`ABANDON_AFTER`
        seconds later."""
        self.task.cancel()
        if self._abandon_at is None and not self._gate.done():
            self._abandon_at = asyncio.get_running_loop().call_later(ABANDON_AFTER, self._open)

    async def result(self) -> Any:
        """The task's result (or its exception, ``CancelledError`` included) once it
        ended; WorkAbandonedError if it was abandoned. Cancelled while waiting (the node
        stopping hard), the work is stopped as well, within the same bound."""
        try:
            await self._gate
        except asyncio.CancelledError:
            self.cancel()
            await asyncio.wait({self.task}, timeout=ABANDON_AFTER)
            raise
        if not self.task.done():
            raise WorkAbandonedError
        return self.task.result()

    @property
    def still_running(self) -> bool:
        """Whether the code goes on: abandoned work, or a thread's call not returned."""
        return not self.task.done() or (self.thread is not None and self.thread.busy)

    async def ended(self) -> None:
        """Wait until the code has really ended, however long it ignores being stopped."""
        if not self.task.done():
            await asyncio.wait({self.task})
        if self.thread is not None:
            await self.thread.idle()

    def _time_out(self) -> None:
        self.timed_out = True
        self.cancel()

    def _open(self, _: object = None) -> None:
        for timer in (self._deadline, self._abandon_at):
            if timer is not None:
                timer.cancel()
        if not self._gate.done():
            self._gate.set_result(None)
