"""A synchronous face for programs without an event loop (Flask, scripts).

One implementation: every call runs the async :class:`~schedkit.service.Scheduler`
method on an event loop of its own, in a daemon thread (:class:`_Loop`). Each method
below is made from the async one it runs, so it keeps that method's signature, types and
docstring (a test checks that every public coroutine method of Scheduler is here).
"""

from __future__ import annotations

import asyncio
import concurrent.futures.thread
import functools
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar
from zoneinfo import ZoneInfo

from schedkit.clock import Clock
from schedkit.config import SchedkitConfig
from schedkit.errors import NotRunningError
from schedkit.extension import Extension
from schedkit.registry import TaskRegistry
from schedkit.service import ConfigInput, Scheduler
from schedkit.stopping import end_default_executor, end_leftovers
from schedkit.store import Store
from schedkit.task import BaseTask
from schedkit.workflows import Workflow

P = ParamSpec("P")
T = TypeVar("T")

logger = logging.getLogger(__name__)

#: Seconds between the checks of a blocking call's waiting thread for a signal: a wait
#: without a timeout is not interrupted by Ctrl-C on Windows, nor on Linux when another
#: thread took the signal (the main thread runs Python's handler only once it wakes).
_POLL = 0.2

#: When the tasks a stop leaves on the loop are left, in the warning that names them.
_LEFT = "after the stop"


class _Loop:
    """An event loop running in a daemon thread of its own.

    Not anyio's blocking portal, used before: its thread ends only once every task of its
    loop has ended, and task code that catches its cancellation (abandoned by its run
    after ``engine.work.ABANDON_AFTER``) held ``stop()``, the end of a ``with`` block and
    a program's Ctrl-C as long as it ran, for ever for some. :meth:`end` leaves such
    tasks running behind it, with a warning, as the CLI's loop does at exit."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, name="schedkit-sync-loop", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(end_default_executor(_LEFT))
        finally:
            # Closed once nothing runs on it any more (end()): no pending task is destroyed.
            self.loop.close()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return _wait(coro, self.loop)

    def end(self) -> None:
        """Cancel the loop's tasks and end it: once they have all ended, its thread is
        joined; tasks still going ``stopping.LEFTOVER_WAIT`` seconds after their cancel
        are named in a warning and left running (this daemon thread ends with them, or
        with the program)."""
        going = self.call(end_leftovers(_LEFT))
        self.loop.call_soon_threadsafe(_stop_when_ended, self.loop, going)
        if not going:
            while self.thread.is_alive():
                self.thread.join(_POLL)  # with a timeout: interruptible (see _POLL)


def _stop_when_ended(loop: asyncio.AbstractEventLoop, tasks: set[asyncio.Task[Any]]) -> None:
    """Stop ``loop`` once every one of ``tasks`` has ended."""
    going = {task for task in tasks if not task.done()}

    def ended(task: asyncio.Task[Any]) -> None:
        going.discard(task)
        if not going:
            loop.stop()

    for task in going:
        task.add_done_callback(ended)
    if not going:
        loop.stop()


async def _made(make: Callable[[], T]) -> T:
    """``make()`` run on the loop: the Scheduler makes asyncio objects."""
    return make()


@dataclass(frozen=True)
class _Node:
    scheduler: Scheduler
    runner: _Loop
    #: The process it runs in: a forked child has a copy of it but none of its threads.
    pid: int = field(default_factory=os.getpid)

    def check_own(self) -> None:
        """NotRunningError in a forked child: a call there waited for ever on the
        parent's event loop thread, which the child does not have (its copy of the
        loop still says it runs)."""
        if self.pid != os.getpid():
            raise NotRunningError.forked("SyncScheduler", self.pid)


def _wait(coro: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop) -> T:
    """Run ``coro`` on ``loop`` and wait for its result; an interrupt (Ctrl-C) cancels
    it and goes on (left running, the call would go on unseen)."""
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        while not future.done():
            concurrent.futures.wait((future,), timeout=_POLL)
            if not (future.done() or loop.is_running()):
                # Its thread is gone (the loop ended under it): the call would wait
                # for ever. (A forked child's copy of the loop says it runs: _Node.)
                raise NotRunningError("the SyncScheduler's event loop has ended: start() again")
    except BaseException:
        future.cancel()
        raise
    return future.result()


def _blocking(
    method: Callable[Concatenate[Scheduler, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[SyncScheduler, P], T]:
    """The blocking twin of an async Scheduler method; ``inspect.signature`` and
    ``help()`` show the method's (through ``__wrapped__``)."""

    @functools.wraps(method)
    def blocking(self: SyncScheduler, /, *args: P.args, **kwargs: P.kwargs) -> T:
        node = self._running()
        self._warn_in_loop()
        return node.runner.call(method(node.scheduler, *args, **kwargs))

    return blocking


