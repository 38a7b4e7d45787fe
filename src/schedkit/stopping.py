"""Stopping a node's background tasks: cancel them and wait until each has ended;
waits with a time limit that a cancellation always ends; whether the running task
is being cancelled; the deadline of a stop's own store writes; and the end, within a
bound, of what is left on an event loop once the work it ran is done."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from schedkit._controls import escape_controls

_T = TypeVar("_T")

logger = logging.getLogger(__name__)

#: Seconds after which a cancellation is sent again to a task that has not ended.
RECANCEL_AFTER = 0.5

#: Seconds the tasks left on an event loop whose work is done (a command's, a
#: SyncScheduler's) get to end once cancelled; as long for its default executor's threads.
LEFTOVER_WAIT = 2.0


#: Seconds after the runs' grace by which a stop gives up on its store writes: the 5 s an
#: attempt ignoring its cancel gets (ABANDON_AFTER) plus the 5 s its end's write gets
#: (END_WRITE_WAIT), after which the stop already went on without that end. On a store
#: that answers the writes take milliseconds, and the runs' ends are written by then.
STOP_WRITES_AFTER_GRACE = 10.0
#: Seconds a stop's store write still gets once the deadline has passed.
LAST_WRITE_WAIT = 1.0


class StopDeadline:
    """When a node's stop gives up on its store writes (the lease's release, run log
    lines, the node's row) and goes on without them: a store that hangs (a partition
    dropping packets, a server whose queries all time out) made each write wait for the
    driver's own timeout (60 s), one after another, and a stopping service outlived its
    manager's stop timeout. What was given up is kept in :attr:`unwritten`."""

    def __init__(self) -> None:
        self.at: float | None = None
        self.unwritten: list[str] = []
        #: Runs still running when the executor had stopped (their ends not yet written).
        self.runs_left: list[str] = []

    def begin(self, grace: float) -> None:
        """A stop (or the drain that ends in one) begins and gives its runs ``grace``
        seconds; a deadline already set stays (the drain's, for the stop after it)."""
        if self.at is None:
            self.at = asyncio.get_running_loop().time() + grace + STOP_WRITES_AFTER_GRACE
            self.unwritten = []
            self.runs_left = []

    def end(self) -> None:
        self.at = None

    def left(self) -> float | None:
        """Seconds left (None: no stop under way, no deadline)."""
        if self.at is None:
            return None
        return max(0.0, self.at - asyncio.get_running_loop().time())

    async def write(
        self, what: str, call: Callable[[], Awaitable[object]], within: float | None = None
    ) -> None:
        """``call()``, cut at the deadline (past it: after ``LAST_WRITE_WAIT``), or after
        ``within`` seconds if sooner; ``what`` (said in the stop's warning) is kept in
        :attr:`unwritten` when cut. The call's own errors propagate."""
        left = self.left()
        if left is not None:
            # Past the deadline a write still gets a moment: a store that answers takes
            # milliseconds, and task code that held the stop must not cost its log lines.
            left = max(left, LAST_WRITE_WAIT)
        if left is None or (within is not None and within < left):
            left = within
        try:
            await wait_for(call(), left)
        except TimeoutError:
            self.unwritten.append(what)


def say_unwritten(node_id: str, unwritten: list[str], runs: list[str], timing: Any) -> None:
    """One warning for a stop that went on without the store: what it did not record
    and what becomes of it. ``timing``: the node's ``scheduler`` settings."""
    if not unwritten and not runs:
        return
    said = [f"gave up on: {', '.join(unwritten)}"] if unwritten else []
    if runs:
        said.append(
            f"the end of run(s) {', '.join(runs)} is not recorded: they stay running in the "
            "store until another node judges them lost "
            f"(scheduler.lost_after, {timing.lost_after:g} s)"
        )
    if any("lease" in what for what in unwritten):
        said.append(f"the scheduler lease expires on its own (lease_ttl, {timing.lease_ttl:g} s)")
    logger.warning(
        "node %s stopped without its store's answer (%.0f s after the runs' grace): %s",
        node_id,
        STOP_WRITES_AFTER_GRACE,
        "; ".join(said),
    )


#: The deadline of the stop running in this context (None outside a stop): read by the
#: parts whose stop writes to the store (the lease, the executor, the node's row).
STOP_DEADLINE: contextvars.ContextVar[StopDeadline | None] = contextvars.ContextVar(
    "schedkit_stop_deadline", default=None
)


async def stop_write(
    what: str, call: Callable[[], Awaitable[object]], within: float | None = None
) -> None:
    """``call()`` under the deadline of the stop under way (without one: waited for) and
    for at most ``within`` seconds (None: no bound of its own)."""
    await (STOP_DEADLINE.get() or StopDeadline()).write(what, call, within)


def stop_time_left(default: float) -> float:
    """``default`` seconds, or less when the stop under way has less time left."""
    deadline = STOP_DEADLINE.get()
    left = None if deadline is None else deadline.left()
    return default if left is None else min(default, left)


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


async def end_leftovers(where: str) -> set[asyncio.Task[Any]]:
    """Cancel the running loop's other tasks and give them :data:`LEFTOVER_WAIT` seconds
    to end. Those still going (code catching its cancellation, abandoned by its run after
    ``engine.work.ABANDON_AFTER``) are named in a warning and returned: a loop waiting for
    them, as ``asyncio.run`` does at its end, waited as long as they ran, for ever for
    some. ``where``: when they are left ("at exit")."""
    left = asyncio.all_tasks() - {asyncio.current_task()}
    if not left:
        return set()
    for task in left:
        task.cancel()
    done, going = await asyncio.wait(left, timeout=LEFTOVER_WAIT)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "task %s ended with an error %s",
                escape_controls(task.get_name()),
                where,
                exc_info=task.exception(),
            )
    if going:
        logger.warning(
            "%d task(s) ignored being stopped and are left running %s: %s",
            len(going),
            where,
            ", ".join(sorted(escape_controls(t.get_name()) for t in going)),
        )
        for task in going:
            # Said above: asyncio's "Task was destroyed but it is pending!" with the
            # task's repr, as the process drops it, read as a crash to operators.
            task._log_destroy_pending = False  # type: ignore[attr-defined]
    return going


async def end_default_executor(where: str) -> None:
    """Shut the running loop's default executor down, waiting :data:`LEFTOVER_WAIT`
    seconds at most for its threads (``asyncio.to_thread`` calls still busy)."""
    try:
        await wait_for(asyncio.get_running_loop().shutdown_default_executor(), LEFTOVER_WAIT)
    except TimeoutError:
        logger.warning("threads of the default executor still busy %s are left running", where)
