"""Without a notify channel: a node with a live view subscribed reads the store every
``cluster.poll_interval`` for runs executing on other nodes, and puts their starts and
ends on its bus for the live view (a coarser picture: runs shorter than the interval
are seen only when they end, at the next page load)."""

from __future__ import annotations

import asyncio
import logging

from schedkit.errors import StoreError
from schedkit.events import EventBus, EventKind, RunEvent
from schedkit.models import Run, RunFilter, RunStatus
from schedkit.store.base import Store

logger = logging.getLogger(__name__)

#: Running runs read per poll.
POLL_LIMIT = 500


class StorePoll:
    def __init__(self, *, store: Store, events: EventBus, node_id: str, interval: float) -> None:
        self.store = store
        self.events = events
        self.node_id = node_id
        self.interval = interval
        self.name = f"the store, every {interval:g} s"
        self._running: dict[str, Run] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="schedkit-event-poll")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self.events.watched:
                self._running.clear()
                continue
            try:
                await self.poll()
            except StoreError as exc:
                logger.debug("polling for other nodes' runs failed: %s", exc)

    async def poll(self) -> None:
        """One look: starts and ends of other nodes' runs since the last one."""
        flt = RunFilter(statuses=frozenset({RunStatus.RUNNING}))
        now_running = {
            r.id: r
            for r in await self.store.list_runs(flt, limit=POLL_LIMIT)
            if r.node_id != self.node_id
        }
        for run_id, run in now_running.items():
            if run_id not in self._running:
                self.events.publish_remote(RunEvent(kind=EventKind.STARTED, run=run))
        for run_id in set(self._running) - set(now_running):
            ended = await self.store.get_run(run_id)
            if ended is None:
                continue
            kind = EventKind.FINISHED if ended.status.finished else EventKind.RETRYING
            self.events.publish_remote(RunEvent(kind=kind, run=ended))
        self._running = now_running
