"""The executor: claims runs from the store and executes them on this node.

A run's path here, each step one method: :meth:`Executor.launch` (a run created claimed
by this node) or :meth:`Executor._claim_loop` (runs claimed from the store) →
:meth:`Executor._start` (context, slot) → :meth:`Executor._execute`: the attempt
(:class:`~schedkit.engine.attempt.AttemptRunner`) then its end
(:class:`~schedkit.engine.finish.Finisher`). Heartbeats keep claimed runs alive
(invariant 4); a cancel requested on any node arrives with the heartbeat answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from schedkit.clock import Clock
from schedkit.config import SchedkitConfig
from schedkit.engine.attempt import AttemptRunner, Outcome
from schedkit.engine.finish import Finisher
from schedkit.engine.flows import Flows
from schedkit.engine.hooks import context_of
from schedkit.engine.isolation import needs_thread
from schedkit.engine.progress import RunFeed
from schedkit.engine.retries import Backoff, error_info
from schedkit.engine.slots import Grant, Slots
from schedkit.engine.threads import ThreadLane
from schedkit.errors import StoreError
from schedkit.events import EventBus, EventKind, RunEvent
from schedkit.logcapture import RunLogBuffer
from schedkit.models import JSON, Run, RunStatus
from schedkit.registry import TaskRegistry
from schedkit.store.base import Store
from schedkit.task import BaseTask, TaskContext

logger = logging.getLogger(__name__)

#: Log line numbers of attempt n start at (n - 1) * this, so attempts never collide.
SEQ_PER_ATTEMPT = 1_000_000_000
#: Most runs claimed in one store call.
CLAIM_BATCH = 100

RunWrapper = Callable[[Run], contextlib.AbstractAsyncContextManager[Any]]


@dataclasses.dataclass(kw_only=True, slots=True)
class _Active:
    run: Run
    ctx: TaskContext
    #: What a cancel must stop: waiting for a thread, then the hooks.
    work: asyncio.Task[Any] | None = None


class Executor:
    """Executes runs claimed by (or fired on) this node."""

    def __init__(
        self,
        *,
        store: Store,
        registry: TaskRegistry,
        events: EventBus,
        clock: Clock,
        node_id: str,
        config: SchedkitConfig,
        logs: RunLogBuffer,
    ) -> None:
        self.store = store
        self.registry = registry
        self.events = events
        self.clock = clock
        self.node_id = node_id
        self.config = config
        self.logs = logs
        cfg = config.executor
        self.slots = Slots(cfg.max_concurrent_runs if cfg.enabled else 0)
        self.lane = ThreadLane(cfg.max_workers)
        self.attempts = AttemptRunner(self.lane)
        #: Workflow runs: advanced here when a step ends, and by the façade and the leader.
        self.flows = Flows(store=store, registry=registry, clock=clock, wake=self.wake)
        self.finisher = Finisher(
            store=store,
            registry=registry,
            events=events,
            clock=clock,
            node_id=node_id,
            flows=self.flows,
        )
        self.feed = RunFeed(
            store=store, events=events, clock=clock, logs=logs, record=self._record_progress
        )
        #: Context managers entered around every attempt (tracing spans and the like);
        #: each is called with the run and must not raise out of its own errors.
        self.run_wrappers: list[RunWrapper] = []
        self._active: dict[str, _Active] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        # Whether claimable runs may be waiting. A claim is a write transaction, so the
        # claim loop runs one only on this hint or at each poll, not for every run end.
        self._maybe_pending = True
        # Runs executing here that a queued run waits for (queue_one): their end makes
        # the queued run claimable.
        self._blockers: set[str] = set()
        self._loops: list[asyncio.Task[None]] = []

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self.slots.capacity:
            self._loops.append(asyncio.create_task(self._claim_loop(), name="schedkit-claim"))
        self._loops.append(asyncio.create_task(self._heartbeat_loop(), name="schedkit-heartbeat"))
        self._loops.append(asyncio.create_task(self.feed.loop(), name="schedkit-flush"))

    async def stop(self, grace: float) -> None:
        """Stop claiming, give running runs ``grace`` seconds, then cancel the rest."""
        self.slots.close()
        self._wake.set()
        if self._tasks:
            _, still = await asyncio.wait(set(self._tasks), timeout=grace)
            for run_id in list(self._active):
                self.cancel_local(run_id, "service shut down before the run finished")
            if still:
                await asyncio.wait(still, timeout=max(5.0, grace))
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        with contextlib.suppress(StoreError):
            await self.feed.flush()
        self.lane.shutdown()

    # -- what the scheduler and the façade ask ---------------------------------------------

    @property
    def running_ids(self) -> list[str]:
        return list(self._active)

    def reserve(self, wanted: int) -> Grant:
        """Slots for runs about to be created already claimed by this node; launch them
        with :meth:`launch` (what is not launched is given back when the grant closes)."""
        return self.slots.reserve(wanted)

    def launch(self, grant: Grant, runs: Iterable[Run]) -> None:
        """Execute runs created claimed by this node, each on a slot of ``grant``."""
        for run in runs:
            grant.launch()
            self._start(run)

    def wake(self) -> None:
        """Claimable runs may be waiting (created, requeued or released): claim now."""
        self._maybe_pending = True
        self._wake.set()

    def wake_at(self, when: datetime) -> None:
        """Claim again when a run's ``not_before`` (e.g. a retry's) arrives."""
        delay = max(0.0, (when - self.clock.now()).total_seconds())
        asyncio.get_running_loop().call_later(delay, self.wake)

    def note_blocker(self, run_id: str) -> None:
        """A queued run waits for ``run_id``: wake the claim loop when it ends here (a
        blocker executing elsewhere is left to the poll)."""
        if run_id in self._active:
            self._blockers.add(run_id)

    def cancel_local(self, run_id: str, reason: str) -> bool:
        """Stop a run executing here: async work is cancelled at once, sync work is asked
        to stop through ``ctx.cancelled`` (a thread cannot be interrupted)."""
        active = self._active.get(run_id)
        if active is None:
            return False
        if not active.ctx.cancelled:  # the first reason given is the one recorded
            active.ctx.cancel(reason)
        if active.work is not None:
            active.work.cancel()
        return True

    # -- loops ----------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        backoff = Backoff()
        poll_interval = self.config.executor.poll_interval
        loop = asyncio.get_running_loop()
        # While runs are executing, a slot freed by one finishing run does not start a
        # claim of its own: claims wait until a tenth of the slots are free (or the poll
        # interval passes), so a busy node claims in batches, one transaction each. The
        # poll (runs of other nodes, retries, runs released by other nodes) keeps its
        # own clock: the run ends that wake this loop must not keep postponing it.
        batch = max(1, self.slots.capacity // 10)
        poll_at = loop.time()
        # Checked, not only cancelled: Python 3.11's wait_for can swallow a cancel that
        # arrives as its wait ends (stop() wakes this loop, then cancels it).
        while not self.slots.closed:
            free = self.slots.free
            wanted = min(free, CLAIM_BATCH)
            polling = loop.time() >= poll_at
            if (
                free
                and (self._maybe_pending or polling)
                and (free >= batch or polling or not self._active)
            ):
                self._maybe_pending = False
                if polling:
                    poll_at = loop.time() + poll_interval
                try:
                    claimed = await self.store.claim_runs(
                        self.node_id, self.clock.now(), wanted, self._claimable_tasks()
                    )
                    backoff.reset()
                except StoreError as exc:
                    self._maybe_pending = True
                    await backoff.wait(f"claiming runs failed: {exc}")
                    continue
                for run in claimed:
                    self.slots.occupy(from_reserved=False)
                    self._start(run)
                if len(claimed) == wanted:
                    # A full claim: more may be waiting.
                    self._maybe_pending = True
                    if len(claimed) == free:
                        continue
            self._wake.clear()
            # With the poll overdue, no slot is free: the next run end wakes this loop.
            wait = poll_at - loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait if wait > 0 else poll_interval)

    def _claimable_tasks(self) -> Sequence[str]:
        """The tasks this node claims runs of: the configured ones (default: all it has
        registered), without sync tasks while every thread is busy (they would only wait
        for one, holding a slot)."""
        names = self.config.executor.tasks
        tasks = [t for t in self.registry if names is None or t.task_name in names]
        if self.lane.free <= 0:
            tasks = [t for t in tasks if not needs_thread(t)]
        return [t.task_name for t in tasks]

    async def _heartbeat_loop(self) -> None:
        interval = self.config.scheduler.heartbeat_interval
        while True:
            await asyncio.sleep(interval)
            ids = list(self._active)
            if not ids:
                continue
            try:
                cancel = await self.store.heartbeat_runs(self.node_id, ids, self.clock.now())
            except StoreError as exc:
                logger.warning("run heartbeat failed (will retry): %s", exc)
                continue
            for run_id in cancel:
                self.cancel_local(run_id, "cancel requested on another node")

    # -- one run --------------------------------------------------------------------------

    def _start(self, run: Run) -> None:
        """Execute a run that holds a slot here."""
        ctx = context_of(run, on_progress=functools.partial(self.feed.progress, run.id))
        self._active[run.id] = _Active(run=run, ctx=ctx)
        task = asyncio.create_task(self._execute(run, ctx), name=f"schedkit-run-{run.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, run: Run, ctx: TaskContext) -> None:
        started = self.clock.now()
        self.logs.start_run(run.id, (run.attempt - 1) * SEQ_PER_ATTEMPT)
        self.events.publish(RunEvent(kind=EventKind.STARTED, run=run))
        task = self.registry.get_task(run.task_name)
        interrupted = False
        try:
            outcome = await self._attempt(task, run, ctx)
        except asyncio.CancelledError:
            # This task itself was cancelled (the loop is shutting down): the run's end
            # is still written, then the cancellation goes on.
            interrupted = True
            outcome = Outcome(status=RunStatus.CANCELLED, reason="the node shut down")
        finally:
            self.logs.end_run(run.id)
        self.slots.vacate()
        self._wake.set()  # its slot is free
        try:
            await asyncio.shield(self._conclude(task, run, outcome, started))
        finally:
            self._active.pop(run.id, None)
            if run.id in self._blockers:
                self._blockers.discard(run.id)
                self._maybe_pending = True
            self._wake.set()
        if interrupted:
            raise asyncio.CancelledError

    async def _attempt(self, task: BaseTask | None, run: Run, ctx: TaskContext) -> Outcome:
        if task is None:
            return Outcome(
                status=RunStatus.FAILED,
                error={
                    "type": "TaskNotFoundError",
                    "message": f"unknown task {run.task_name!r} on node {self.node_id}",
                },
            )
        ctx.config.update(task.execution_context)

        def on_work(work: asyncio.Task[Any]) -> None:
            self._active[run.id].work = work

        try:
            async with contextlib.AsyncExitStack() as stack:
                for wrapper in self.run_wrappers:
                    await stack.enter_async_context(wrapper(run))
                return await self.attempts.run(task, run, ctx, on_work)
        except Exception as exc:  # a bug of ours must still end the run, never leave it running
            logger.exception("internal error executing run %s", run.id)
            return Outcome(status=RunStatus.FAILED, error=error_info(exc))

    async def _conclude(
        self, task: BaseTask | None, run: Run, outcome: Outcome, started: datetime
    ) -> None:
        await self.feed.flush_quietly()
        active = self._active.get(run.id)
        if active is not None:  # the events after this one carry the last progress
            run = dataclasses.replace(run, progress=active.run.progress)
        done = await self.finisher.conclude(task, run, outcome, started)
        if done.retry_at is not None and done.applied:
            self.wake_at(done.retry_at)
        if done.dependents:
            self.wake()

    def _record_progress(self, run_id: str, progress: JSON) -> Run | None:
        active = self._active.get(run_id)
        if active is None:
            return None
        active.run = dataclasses.replace(active.run, progress=progress)
        return active.run
