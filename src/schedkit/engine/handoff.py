"""Runs handed to another executor (``executor = "celery"``): sent once claimable.

A run's executor is recorded when it is created (``Run.executor``: its schedule's
choice, else its task's). Runs of another executor are fired, recorded and fenced like
any other, but no schedkit node claims them in its claim loop (it claims ``local`` runs
only). This loop, on the scheduler lease holder, finds the pending, due runs of each
installed executor and gives each to that executor's sender (e.g. one Celery message
per run). The receiving worker claims the run it names through the store
(:meth:`Executor.execute_one`, invariant 3), so a message delivered twice never
executes a run twice.

A run still pending ``resend_after`` seconds after it was sent is sent again: a message
the broker lost must not leave the run pending forever (the duplicates this makes are
harmless, for the same reason).

A task whose executor is installed on no node would leave its runs pending without a
word: the lease holder warns once per such task, also when it has no sender at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from schedkit.clock import Clock
from schedkit.errors import StoreError
from schedkit.models import Run, RunFilter, RunStatus
from schedkit.placement import LOCAL_EXECUTOR
from schedkit.registry import TaskRegistry
from schedkit.stopping import wait_for
from schedkit.store.base import Store

logger = logging.getLogger(__name__)

#: Given each claimable run of the executor it is installed for.
Sender = Callable[[Run], Awaitable[None]]
#: Most pending runs of one executor read per pass.
SEND_BATCH = 500
#: Seconds a wake-up waits before its pass, gathering the runs created with it.
GATHER = 0.02

_PENDING = frozenset({RunStatus.PENDING})


class HandOff:
    def __init__(
        self,
        *,
        store: Store,
        registry: TaskRegistry,
        clock: Clock,
        poll_interval: float,
        resend_after: float,
        may_send: Callable[[], bool],
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.poll_interval = poll_interval
        self.resend_after = resend_after
        #: Whether this node sends now (the scheduler lease holder does: one sender in a
        #: cluster keeps messages one per run).
        self.may_send = may_send
        self.senders: dict[str, Sender] = {}
        #: (run id, attempt) → loop time its message was sent.
        self._sent: dict[tuple[str, int], float] = {}
        self._wake = asyncio.Event()
        self._unserved: set[str] = set()

    def reset(self) -> None:
        """Forget the event loop of a previous start (see :meth:`Executor.start`)."""
        self._wake = asyncio.Event()

    def add(self, executor: str, sender: Sender) -> Callable[[], None]:
        """Send runs whose ``executor`` is ``executor`` through ``sender``."""
        if executor == LOCAL_EXECUTOR:
            raise ValueError(f"{LOCAL_EXECUTOR!r} is the executor of schedkit nodes")
        self.senders[executor] = sender
        self.wake()

        def remove() -> None:
            if self.senders.get(executor) is sender:
                del self.senders[executor]

        return remove

    def wake(self) -> None:
        self._wake.set()

    async def loop(self) -> None:
        while True:
            # Cleared before the pass: a run created during it wakes the next one.
            self._wake.clear()
            if self.may_send():
                try:
                    await self.send_due()
                except StoreError as exc:
                    logger.warning("reading runs to hand off failed (will retry): %s", exc)
            with contextlib.suppress(TimeoutError):
                await wait_for(self._wake.wait(), self.poll_interval)
                # Woken: let the rest of a burst of new runs arrive, so that one pass
                # (one read of the pending runs) sends them all.
                await asyncio.sleep(GATHER)

    async def send_due(self) -> int:
        """Send every claimable run not sent yet (or sent too long ago); how many."""
        now = self.clock.now()
        mono = asyncio.get_running_loop().time()
        seen: set[tuple[str, int]] = set()
        sent = 0
        self._warn_unserved()
        for executor, sender in list(self.senders.items()):
            flt = RunFilter(executor=executor, statuses=_PENDING)
            for run in await self.store.list_runs(flt, limit=SEND_BATCH):
                if run.blocked_by is not None or run.not_before > now:
                    continue
                key = (run.id, run.attempt)
                seen.add(key)
                at = self._sent.get(key)
                if at is not None and mono - at < self.resend_after:
                    continue
                try:
                    await sender(run)
                except Exception as exc:
                    # The broker is likely down: the next pass tries again, one line each.
                    logger.warning(
                        "sending runs to executor %s failed (will retry): %s: %s",
                        executor,
                        type(exc).__name__,
                        exc,
                    )
                    break
                self._sent[key] = mono
                sent += 1
        # Runs no longer pending (claimed, cancelled) are forgotten once a resend would be
        # due; a run merely outside this pass's batch (a backlog) keeps its send time.
        self._sent = {
            key: at
            for key, at in self._sent.items()
            if key in seen or mono - at < self.resend_after
        }
        return sent

    def _warn_unserved(self) -> None:
        """Once per task: its runs go to an executor not installed on this node (a typo, a
        missing extension), where they would wait pending without a word."""
        for task in self.registry:
            executor = task.executor
            if executor in self.senders or executor == LOCAL_EXECUTOR:
                continue
            if task.task_name not in self._unserved:
                self._unserved.add(task.task_name)
                logger.warning(
                    "task %s uses executor %r, which is not installed on this node: its "
                    "runs wait until a node that has it sends them",
                    task.task_name,
                    executor,
                )
