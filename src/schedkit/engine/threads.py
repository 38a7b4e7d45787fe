"""The thread lane: where synchronous task code runs (the document's thread pool).

A thread cannot be interrupted, so a sync task that overruns its timeout or ignores a
cancel keeps its thread after the run has been recorded. The lane counts such threads as
busy until they really return, so the executor neither claims sync runs it has no thread
for nor starts a run's timeout while the run only waits for a thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from schedkit.engine.daemon_pool import DaemonThreadPool
from schedkit.stopping import wait_for

logger = logging.getLogger(__name__)

T = TypeVar("T")


def without_stop_iteration(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` (on a thread); a StopIteration it raises comes out as a RuntimeError,
    as it would from a coroutine (PEP 479). An asyncio future refuses StopIteration (a
    TypeError in the loop's callback) and is never settled: a sync task's attempt waited
    for ever, its run "running" with live heartbeats, and a sync ``on_failure`` hook held
    its run's end for the hook's whole time limit."""
    try:
        return fn(*args, **kwargs)
    except StopIteration as exc:
        name = getattr(fn, "__qualname__", repr(fn))
        raise RuntimeError(f"{name} raised StopIteration") from exc


class ThreadLane:
    def __init__(
        self,
        size: int,
        name: str = "schedkit-run",
        on_free: Callable[[], None] | None = None,
    ) -> None:
        self.size = size
        self._name = name
        self._shut = False
        self._pool = DaemonThreadPool(max_workers=size, thread_name_prefix=name)
        self._busy = 0
        #: What each held thread runs ("run <id> of <task>"), named by the warning of
        #: :meth:`close` (the threads of a pool shut down are still counted here).
        self._held: set[HeldThread] = set()
        self._freed: asyncio.Event | None = None
        #: Called on the loop whenever a thread becomes free (also one whose run was
        #: recorded long before: a sync task that overran its timeout).
        self._on_free = on_free

    @property
    def busy(self) -> int:
        """Threads running task code, including code whose run already ended."""
        return self._busy

    @property
    def free(self) -> int:
        return self.size - self._busy

    async def hold(self, label: str = "") -> HeldThread:
        """Wait for a free thread and hold it for one attempt's sync calls; ``label``
        says whose (``run <id> of <task>``)."""
        while self._busy >= self.size:
            if self._freed is None:
                self._freed = asyncio.Event()
            self._freed.clear()
            await self._freed.wait()
        self._busy += 1
        held = HeldThread(self, label)
        self._held.add(held)
        return held

    def _release(self, held: HeldThread) -> None:
        self._busy -= 1
        self._held.discard(held)
        if self._freed is not None:
            self._freed.set()
        if self._on_free is not None:
            self._on_free()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._shut = True

    async def close(self, settle: float) -> None:
        """Shut the lane once its threads are free, or ``settle`` seconds have passed:
        code that saw its run's cancel returns a moment after the attempt ended (a
        loop checking ``ctx.cancelled``), and was warned about as code ignoring it."""
        deadline = asyncio.get_running_loop().time() + settle
        while self._busy and (left := deadline - asyncio.get_running_loop().time()) > 0:
            self._freed = self._freed or asyncio.Event()
            self._freed.clear()
            with contextlib.suppress(TimeoutError):
                await wait_for(self._freed.wait(), left)
        if self._busy:
            # Each named (docs/deployment.md promises it): "1 thread(s)" alone left the
            # operator to guess which run's code was cut off at exit.
            whose = sorted(held.label or "a run" for held in self._held)
            logger.warning(
                "%d thread(s) still run task code of runs already recorded (sync code that "
                "ignored its timeout or cancel): %s; it is abandoned when this process exits",
                self._busy,
                ", ".join(whose),
            )
        self.shutdown()

    def reopen(self) -> None:
        """A new pool after :meth:`shutdown` (the node is started again); threads of
        the old one still running abandoned code keep counting as busy."""
        if self._shut:
            self._pool = DaemonThreadPool(max_workers=self.size, thread_name_prefix=self._name)
            self._shut = False
        self._freed = None  # it may belong to the event loop of the last start


class HeldThread:
    """One attempt's claim on a thread of the lane. It is given back when the attempt is
    :meth:`done` *and* no call it made is still running."""

    def __init__(self, lane: ThreadLane, label: str = "") -> None:
        self._lane = lane
        self.label = label
        self._in_flight = 0
        self._done = False
        self._idle: asyncio.Event | None = None

    @property
    def busy(self) -> bool:
        """Whether a call it made still runs (a stopped attempt's code that went on)."""
        return self._in_flight > 0

    async def idle(self) -> None:
        """Wait until no call it made still runs."""
        if self._in_flight:
            self._idle = self._idle or asyncio.Event()
            await self._idle.wait()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        """Run ``fn`` on the pool in a copy of the caller's context.

        Its end comes back to the loop in one hand-over that both settles the returned
        future and counts the call as returned (``asyncio.wrap_future`` and a separate
        count took two wake-ups of the loop per call: a fifth of a sync run's CPU)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        context = contextvars.copy_context()
        self._in_flight += 1

        def work() -> None:
            try:
                result = context.run(without_stop_iteration, fn, *args, **kwargs)
            except BaseException as exc:
                end = functools.partial(self._ended, future, None, exc)
            else:
                end = functools.partial(self._ended, future, result, None)
            with contextlib.suppress(RuntimeError):  # the loop is closed: shut down
                loop.call_soon_threadsafe(end)

        submitted = self._lane._pool.submit(work)

        def never_ran(done: concurrent.futures.Future[None]) -> None:
            if done.cancelled():  # the lane shut down before a thread took it
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._never_ran, future)

        submitted.add_done_callback(never_ran)
        return future

    def _never_ran(self, future: asyncio.Future[Any]) -> None:
        future.cancel()
        self._returned()

    def _ended(
        self, future: asyncio.Future[T], result: T | None, error: BaseException | None
    ) -> None:
        if not future.done():  # a caller that stopped waiting cancelled it
            if error is None:
                future.set_result(result)  # type: ignore[arg-type]
            else:
                future.set_exception(error)
        self._returned()

    def done(self) -> None:
        if not self._done:
            self._done = True
            if self._in_flight == 0:
                self._lane._release(self)

    def _returned(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0 and self._idle is not None:
            # Set for its waiters, then forgotten: a later call in flight needs a new one.
            self._idle.set()
            self._idle = None
        if self._done and self._in_flight == 0:
            self._lane._release(self)
