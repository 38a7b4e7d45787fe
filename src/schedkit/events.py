"""Run events: what happened to a run, published on this node to listeners.

The executor and the scheduler publish; the monitor (metrics, alerts), the API's SSE
stream and user listeners (the design document's executed / error / missed listeners)
subscribe. Publishing never blocks and a failing listener never affects a run.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schedkit.models import Run, utcnow
from schedkit.overflow import Overflow

logger = logging.getLogger(__name__)

#: Most listener coroutines still running at once (a listener stuck on an unreachable
#: store must not pile up a task per event); past it, calls are dropped and counted.
MAX_PENDING_CALLS = 10_000


class EventKind(enum.StrEnum):
    """What happened to a run (:attr:`RunEvent.kind`), as ``add_listener(kinds=...)``
    selects: ``created`` (a run stored here: a fire, a call, a workflow step),
    ``started`` (an attempt began here), ``progress`` (the task reported some),
    ``retrying`` (an attempt failed and another is due), ``finished`` (it ended:
    ``run.status`` says how, after its retries), ``skipped`` (a fire not run, e.g. at
    ``max_instances``), ``missed`` (a fire past its misfire grace), ``lost`` (its node
    went silent while running it), ``cancel_requested`` (a cancel asked of a run
    executing elsewhere)."""

    CREATED = "created"
    STARTED = "started"
    PROGRESS = "progress"
    RETRYING = "retrying"
    FINISHED = "finished"
    SKIPPED = "skipped"
    MISSED = "missed"
    LOST = "lost"
    CANCEL_REQUESTED = "cancel_requested"


@dataclass(frozen=True, kw_only=True, slots=True)
class RunEvent:
    """One event of a run on this node: its ``kind``, the run as it was then, when
    (``at``, UTC) and what else is known (``detail``; a lost run's ``final``...)."""

    kind: EventKind
    run: Run
    at: datetime = field(default_factory=utcnow)
    detail: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[RunEvent], Awaitable[None] | None]


class EventBus:
    """Fan-out of run events to callbacks and bounded queues."""

    def __init__(self, max_pending: int = MAX_PENDING_CALLS) -> None:
        self._listeners: list[tuple[Listener, frozenset[EventKind] | None, bool]] = []
        self._queues: set[asyncio.Queue[RunEvent]] = set()
        self._pending: set[asyncio.Task[None]] = set()
        self.overflow = Overflow("listener_calls", max_pending)

    def add_listener(
        self, listener: Listener, kinds: Iterable[EventKind] | None = None, *, remote: bool = False
    ) -> Callable[[], None]:
        """Call ``listener`` for events of ``kinds`` (all if None); returns a remover.
        ``remote``: for other nodes' events too (:meth:`publish_remote`), which arrive
        only where a notify channel or a live view's store poll carries them."""
        entry = (listener, frozenset(kinds) if kinds is not None else None, remote)
        self._listeners.append(entry)
        return lambda: self._listeners.remove(entry) if entry in self._listeners else None

    def subscribe(self, maxsize: int = 1000) -> asyncio.Queue[RunEvent]:
        """A queue receiving every event; a full queue drops its oldest event."""
        queue: asyncio.Queue[RunEvent] = asyncio.Queue(maxsize)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[RunEvent]) -> None:
        self._queues.discard(queue)

    def publish(self, event: RunEvent) -> None:
        self._enqueue(event)
        for listener, kinds, _ in self._listeners:
            if kinds is None or event.kind in kinds:
                self._call(listener, event)

    def publish_remote(self, event: RunEvent) -> None:
        """An event of another node (see :mod:`schedkit.broadcast`): to the queues (live
        views) and the listeners added with ``remote=True``; the others (metrics,
        alerts) hear only of this node's runs."""
        self._enqueue(event)
        for listener, kinds, remote in self._listeners:
            if remote and (kinds is None or event.kind in kinds):
                self._call(listener, event)

    def _enqueue(self, event: RunEvent) -> None:
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    def _call(self, listener: Listener, event: RunEvent) -> None:
        try:
            outcome = listener(event)
        except Exception:
            logger.exception("run event listener %r failed on %s", listener, event.kind)
            return
        # Most listeners are plain functions: None needs no awaitable check.
        if outcome is None or not inspect.isawaitable(outcome):
            return
        if len(self._pending) >= self.overflow.bound:
            if inspect.iscoroutine(outcome):
                outcome.close()  # never awaited, on purpose
            self.overflow.drop()
            return
        task = asyncio.ensure_future(self._guard(listener, outcome, event))
        self._pending.add(task)
        task.add_done_callback(self._settled)

    @property
    def watched(self) -> bool:
        """Whether a live view is subscribed (polling for remote events is then worth it)."""
        return bool(self._queues)

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if len(self._pending) < self.overflow.bound // 2:
            self.overflow.drained()

    @staticmethod
    async def _guard(listener: Listener, outcome: Awaitable[None], event: RunEvent) -> None:
        try:
            await outcome
        except Exception:
            logger.exception("run event listener %r failed on %s", listener, event.kind)

    async def drain(self) -> None:
        """Wait for listener coroutines still running (used on shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
