"""Progress and log lines of the runs executing on this node, written in batches.

Tasks report progress and log from any thread; both are buffered here and flushed to the
store every half second (and before a run's end is written, so its last lines and
progress are stored with it). A flush that fails keeps the log lines for the next one,
for as long as the store is out of reach; lines it refuses otherwise are sent again run
by run, and a run's are dropped once refused :data:`MAX_REFUSALS` times in a row.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import threading
from collections.abc import Callable

from schedkit.clock import Clock
from schedkit.errors import (
    StoreClosedError,
    StoreError,
    StoreRefusedError,
    StoreUnavailableError,
)
from schedkit.events import EventBus, EventKind, RunEvent
from schedkit.limits import MAX_NOTE_CHARS, clip
from schedkit.logcapture import RunLogBuffer
from schedkit.models import JSON, LogLine, Run, storable_json
from schedkit.store.base import Store

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.5
#: Times in a row the store may refuse a run's lines, short of an outage, before they are
#: dropped. A value it cannot take (a line number past a 32-bit column, a NUL character in
#: a PostgreSQL text) fails the same way however often it is sent, and the lines held
#: back for it once held up every line of the node behind them; a passing failure (a
#: statement timeout) gets a few more tries.
MAX_REFUSALS = 5
#: Errors after which lines wait, however long: the store is out of reach, a grant is
#: missing (an administrator may add it), or the node is stopping (its last flush).
_WAIT_OUT = (StoreUnavailableError, StoreRefusedError, StoreClosedError)


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
        #: Per run, the times in a row the store refused its lines.
        self._refusals: dict[str, int] = {}

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
        await self._write_lines()
        with self._lock:
            dirty, self._progress = self._progress, {}
        for run_id, progress in dirty.items():
            await self.store.update_progress(run_id, progress)
            run = self._record(run_id, progress)
            if run is not None:
                self.events.publish(RunEvent(kind=EventKind.PROGRESS, run=run))

    async def _write_lines(self) -> None:
        """Write the buffered lines; the lines of a run the store refused go alone, so
        that lines it will never take hold up no other run's."""
        batches = collections.deque(_batches(self.logs.take(), self._refusals))
        kept: list[LogLine] = []
        dropped: dict[str, int] = {}
        refused: StoreError | None = None
        while batches:
            batch = batches.popleft()
            try:
                await self.store.append_logs(batch)
            except _WAIT_OUT:
                self.logs.put_back([*kept, *batch, *itertools.chain.from_iterable(batches)])
                raise
            except StoreError as exc:
                refused = exc
                by_run = _by_run(batch)
                if len(by_run) > 1:
                    batches.extend(by_run.values())
                    continue
                run_id = batch[0].run_id
                refusals = self._refusals.pop(run_id, 0) + 1
                if refusals < MAX_REFUSALS:
                    self._refusals[run_id] = refusals
                    kept += batch
                else:
                    dropped[run_id] = len(batch)
            else:
                if self._refusals:
                    for run_id in {line.run_id for line in batch}:
                        self._refusals.pop(run_id, None)
        if dropped:
            logger.error(
                "dropped %d log line(s) of run(s) %s: the store refused them %d times "
                "in a row (%s)",
                sum(dropped.values()),
                ", ".join(f"{run_id} ({count})" for run_id, count in dropped.items()),
                MAX_REFUSALS,
                refused,
            )
        if kept and refused is not None:  # the loop warns, and tries them again
            self.logs.put_back(kept)
            raise refused


def _by_run(lines: list[LogLine]) -> dict[str, list[LogLine]]:
    runs: dict[str, list[LogLine]] = {}
    for line in lines:
        runs.setdefault(line.run_id, []).append(line)
    return runs


def _batches(lines: list[LogLine], refused: dict[str, int]) -> list[list[LogLine]]:
    """One batch of ``lines``, but a batch of their own for each ``refused`` run's."""
    if not refused:
        return [lines] if lines else []
    alone: dict[str, list[LogLine]] = {run_id: [] for run_id in refused}
    rest: list[LogLine] = []
    for line in lines:
        alone.get(line.run_id, rest).append(line)
    return [batch for batch in (rest, *alone.values()) if batch]
