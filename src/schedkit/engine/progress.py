"""Progress and log lines of the runs executing on this node, written in batches.

Tasks report progress and log from any thread; both are buffered here and flushed to the
store every half second (and before a run's end is written, so its last lines and
progress are stored with it). A flush that fails keeps the log lines for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from schedkit.clock import Clock
from schedkit.errors import StoreError
from schedkit.events import EventBus, EventKind, RunEvent
from schedkit.limits import MAX_NOTE_CHARS, clip
from schedkit.logcapture import RunLogBuffer
from schedkit.models import JSON, Run, storable_json
from schedkit.store.base import Store

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.5


class RunFeed:
    def __init__(
        self,
        *,
        store: Store,
        events: EventBus,
        clock: Clock,
        logs: RunLogBuffer,
        record: Callable[[str, JSON], Run | None],
    ) -> None:
        self.store = store
        self.events = events
        self.clock = clock
        self.logs = logs
        #: Gives a written progress to the executing run's copy; returns that run, or
        #: None once it ended here.
        self._record = record
        self._progress: dict[str, JSON] = {}
        self._lock = threading.Lock()

    def progress(self, run_id: str, progress: JSON) -> None:
        """Record a run's latest progress (thread-safe; the newest report wins). One the
        stores cannot take (an object, NaN) is left out with a WARNING, in the run's log
        when reported from its task."""
        stamped = {**progress, "updated_at": self.clock.now().isoformat()}
        if isinstance(note := progress.get("note"), str):
            stamped["note"] = clip(note, MAX_NOTE_CHARS)
        try:
            storable_json(stamped)
        except ValueError as exc:
            # Written, it failed the flush: the run's end was never recorded (an audit:
            # ctx.progress(np.int64(5), 10) left its run running), or the flush loop died.
            logger.warning("a progress report of run %s was not stored: %s", run_id, exc)
            return
        with self._lock:
            self._progress[run_id] = stamped

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await self.flush()
            except StoreError as exc:
                logger.warning("writing run logs/progress failed (will retry): %s", exc)

    async def flush_quietly(self) -> None:
        """A flush before a run's end is written; a store error is left to the loop."""
        if not self.logs.pending and not self._progress:  # most runs: nothing to write
            return
        with contextlib.suppress(StoreError):
            await self.flush()

    async def flush(self) -> None:
        lines = self.logs.take()
        if lines:
            try:
                await self.store.append_logs(lines)
            except StoreError:
                self.logs.put_back(lines)
                raise
        with self._lock:
            dirty, self._progress = self._progress, {}
        for run_id, progress in dirty.items():
            await self.store.update_progress(run_id, progress)
            run = self._record(run_id, progress)
            if run is not None:
                self.events.publish(RunEvent(kind=EventKind.PROGRESS, run=run))