class SyncScheduler:
    """``with SyncScheduler(config) as s: s.run_now("task", wait=True)``.

    Takes the same arguments as :class:`Scheduler`; its coroutine methods are blocking
    methods here, with the same arguments. Ctrl-C during a blocking call raises
    KeyboardInterrupt at once (the call is cancelled; a run it started goes on); the
    stop then lets running runs finish for ``scheduler.shutdown_grace``, and a Ctrl-C
    during that stop cuts it short. A node still started when the program ends is
    stopped then, with a warning. Async task code that ignores its cancel does not hold
    a stop: it is left running after it, with a warning naming its run.
    """

    def __init__(
        self,
        config: ConfigInput = None,
        *,
        registry: TaskRegistry | None = None,
        store: Store | None = None,
        clock: Clock | None = None,
        tasks: Iterable[type[BaseTask] | BaseTask] = (),
        extensions: Iterable[Extension] = (),
        workflows: Iterable[Workflow] = (),
    ) -> None:
        # Tuples: a start after a stop makes a new Scheduler from the same arguments.
        self._make = functools.partial(
            Scheduler,
            config,
            registry=registry,
            store=store,
            clock=clock,
            tasks=tuple(tasks),
            extensions=tuple(extensions),
            workflows=tuple(workflows),
        )
        self._node: _Node | None = None
        self._warned_in_loop = False
        # start() and stop() one at a time: two threads starting at once made two nodes,
        # and the stop at exit waits for a stop under way in another thread.
        self._lock = threading.RLock()

    def start(self) -> None:
        """Start the node (:meth:`Scheduler.start`); nothing if it is started already.
        A failure (configuration, store) closes the event loop thread again and raises
        the error; ``start()`` may then be called again. In a child forked after the
        start it raises NotRunningError: the node is the parent's."""
        if (node := self._node) is not None:
            node.check_own()  # before the lock, which a thread of the parent may hold
        with self._lock:
            if self._node is not None:
                return
            self._warn_in_loop()
            runner = _Loop()
            try:
                scheduler = runner.call(_made(self._make))
                runner.call(scheduler.start())
            except BaseException:
                runner.end()
                raise
            self._node = _Node(scheduler, runner)
            _started.add(self)

    def stop(self) -> None:
        """Stop the node (:meth:`Scheduler.stop`: running runs get the shutdown grace)
        and its event loop thread; nothing if it is not started. Async code of a run that
        ignores its cancel is waited for 7 s after its cancel (its run abandons it after
        5 s, the loop 2 s later), then left running with a warning naming the run; the
        thread ends once it returns, or with the program. Interrupted (Ctrl-C), the stop
        is cancelled: the grace ends, runs still running are left for the leader to judge
        lost, and the KeyboardInterrupt goes on once the node's tasks are cancelled (2 s
        at most). In a child forked after the start, it only forgets the node, which goes
        on in the parent: stopped here, it would unregister the parent's node and close
        connections the two share."""
        if (node := self._node) is not None and node.pid != os.getpid():
            self._node = None
            return
        with self._lock:
            node = self._node
            if node is None:
                return
            try:
                self._warn_in_loop()
                try:
                    node.runner.call(node.scheduler.stop())
                finally:
                    node.runner.end()
            finally:
                self._node = None
                _started.discard(self)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _running(self) -> _Node:
        if self._node is None:
            raise NotRunningError(
                "the SyncScheduler is not started: call start() or use 'with SyncScheduler(...)'"
            )
        self._node.check_own()
        return self._node

    def _warn_in_loop(self) -> None:
        """A warning (once) when called from a thread running an event loop: a notebook
        does, so it is no error, but the call blocks that loop until it returns."""
        if self._warned_in_loop:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._warned_in_loop = True
        logger.warning(
            "SyncScheduler called from a thread running an event loop: each call blocks "
            "that loop until it returns; in async code use schedkit.Scheduler "
            "('async with Scheduler(...)', 'await scheduler.run_now(...)')"
        )

    @property
    def scheduler(self) -> Scheduler:
        """The async scheduler behind this one (for its plain, non-async methods)."""
        return self._running().scheduler

    @property
    def config(self) -> SchedkitConfig:
        return self.scheduler.config

    @property
    def registry(self) -> TaskRegistry:
        return self.scheduler.registry

    @property
    def node_id(self) -> str:
        return self.scheduler.node_id

    @property
    def tz(self) -> ZoneInfo:
        return self.scheduler.tz

    @property
    def is_leader(self) -> bool:
        return self.scheduler.is_leader

    @property
    def store(self) -> Store:
        return self.scheduler.store

    def get_task(self, task_name: str) -> BaseTask:
        return self.scheduler.get_task(task_name)

    def list_tasks(
        self, category: str | None = None, tags: list[str] | None = None
    ) -> list[BaseTask]:
        return self.scheduler.list_tasks(category, tags)

    add_task = _blocking(Scheduler.add_task)
    add_schedules = _blocking(Scheduler.add_schedules)
    remove_task = _blocking(Scheduler.remove_task)
    delete_schedule = _blocking(Scheduler.delete_schedule)
    pause_task = _blocking(Scheduler.pause_task)
    resume_task = _blocking(Scheduler.resume_task)
    get_schedule = _blocking(Scheduler.get_schedule)
    list_schedules = _blocking(Scheduler.list_schedules)
    count_schedules = _blocking(Scheduler.count_schedules)
    pending_defaults = _blocking(Scheduler.pending_defaults)
    schedule_counts = _blocking(Scheduler.schedule_counts)
    next_schedules = _blocking(Scheduler.next_schedules)
    get_job_info = _blocking(Scheduler.get_job_info)
    allowed_fires = _blocking(Scheduler.allowed_fires)
    run_now = _blocking(Scheduler.run_now)
    execute_handed_off = _blocking(Scheduler.execute_handed_off)
    wait_for_run = _blocking(Scheduler.wait_for_run)
    cancel_run = _blocking(Scheduler.cancel_run)
    retry_run = _blocking(Scheduler.retry_run)
    backfill = _blocking(Scheduler.backfill)
    backfill_status = _blocking(Scheduler.backfill_status)
    cancel_backfill = _blocking(Scheduler.cancel_backfill)
    get_run = _blocking(Scheduler.get_run)
    list_runs = _blocking(Scheduler.list_runs)
    count_runs = _blocking(Scheduler.count_runs)
    last_finished_runs = _blocking(Scheduler.last_finished_runs)
    result_file = _blocking(Scheduler.result_file)
    get_logs = _blocking(Scheduler.get_logs)
    stats = _blocking(Scheduler.stats)
    runs_per_hour = _blocking(Scheduler.runs_per_hour)
    purge = _blocking(Scheduler.purge)
    purge_history = _blocking(Scheduler.purge_history)
    purge_plan = _blocking(Scheduler.purge_plan)
    purge_audit = _blocking(Scheduler.purge_audit)
    ping = _blocking(Scheduler.ping)
    list_nodes = _blocking(Scheduler.list_nodes)
    drain = _blocking(Scheduler.drain)
    wait_drained = _blocking(Scheduler.wait_drained)
    request_drain = _blocking(Scheduler.request_drain)
    undrain = _blocking(Scheduler.undrain)
    request_undrain = _blocking(Scheduler.request_undrain)
    waiting_reasons = _blocking(Scheduler.waiting_reasons)
    leader_lease = _blocking(Scheduler.leader_lease)
    outlived_nodes = _blocking(Scheduler.outlived_nodes)
    list_audit = _blocking(Scheduler.list_audit)
    count_audit = _blocking(Scheduler.count_audit)
    create_token = _blocking(Scheduler.create_token)
    list_tokens = _blocking(Scheduler.list_tokens)
    revoke_token = _blocking(Scheduler.revoke_token)
    verify_token = _blocking(Scheduler.verify_token)
    token_is_live = _blocking(Scheduler.token_is_live)
    get_state = _blocking(Scheduler.get_state)
    set_state = _blocking(Scheduler.set_state)


