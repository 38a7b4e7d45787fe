"""Run heartbeats kept while the event loop is blocked.

An ``async def`` task that makes blocking calls (the design document's own example
calls pymongo inside ``async def execute``) holds the node's event loop: no heartbeat
is written, and after ``lost_after`` another node's reaper judges its runs lost and
retries them, so the body runs twice while the first is still going. The loop cannot
speak for itself while it is held, so a daemon thread watches it: the loop stamps the
time every heartbeat interval, and when two intervals pass without a stamp the thread
says which runs are executing (one of them is holding the loop) and heartbeats them
through a store connection of its own.

It does so for ``blocked_loop_grace`` seconds at most: a loop held longer is treated as
hung, and its runs are left to the reaper as a dead node's are.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence

from schedkit.clock import Clock
from schedkit.errors import StoreError
from schedkit.store.base import Store

logger = logging.getLogger(__name__)

#: Intervals without a stamp before the loop counts as blocked (one may be late under
#: load without anything being wrong).
BLOCKED_AFTER = 2


class LoopWatchdog:
    def __init__(
        self,
        *,
        node_id: str,
        interval: float,
        grace: float,
        clock: Clock,
        executing: Callable[[], Sequence[tuple[str, str]]],
        open_store: Callable[[], Store] | None,
    ) -> None:
        """``executing``: the (run id, task name) pairs executing on this node, safe to
        call from another thread. ``open_store``: a new store instance for the thread's
        heartbeats (None: the node was given a store object it cannot copy; the blocked
        loop is then only reported)."""
        self.node_id = node_id
        self.interval = interval
        self.grace = grace
        self.clock = clock
        self._executing = executing
        self._open_store = open_store
        self._seen = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: When the current blocked stretch was first noticed (None: the loop runs).
        self._blocked_since: float | None = None
        self._gave_up = False

    def start(self) -> None:
        """Start watching the running loop (call on it)."""
        self._stop = threading.Event()  # a fresh one: a node can be started again
        self._blocked_since = None
        self._gave_up = False
        self._stamp()
        self._thread = threading.Thread(target=self._watch, name="schedkit-watchdog", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self._released()  # this runs on the loop: it is not held now

    def _stamp(self) -> None:
        self._seen = time.monotonic()
        self._timer = asyncio.get_running_loop().call_later(self.interval, self._stamp)

    # -- the thread ------------------------------------------------------------------------

    def _watch(self) -> None:
        loop: asyncio.AbstractEventLoop | None = None
        store: Store | None = None
        try:
            while True:
                asked, cpu = time.monotonic(), time.process_time()
                if self._stop.wait(self.interval):
                    break
                overslept = time.monotonic() - asked - self.interval
                if self._paused(overslept, time.process_time() - cpu):
                    continue
                held = time.monotonic() - self._seen
                if held < BLOCKED_AFTER * self.interval:
                    self._released()
                    continue
                runs = self._runs()
                self._noticed(held, runs)
                if held > self.grace or not runs or self._open_store is None:
                    continue
                if loop is None:
                    loop = asyncio.new_event_loop()
                try:
                    if store is None:
                        store = self._open_store()
                        loop.run_until_complete(store.open())
                    ids = [run_id for run_id, _ in runs]
                    loop.run_until_complete(
                        store.heartbeat_runs(self.node_id, ids, self.clock.now())
                    )
                except StoreError as exc:
                    logger.warning("watchdog: run heartbeat failed (will retry): %s", exc)
        finally:
            if loop is not None:
                if store is not None:
                    loop.run_until_complete(store.close())
                loop.close()

    def _paused(self, overslept: float, cpu: float) -> bool:
        """Whether this thread's wait overran while the process used little CPU: it did
        not run either, so the whole process was paused (an audit: SIGSTOP for 30 s made
        the warning blame the task executing, an async task "making blocking calls",
        that only awaited a sleep). A call holding the GIL that long burns CPU: that one
        is the task's, said as before."""
        if overslept <= BLOCKED_AFTER * self.interval or cpu > overslept / 2:
            return False
        logger.warning(
            "node %s was paused for %.1f s (SIGSTOP, a frozen or migrated VM?): other "
            "nodes may have judged its runs lost meanwhile",
            self.node_id,
            overslept,
        )
        # The pause is not the loop's, but the hold before it still is: forgiving it
        # would let every scheduling hiccup of a loaded machine restart the grace.
        self._seen = min(self._seen + overslept, time.monotonic())
        return True

    def _runs(self) -> Sequence[tuple[str, str]]:
        try:
            return self._executing()
        except RuntimeError:  # the loop ran again and changed them while they were read
            return ()

    def _noticed(self, held: float, runs: Sequence[tuple[str, str]]) -> None:
        if self._blocked_since is None:
            self._blocked_since = time.monotonic() - held
            named = ", ".join(f"{task} (run {run_id})" for run_id, task in runs) or "none"
            logger.warning(
                "the event loop of node %s has not run for %.1f s; executing here: %s. An "
                "async task that makes blocking calls holds every run, fire and request of "
                "this node: make it a def (it runs in a thread) or await asyncio.to_thread(...). "
                "Its runs are heartbeated from a watchdog thread for up to %g s so that "
                "other nodes do not judge them lost",
                self.node_id,
                held,
                named,
                self.grace,
            )
        elif held > self.grace and not self._gave_up:
            self._gave_up = True
            logger.error(
                "the event loop of node %s has not run for %.1f s (blocked_loop_grace %g s): "
                "its runs are no longer heartbeated and will be judged lost",
                self.node_id,
                held,
                self.grace,
            )

    def _released(self) -> None:
        if self._blocked_since is not None:
            logger.warning(
                "the event loop of node %s runs again after %.1f s",
                self.node_id,
                time.monotonic() - self._blocked_since,
            )
        self._blocked_since = None
        self._gave_up = False
