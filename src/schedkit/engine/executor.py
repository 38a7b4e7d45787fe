"""The executor: claims runs from the store and executes them on this node.

A run's path here, each step one method: :meth:`Executor.launch` (a run created claimed
by this node) or :class:`~schedkit.engine.claims.ClaimLoop` (runs claimed from the store) →
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
from schedkit.engine.active import Active, current_task, say_stopped
from schedkit.engine.attempt import AttemptRunner, Outcome, cancelled
from schedkit.engine.claims import ClaimLoop
from schedkit.engine.finish import Finisher
from schedkit.engine.flows import Flows
from schedkit.engine.handback import CodeHold
from schedkit.engine.handoff import HandOff
from schedkit.engine.health import failing_of
from schedkit.engine.heartbeats import RunHeartbeats
from schedkit.engine.hooks import context_of
from schedkit.engine.progress import RunFeed
from schedkit.engine.reaper import NODE_RUNS
from schedkit.engine.retries import error_info
from schedkit.engine.slots import Grant, Slots
from schedkit.engine.threads import ThreadLane
from schedkit.engine.work import ABANDON_AFTER, Work
from schedkit.errors import NotRunningError, StoreError
from schedkit.events import EventBus, EventKind, RunEvent
from schedkit.failing import Failing
from schedkit.logcapture import RunLogBuffer
from schedkit.models import JSON, Run, RunStatus
from schedkit.placement import LOCAL_EXECUTOR
from schedkit.registry import TaskRegistry
from schedkit.stopping import cancel_and_wait, stop_time_left, stop_write
from schedkit.store.base import Store
from schedkit.task import BaseTask, TaskContext
from schedkit.waiting import listed_tasks

logger = logging.getLogger(__name__)

#: Log line numbers of attempt n start at (n - 1) * this, so attempts never collide.
SEQ_PER_ATTEMPT = 1_000_000_000
#: Longest wait for a handed-off run that arrived before its time by this node's clock.
MAX_CLOCK_SKEW = 10.0
#: Seconds a stop gives stopped attempts to write their end, beyond ABANDON_AFTER.
END_WRITE_WAIT = 5.0
#: How often a stop looks whether only runs held for their code are left.
STOP_POLL = 0.1
#: Seconds a stop waits for threads whose run ended to return before it warns.
THREAD_SETTLE = 1.0

RunWrapper = Callable[[Run], contextlib.AbstractAsyncContextManager[Any]]


class Executor(RunHeartbeats):
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
        may_hand_off: Callable[[], bool] = lambda: True,
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
        # A freed thread may let runs of sync tasks be claimed (see ClaimLoop).
        self.lane = ThreadLane(cfg.max_workers, on_free=self._thread_freed)
        self.claims = ClaimLoop(
            store=store,
            registry=registry,
            clock=clock,
            node_id=node_id,
            config=config,
            slots=self.slots,
            lane=self.lane,
            start=self._start_claimed,
            busy=lambda: bool(self._active),
        )
        self.attempts = AttemptRunner(self.lane)
        #: Workflow runs: advanced here when a step ends, and by the façade and the leader.
        self.flows = Flows(
            store=store, registry=registry, clock=clock, wake=self.wake, created=self.created
        )
        self.finisher = Finisher(
            store=store,
            registry=registry,
            events=events,
            clock=clock,
            node_id=node_id,
            created=self.created,
            flows=self.flows,
            stopping=lambda: self.slots.closed,
        )
        self.feed = RunFeed(
            store=store, events=events, clock=clock, logs=logs, record=self._record_progress
        )
        self.handoff = HandOff(
            store=store,
            registry=registry,
            clock=clock,
            poll_interval=cfg.poll_interval,
            resend_after=cfg.resend_after,
            may_send=may_hand_off,
        )
        #: Context managers entered around every attempt (tracing spans and the like);
        #: each is called with the run and must not raise out of its own errors.
        self.run_wrappers: list[RunWrapper] = []
        self._active: dict[str, Active] = {}
        self._tasks: set[asyncio.Task[Run]] = set()
        # Runs executing here that a queued run waits for (queue_one): their end makes
        # the queued run claimable.
        self._blockers: set[str] = set()
        self._loops: list[asyncio.Task[None]] = []
        #: Tells the other nodes that runs became claimable (set when a notify channel
        #: connects the nodes; without one they find the runs at their next poll).
        self.announce: Callable[[], None] | None = None
        #: Runs stopped by a drain: their attempt goes back to pending, not cancelled.
        self._handed_back: set[str] = set()
        #: Handed-back runs whose code ignored the stop, held here until it returns.
        self.code_hold = CodeHold(config.scheduler.lost_after)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        # A node started again after stop(): its slots were closed, its threads shut, and
        # its asyncio objects may belong to the event loop it ran in before.
        self.slots.open()
        self.lane.reopen()
        self._loops = []
        self.claims.reset()
        self.code_hold.reset()
        self.handoff.reset()
        if self.slots.capacity:
            self._start_claiming()
        self._loops.append(asyncio.create_task(self._heartbeat_loop(), name="schedkit-heartbeat"))
        self._loops.append(asyncio.create_task(self.feed.loop(), name="schedkit-flush"))
        self._loops.append(asyncio.create_task(self.handoff.loop(), name="schedkit-handoff"))

    async def stop(self, grace: float) -> None:
        """Stop claiming, give running runs ``grace`` seconds, then cancel the rest."""
        await self.drain(grace, hand_back=False)
        await cancel_and_wait(*self._loops)
        with contextlib.suppress(StoreError):
            await stop_write("the runs' last log lines and progress", self.feed.flush)
        await self.lane.close(settle=THREAD_SETTLE)

    async def drain(self, grace: float, *, hand_back: bool = True) -> None:
        """Stop claiming and give running runs ``grace`` seconds to finish; then stop the
        rest and hand them back to ``pending`` (``hand_back``; those whose code ignores it
        are held, see CodeHold) or record them cancelled (the node stops: held runs are
        released). Returns when no run executes here but held ones."""
        self.slots.close()
        self.claims.poke()
        await self.claims.answered()
        if not self._tasks:
            return
        # A stop after a stopping drain (a worker's SIGTERM) waits no second grace.
        _, still = await asyncio.wait(set(self._tasks), timeout=stop_time_left(grace))
        why = "the node drained" if hand_back else "service shut down"
        if not hand_back:
            say_stopped(self._active.values(), grace, self.clock.now())
        for run_id in list(self._active):
            if hand_back:
                self._handed_back.add(run_id)
            self.cancel_local(run_id, f"{why} before the run finished")
        # An attempt ends ABANDON_AFTER after its cancel at the latest, then writes its
        # end: waiting only as long raced that write (a run left running on MongoDB).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + stop_time_left(ABANDON_AFTER + END_WRITE_WAIT)
        # A drain also gives held runs' code that long; a stop not (held since its drain).
        held: set[str] = set() if hand_back else self.code_hold.runs
        while len(still) > len(held) and loop.time() < deadline:
            _, still = await asyncio.wait(still, timeout=STOP_POLL)
        if still and self.code_hold.runs and not hand_back:
            self.code_hold.leave()
            await asyncio.wait(still, timeout=stop_time_left(END_WRITE_WAIT))

    def undrain(self) -> None:
        """Take runs again after a drain (undone: the drain's wait was cancelled). The
        claim loop ends once it sees the slots closed: started again if it has."""
        self.slots.open()
        self.claims.wake()
        if self.slots.capacity:
            self._start_claiming()

    def _start_claiming(self) -> None:
        if (claiming := self.claims.start()) is not None:
            self._loops.append(claiming)

    # -- what the scheduler and the façade ask ---------------------------------------------

    @property
    def failing(self) -> list[Failing]:
        """Why no run is claimed here (the claim loop's passes fail); empty while they
        work, or while the loop does not run (a drained node claims nothing)."""
        return failing_of(self.claims.health)

    @property
    def running_ids(self) -> list[str]:
        return list(self._active)

    def node_info(self) -> dict[str, object]:
        """What the node's row says of its executing: the runs it holds (the reaper
        spares them), the labels it offers, its capacity and the tasks it claims runs of
        (why a run waits that no live node takes: :mod:`schedkit.waiting`), if it claims
        any (a node without the executor role claims none)."""
        claims = self.config.executor.enabled
        return {
            NODE_RUNS: self.running_ids,
            "labels": self.config.executor.labels,
            "capacity": self.slots.capacity,
            **(listed_tasks(t.task_name for t in self.claims.tasks()) if claims else {}),
        }

    def holds(self, run_id: str) -> bool:
        """Whether the run executes here or its end is still being written and announced."""
        return run_id in self._active

    def executing(self) -> list[tuple[str, str]]:
        """(run id, task name) of each run executing here. Read by the watchdog thread
        while the loop is held: a RuntimeError means the loop changed them meanwhile."""
        return [(run_id, active.run.task_name) for run_id, active in list(self._active.items())]

    @property
    def slots_to_wait_in(self) -> int | None:
        """Free slots that fires taken ahead of their time may wait in (see
        :attr:`Slots.to_wait_in`)."""
        return self.slots.to_wait_in

    def reserve(self, wanted: int) -> Grant:
        """Slots for runs about to be created already claimed by this node; launch them
        with :meth:`launch` (what is not launched is given back when the grant closes)."""
        return self.slots.reserve(wanted)

    def starts_here(self, executor: str, labels: Iterable[str]) -> bool:
        """Whether a run for ``executor`` requiring ``labels`` created on this node may
        start here at once (else it is left pending for a node or executor that takes
        it): runs handed to another executor are never created already claimed."""
        return executor == LOCAL_EXECUTOR and self.offers(labels)

    def offers(self, labels: Iterable[str]) -> bool:
        """Whether this node offers every label of ``labels`` (a run's required ones: a
        run created here is taken at once only then; otherwise a node that offers them
        claims it)."""
        return set(labels) <= set(self.config.executor.labels)

    def launch(self, grant: Grant, runs: Iterable[Run]) -> None:
        """Execute runs created claimed by this node, each on a slot of ``grant``."""
        for run in runs:
            grant.launch()
            self._start(run)

    def created(self, runs: Sequence[Run]) -> None:
        """The engine stored new pending runs (a dependent task's, a workflow's steps):
        announce each, as every run's birth is, and have them claimed now, here or by
        another node, rather than at the next poll."""
        for run in runs:
            self.events.publish(RunEvent(kind=EventKind.CREATED, run=run))
        if runs:
            self.wake()

    def wake(self) -> None:
        """Claimable runs may be waiting (created, requeued or released): claim now,
        and tell the other nodes (:attr:`announce`)."""
        self.wake_here()
        if self.announce is not None:
            self.announce()

    def wake_here(self) -> None:
        """Claim now (another node said claimable runs may be waiting)."""
        self.claims.wake()
        self.handoff.wake()

    def store_answered(self) -> None:
        """Another store call of this node succeeded (a node or run heartbeat): a claim
        loop backing off after store errors tries again now, not after the rest of its
        backoff (up to 30 s). Otherwise nothing: a wake-up per operation would cost CPU."""
        self.claims.store_answered()

    async def execute_one(self, run_id: str, task_name: str) -> Run | None:
        """The receiving end of a hand-off: claim the run ``run_id`` (of ``task_name``)
        and execute it here, whatever its executor; the run as the attempt left
        it (pending again for a retry), or None when it was not claimable (already
        claimed: a message delivered twice; or cancelled). The claim is the fence
        (invariant 3); concurrency is the caller's (a Celery worker's pool), so no slot
        is waited for."""
        if self.slots.closed:
            raise NotRunningError("this node is stopping")
        claimed = await self._claim_named(run_id, task_name)
        if not claimed:
            return None
        self.slots.occupy(from_reserved=False)
        # Shielded: the run's end is written even if the caller stops waiting.
        return await asyncio.shield(self._start(claimed[0]))

    async def _claim_named(self, run_id: str, task_name: str) -> list[Run]:
        claimed = await self.store.claim_runs(
            self.node_id, self.clock.now(), 1, [task_name], run_ids=[run_id]
        )
        if claimed:
            return claimed
        # Sent when due by the sender's clock, which may be ahead of this one: a run
        # due within MAX_CLOCK_SKEW is waited for, not dropped (it would wait for the
        # resend otherwise).
        run = await self.store.get_run(run_id)
        if run is None or run.status is not RunStatus.PENDING or run.blocked_by is not None:
            return []
        early = (run.not_before - self.clock.now()).total_seconds()
        if not 0 < early <= MAX_CLOCK_SKEW:
            return []
        await asyncio.sleep(early)
        return await self.store.claim_runs(
            self.node_id, self.clock.now(), 1, [task_name], run_ids=[run_id]
        )

    def wake_at(self, when: datetime) -> None:
        """Claim again, here and on the other nodes, when a run's ``not_before`` (a
        retry's, a fire's taken ahead) arrives."""
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
        if (active := self._active.get(run_id)) is None:
            return False
        if not active.ctx.cancelled:  # the first reason given is the one recorded
            active.ctx.cancel(reason)
        if active.work is not None:
            active.work.cancel()
        return True

    # -- claimed runs ----------------------------------------------------------------------

    def _start_claimed(self, claimed: Sequence[Run]) -> None:
        for run in claimed:
            self.slots.occupy(from_reserved=False)
            self._start(run)
            if self.slots.closed:
                # Claimed while a drain began (a slow claim on FerretDB answered after the
                # drain had handed back the runs it saw): handed back unstarted, where the
                # stop that follows would have recorded it cancelled.
                self._handed_back.add(run.id)
                self.cancel_local(run.id, "the node drained before the run started")

    def _thread_freed(self) -> None:
        self.claims.poke()

    # -- one run --------------------------------------------------------------------------

    def _start(self, run: Run) -> asyncio.Task[Run]:
        """Execute a run that holds a slot here; the task returns the run as it ended."""
        ctx = context_of(run, on_progress=functools.partial(self.feed.progress, run.id))
        before = self._active.get(run.id)
        if before is not None:
            # An older attempt of this run still runs here (judged lost while this node
            # was paused or cut off, and this node claimed its retry): it stops first,
            # or both attempts ran at once, the older one unseen by the store.
            self._taken(run.id)
        task = asyncio.create_task(self._execute(run, ctx, before), name=f"schedkit-run-{run.id}")
        if before is None:
            self._active[run.id] = Active(run=run, ctx=ctx, task=task)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _execute(self, run: Run, ctx: TaskContext, before: Active | None = None) -> Run:
        if before is not None:  # an older attempt of the run, stopping: see _start
            await asyncio.wait([before.task])
            self._active[run.id] = Active(run=run, ctx=ctx, task=current_task())
        # A fire taken ahead of its time (scheduler.fire_ahead) starts at that time (see
        # _attempt): its duration counts from then, as its stored started_at does.
        started = max(self.clock.now(), run.not_before)
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
            self._active[run.id].ending = True
        self.slots.vacate()
        self.claims.nudge()
        conclude = self._conclude(task, run, outcome, started)
        try:
            # Interrupted, the end is written by a task of its own, which the cancel
            # (all tasks at a loop's shutdown) did not reach. Otherwise inline: a task
            # per run end costs a tenth of the run's CPU.
            ended = await (asyncio.shield(conclude) if interrupted else conclude)
        finally:
            # Forgotten only now: a drain may hand back a launcher waiting in its end.
            self._handed_back.discard(run.id)
            self._active.pop(run.id, None)
            if run.id in self._blockers:
                self._blockers.discard(run.id)
                self.claims.may_be_pending()
            self.claims.nudge()
        if interrupted:
            raise asyncio.CancelledError
        return ended

    async def _attempt(self, task: BaseTask | None, run: Run, ctx: TaskContext) -> Outcome:
        if task is None:
            return Outcome(
                status=RunStatus.FAILED,
                error={
                    "type": "TaskNotFoundError",
                    "message": f"unknown task {run.task_name!r} on node {self.node_id}",
                },
            )
        early = (run.not_before - self.clock.now()).total_seconds()
        if early > 0 and not ctx.cancelled:
            # Bounded by the setting, whatever a test clock says.
            await asyncio.sleep(min(early, self.config.scheduler.fire_ahead))
        if ctx.cancelled:  # before its attempt began, or while it waited for its time
            return cancelled(ctx)
        ctx.config.update(task.execution_context)

        def on_work(work: Work) -> None:
            self._active[run.id].work = work

        try:
            if not self.run_wrappers:
                # An exit stack per run costs more than the attempt of a no-op task.
                return await self.attempts.run(task, run, ctx, on_work)
            async with contextlib.AsyncExitStack() as stack:
                for wrapper in self.run_wrappers:
                    await stack.enter_async_context(wrapper(run))
                return await self.attempts.run(task, run, ctx, on_work)
        except Exception as exc:  # a bug of ours must still end the run, never leave it running
            logger.exception("internal error executing run %s", run.id)
            return Outcome(status=RunStatus.FAILED, error=error_info(exc))

    async def _conclude(
        self, task: BaseTask | None, run: Run, outcome: Outcome, started: datetime
    ) -> Run:
        await self.feed.flush_quietly()
        active = self._active.get(run.id)
        # The events after this one carry the last progress (a copy only when it moved:
        # this is once per run on the hot path).
        if active is not None and active.run.progress is not run.progress:
            run = dataclasses.replace(run, progress=active.run.progress)
        hand_back = run.id in self._handed_back and outcome.status is RunStatus.CANCELLED
        work = active.work if active is not None else None
        claimable_in = 0.0
        if hand_back and work is not None and work.still_running:
            claimable_in = await self.code_hold.hold(run, work)
        done = await self.finisher.conclude(
            task, run, outcome, started, hand_back=hand_back, claimable_in=claimable_in
        )
        if done.retry_at is not None and done.applied:
            self.wake_at(done.retry_at)
        if done.dependents:
            self.wake()
        return done.run

    def _record_progress(self, run_id: str, progress: JSON) -> Run | None:
        if (active := self._active.get(run_id)) is None:
            return None
        active.run = dataclasses.replace(active.run, progress=progress)
        return active.run