#: The SyncSchedulers started and not stopped, for the stop at the program's end.
_started: set[SyncScheduler] = set()


def _stop_forgotten() -> None:
    """Stop the nodes a program ended without stopping (a forgotten stop(), an error
    raised past it, Ctrl-C): their event loop would go on and the program not end."""
    for sync in list(_started):
        # Held by a stop under way in another thread: wait for it, the pools it needs
        # are still there.
        with sync._lock:
            node = sync._node
            if node is None:
                continue
            logger.warning(
                "SyncScheduler node %s is still started as the program ends: stopping it "
                "(running runs get scheduler.shutdown_grace, %g s); call stop() or use "
                "'with SyncScheduler(...)'",
                node.scheduler.node_id,
                node.scheduler.config.scheduler.shutdown_grace,
            )
            try:
                sync.stop()
            except Exception:
                logger.exception("stopping SyncScheduler node %s failed", node.scheduler.node_id)


# Not atexit: Python calls atexit functions only after it has shut the thread pools down
# and joined their threads (concurrent.futures registers that with threading), and a
# stop needs those pools (the store's readers, asyncio.to_thread). threading's exit hooks
# run last registered first: after the import of concurrent.futures.thread above, this
# one runs ahead of the pools' shutdown, and before non-daemon threads are joined.
threading._register_atexit(_stop_forgotten)  # type: ignore[attr-defined]


def _forked() -> None:
    """In a forked child, which has none of its parent's event loop threads: its nodes
    are not its own, to stop at its exit. Their loops' copies are left as they are, never
    closed: close() takes a loop's self-pipe out of its epoll instance, which the child
    shares with the parent, whose loop then no longer woke up for the calls of its own
    SyncScheduler (a copy is not closed when collected either: it says it runs)."""
    _started.clear()


os.register_at_fork(after_in_child=_forked)
