"""The executor's claim loop: it takes pending runs from the store for this node's free
slots, in batches, when woken (a run created, a slot freed, another node's word) or at
each poll, and hands them to the executor to start.

Its passes' outcome is kept in :attr:`ClaimLoop.health`: a node whose role may not update
the runs table had every claim refused while it answered ``/ready`` 200 (its store
answering the ping, its scheduler loop firing), and no run ever started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from schedkit.clock import Clock
from schedkit.config import SchedkitConfig
from schedkit.engine.health import LoopHealth
from schedkit.engine.isolation import needs_thread
from schedkit.engine.retries import Backoff
from schedkit.engine.slots import Slots
from schedkit.engine.threads import ThreadLane
from schedkit.errors import StoreError
from schedkit.models import Run
from schedkit.placement import LOCAL_EXECUTOR
from schedkit.registry import TaskRegistry
from schedkit.stopping import stop_time_left, wait_for
from schedkit.store.base import Store
from schedkit.task import BaseTask

logger = logging.getLogger("schedkit.engine.executor")

#: Most runs claimed in one store call.
CLAIM_BATCH = 100
#: Longest wait of a drain for the answer to a claim already sent.
CLAIM_ANSWER_WAIT = 10.0


class ClaimLoop:
    """Claims runs for the free slots of ``slots``; ``start`` executes what it claimed
    (each on a free slot), ``busy`` tells whether runs execute here."""

    def __init__(
        self,
        *,
        store: Store,
        registry: TaskRegistry,
        clock: Clock,
        node_id: str,
        config: SchedkitConfig,
        slots: Slots,
        lane: ThreadLane,
        start: Callable[[Sequence[Run]], None],
        busy: Callable[[], bool],
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.node_id = node_id
        self.config = config
        self.slots = slots
        self.lane = lane
        self._start = start
        self._busy = busy
        #: The wait after store errors; it ends early on a wake-up.
        self.backoff = Backoff()
        #: Whether claims work; ok while the loop does not run (a drained node claims
        #: nothing, and readiness says it drains).
        self.health = LoopHealth("claim loop", clock)
        self._backing_off = False
        self._wake = asyncio.Event()
        # Whether claimable runs may be waiting. A claim is a write transaction, so the
        # loop runs one only on this hint or at each poll, not for every run end.
        self._maybe_pending = True
        # When the loop polls next (event loop time); a run end wakes the loop only if it
        # is due or runs may be waiting (see nudge).
        self._poll_at = 0.0
        # Clear while a claim waits for the store's answer (see answered).
        self._no_claim_sent = asyncio.Event()
        self._no_claim_sent.set()
        # The claim waited for had no answer: not waited for again (a stop after a drain).
        self._unanswered = False
        self._task: asyncio.Task[None] | None = None

    def reset(self) -> None:
        """For a start of the node: its asyncio objects may belong to the event loop it
        ran in before."""
        self._wake = asyncio.Event()
        self._no_claim_sent = asyncio.Event()
        self._no_claim_sent.set()
        self._unanswered = False

    def start(self) -> asyncio.Task[None] | None:
        """Start the loop unless it runs (it ends by itself once the slots close); the
        new task, or None."""
        if self._task is not None and not self._task.done():
            return None
        self._task = asyncio.create_task(self._loop(), name="schedkit-claim")
        return self._task

    def wake(self) -> None:
        """Claimable runs may be waiting: claim now."""
        self._maybe_pending = True
        self._wake.set()

    def poke(self) -> None:
        """Look again now (a thread came free, a drain began), hint or not."""
        self._wake.set()

    def may_be_pending(self) -> None:
        """Runs may have become claimable (a run queued ones wait for ended here); the
        next :meth:`nudge` wakes the loop."""
        self._maybe_pending = True

    def nudge(self) -> None:
        """A slot came free: wake the loop if it would claim now (runs may be waiting,
        or its poll is due and waited for a slot). Otherwise its wake-up would only wait
        again: at 1,000 fires a second such wake-ups were about 5 % of the event loop's
        CPU (py-spy)."""
        if self._maybe_pending or asyncio.get_running_loop().time() >= self._poll_at:
            self._wake.set()

    def store_answered(self) -> None:
        """Another store call of this node succeeded: a loop backing off after store
        errors tries again now, not after the rest of its backoff (up to 30 s)."""
        if self._backing_off:
            self._wake.set()

    async def answered(self) -> None:
        """Wait for the answer to a claim already sent. Cut by the stop's cancel, it left
        runs the store had claimed for this node ``running`` and never started, until
        the reaper found them stale (and on the MongoDB store, a claim cut between its
        two writes holds its runs for ``recover_after`` first). Answered, the loop gives
        its runs to ``start`` (which hands them back unstarted, the slots being closed)
        before this returns: it does so before it next yields."""
        if self._unanswered and not self._no_claim_sent.is_set():
            return
        self._unanswered = False
        wait = stop_time_left(CLAIM_ANSWER_WAIT)
        try:
            await wait_for(self._no_claim_sent.wait(), wait)
        except TimeoutError:
            self._unanswered = True
            logger.warning(
                "a claim sent before the drain had no answer after %.0f s; "
                "runs it claimed are found by the reaper",
                wait,
            )

    async def _loop(self) -> None:
        backoff = self.backoff
        backoff.reset()
        self.health.ok()
        try:
            await self._claim_while_open(backoff)
        finally:
            self.health.ok()

    async def _claim_while_open(self, backoff: Backoff) -> None:
        poll_interval = self.config.executor.poll_interval
        loop = asyncio.get_running_loop()
        # While runs are executing, a slot freed by one finishing run does not start a
        # claim of its own: claims wait until a tenth of the slots are free (or the poll
        # interval passes), so a busy node claims in batches, one transaction each. The
        # poll (runs of other nodes, retries, runs released by other nodes) keeps its
        # own clock: the run ends that wake this loop must not keep postponing it.
        batch = max(1, self.slots.capacity // 10)
        self._poll_at = loop.time()
        # Checked, not only cancelled: stop() closes the slots and wakes this loop, which
        # then ends of itself.
        while not self.slots.closed:
            # Cleared before the claim, not after it: a wake-up that arrives while a
            # claim is in flight (a fire taken ahead coming due, a run created on
            # another node) makes the loop look again instead of waiting for the poll.
            self._wake.clear()
            free = self.slots.free
            wanted = min(free, CLAIM_BATCH)
            polling = loop.time() >= self._poll_at
            if (
                free
                and (self._maybe_pending or polling)
                and (free >= batch or polling or not self._busy())
            ):
                self._maybe_pending = False
                if polling:
                    self._poll_at = loop.time() + poll_interval
                tasks, left_out = self._claimable_tasks()
                try:
                    claimed = await self._claim(wanted, tasks)
                    backoff.reset()
                    self.health.ok()
                except StoreError as exc:
                    self.health.failed(exc)
                    self._maybe_pending = True
                    # Ended early by a wake-up (a run created, a NOTIFY, the store
                    # answering another call): runs created just after an outage
                    # waited out the backoff, up to 30 s, on a node that said ready.
                    self._backing_off = True
                    try:
                        await backoff.wait(f"claiming runs failed: {exc}", self._wake, error=exc)
                    finally:
                        self._backing_off = False
                    continue
                self._start(claimed)
                if len(claimed) == wanted:
                    # A full claim: more may be waiting.
                    self._maybe_pending = True
                    if len(claimed) == free:
                        continue
                elif left_out:
                    # Runs of sync tasks, left out while every thread was busy, may be
                    # waiting: claimed at the next run end (it frees a thread), not at
                    # the next poll. Forgotten, a backlog of sync runs went at one
                    # claim per poll: 100 runs/s from 100 slots and a 1 s poll.
                    self._maybe_pending = True
            # With the poll overdue, no slot is free: the next run end wakes this loop.
            wait = self._poll_at - loop.time()
            with contextlib.suppress(TimeoutError):
                await wait_for(self._wake.wait(), wait if wait > 0 else poll_interval)

    async def _claim(self, wanted: int, tasks: Sequence[str]) -> list[Run]:
        self._no_claim_sent.clear()
        try:
            return await self.store.claim_runs(
                self.node_id,
                self.clock.now(),
                wanted,
                tasks,
                self.config.executor.labels,
                executor=LOCAL_EXECUTOR,
            )
        finally:
            self._no_claim_sent.set()

    def tasks(self) -> list[BaseTask]:
        """The tasks this node claims runs of: the configured ones (default: all it has
        registered). Only their ``local`` runs are claimed (see :meth:`_claim`): the
        executor is the run's, recorded when it was created."""
        names = self.config.executor.tasks
        return [t for t in self.registry if names is None or t.task_name in names]

    def _claimable_tasks(self) -> tuple[list[str], bool]:
        """The :meth:`tasks` claimed now: without sync tasks while every thread is busy
        (they would only wait for one, holding a slot); and whether any was left out for
        that."""
        tasks = self.tasks()
        if self.lane.free > 0:
            return [t.task_name for t in tasks], False
        free_of_threads = [t.task_name for t in tasks if not needs_thread(t)]
        return free_of_threads, len(free_of_threads) < len(tasks)
