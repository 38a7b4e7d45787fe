"""This process as a node: its id, its row in the store's node table (heartbeated), its
drain and the undoing of it (asked here or by any node through the store), the capture
of log records into run logs, and the garbage collector's tuning (the one-time freeze,
higher thresholds)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from schedkit.clock import Clock
from schedkit.config import SchedkitConfig
from schedkit.context import TASK_LOGGER
from schedkit.engine.health import LoopHealth, failing_of
from schedkit.engine.retries import Backoff
from schedkit.errors import ConflictError, StoreError, StoreRefusedError, StoreUnavailableError
from schedkit.failing import Failing
from schedkit.logcapture import RunLogBuffer, attach_node, capture, pass_info
from schedkit.models import Node, new_id
from schedkit.redaction import install_log_redaction, remember_url_password
from schedkit.service.clock_sync import ClockSync
from schedkit.stopping import cancel_and_wait, stop_time_left, stop_write, wait_for
from schedkit.store.base import Store
from schedkit.store.base_admin import DRAIN_KEY
from schedkit.version import node_version

logger = logging.getLogger(__name__)

_heap_frozen = False


def freeze_startup_heap() -> None:
    """``gc.freeze()`` once per process, after start-up's garbage is collected.

    A firing node allocates fast, so CPython's full collections come every few seconds,
    and each walks every tracked object while the event loop waits: measured at
    10,000 schedules firing 1,000 times a second, 80-130 ms pauses that made the fires'
    p99 lateness. Frozen objects (modules, classes, the application's and the store's
    long-lived state) are no longer walked; they are still freed by reference counting,
    only cyclic garbage among them is never collected.
    """
    global _heap_frozen
    if _heap_frozen:
        return
    _heap_frozen = True
    gc.collect()
    gc.freeze()
    logger.debug("start-up heap frozen: %d objects", gc.get_freeze_count())


def raise_gc_threshold(threshold: tuple[int, int, int]) -> None:
    """Raise the collector's thresholds to at least ``threshold`` (per generation; an
    application's higher ones stay).

    Each run allocates a few hundred tracked objects (its task, futures, context, rows),
    so at CPython's default a node draining runs collects its youngest generation every
    few runs and its whole heap every second or two: measured 5 % of the SQLite drain's
    runs per second (7,287 → 7,624, interleaved), more on PostgreSQL. Objects live a
    little longer before a cycle among them is found; none is kept.
    """
    current = gc.get_threshold()
    if current[0] == 0:
        return  # the host turned automatic collection off: not ours to turn back on
    wanted = tuple(max(c, t) for c, t in zip(current, threshold, strict=True))
    if wanted != current:
        gc.set_threshold(*wanted)
        logger.debug("garbage collector thresholds %s -> %s", current, wanted)


#: Seconds unregistering waits for a heartbeat write in flight before cancelling it.
UNREGISTER_WAIT = 5.0


def drain_grace(request: object) -> float | None:
    """The grace a stored drain request asks for (None: the node's shutdown_grace; a
    request written before drains had a grace has none)."""
    grace = request.get("grace") if isinstance(request, dict) else None
    return float(grace) if isinstance(grace, int | float) and grace >= 0 else None


def drain_undone(request: object) -> bool:
    """Whether a stored drain request says to undo the drain (``schedkit drain --undo``)."""
    return isinstance(request, dict) and request.get("undo") is True


def make_node_id(config: SchedkitConfig) -> str:
    """``name-or-host:pid:random`` — unique per process start, readable in the console."""
    return f"{config.node_name or socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"


class NodeLifecycle:
    """Registers this node, keeps its heartbeat, and captures run log records."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        config: SchedkitConfig,
        node_id: str,
        logs: RunLogBuffer,
        info: Callable[[], dict[str, object]],
        drain: Callable[[float], Awaitable[None]],
        clock_sync: ClockSync,
        undrain: Callable[[], None] = lambda: None,
        answered: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        #: Told after each beat written: the store is back (see Executor.store_answered).
        self._answered = answered
        self.clock_sync = clock_sync
        self.clock = clock
        self.config = config
        self.node_id = node_id
        #: Live facts shown with the node (leader, runs executing), read at each beat.
        self._info = info
        self._logs = logs
        self._release_logs: Callable[[], None] | None = None
        self.started_at: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._registered = False
        #: Stops the executor taking runs and hands back what is left (the façade's);
        #: ``undrain`` has it take runs again.
        self._drain = drain
        self._undrain = undrain
        self._draining: asyncio.Task[None] | None = None
        self.drained = asyncio.Event()
        #: The node is stopping (a stop began, or a drain that ends in one): its drain
        #: cannot be undone.
        self.stopping = False
        #: The version of the stored drain request this node last acted on.
        self._acted_on = 0
        #: Whether beats are written: a node whose beats fail looks fine to itself and
        #: dead to the others (they list it silent, and take its runs for lost).
        self.health = LoopHealth("node heartbeat", clock)

    @property
    def failing(self) -> list[Failing]:
        """Why the other nodes find this one silent (its beats fail); empty while beats
        are written, or fail only for an outage (readiness pings the store)."""
        return failing_of(self.health)

    @property
    def draining(self) -> bool:
        return self._draining is not None

    def start_drain(
        self, grace: float | None = None, *, stopping: bool = False
    ) -> asyncio.Task[None]:
        """Drain this node (once; later calls return the same drain), giving running runs
        ``grace`` seconds (default ``scheduler.shutdown_grace``). ``stopping``: the drain
        is the first step of stopping the node (a worker's SIGTERM), never undone."""
        self.stopping = self.stopping or stopping
        if self._draining is None:
            logger.info("node %s draining: no new runs are taken here", self.node_id)
            wait = self.config.scheduler.shutdown_grace if grace is None else grace
            self._draining = asyncio.create_task(self._drain_now(wait), name="schedkit-drain")
        return self._draining

    async def undrain(self) -> bool:
        """Undo the drain: runs are taken here again (those handed back already stay
        handed back). False when the node is not draining; ConflictError when it is
        stopping."""
        if self._draining is None:
            return False
        if self.stopping:
            raise ConflictError(
                f"node {self.node_id!r} is stopping: its drain is part of the stop and "
                "cannot be undone (start the node again)"
            )
        drain, self._draining = self._draining, None
        drain.cancel()  # its wait for the running runs: they go on here
        await asyncio.gather(drain, return_exceptions=True)
        self.drained.clear()
        self._undrain()
        logger.info("node %s drain undone: runs are taken here again", self.node_id)
        with contextlib.suppress(StoreError):
            await self.beat()  # shown taking runs at once, not at the next beat
        return True

    def acted_on(self, version: int) -> None:
        """The stored request at ``version`` was acted on here already (asked of this
        very node): the heartbeat leaves it, and a drain started here later stays."""
        self._acted_on = max(self._acted_on, version)

    async def _drain_now(self, grace: float) -> None:
        # Shown draining at once, not at the next beat; a drain that ends in a stop does
        # not wait for a store that hangs (the stop's writes have a deadline).
        with contextlib.suppress(StoreError, TimeoutError):
            await wait_for(self.beat(), UNREGISTER_WAIT if self.stopping else None)
        await self._drain(grace)
        self.drained.set()
        logger.info("node %s drained", self.node_id)

    @property
    def roles(self) -> list[str]:
        return [
            role
            for role, on in (
                ("scheduler", self.config.scheduler.enabled),
                ("executor", self.config.executor.enabled),
            )
            if on
        ]

    def stamp_logs(self) -> Callable[[], None]:
        """Stamp the records this node makes with its id (JSON logs' ``node_id``) until
        the returned function is called; from the start's first step, so that the lines
        of the store's opening carry it too."""
        install_log_redaction()  # before the record factory (see logcapture.capture)
        return attach_node(self.node_id)

    def capture_logs(self, task_modules: Iterable[str]) -> None:
        """Route log records made inside runs into their run logs (any logger), and mask
        credentials in every record of the ``schedkit`` loggers (see schedkit.redaction).
        The task loggers and those of the tasks' modules pass INFO (see pass_info)."""
        install_log_redaction()
        remember_url_password(self.config.store_url)
        self._release_logs = capture(self._logs)
        for name in {TASK_LOGGER, *task_modules}:
            pass_info(name)

    def release_logs(self) -> None:
        if self._release_logs is not None:
            self._release_logs()
            self._release_logs = None

    async def register(self) -> None:
        """Write this node's row (a store error propagates: start-up must fail)."""
        # The build's fingerprint reads the package's files once (~20 ms): not on the
        # loop that other things started on already.
        await asyncio.to_thread(node_version)
        await self.beat()
        self._registered = True

    def start_heartbeat(self) -> None:
        # New: set by the last unregister, it ended a restarted node's heartbeat at once
        # (a Scheduler stopped and started again kept a row that never updated); and it
        # may belong to the event loop of that start. A drain ended with that start too.
        self._stop = asyncio.Event()
        self._draining = None
        self.drained = asyncio.Event()
        self.stopping = False
        self._acted_on = 0
        self.health.ok()
        self._task = asyncio.create_task(self._loop(), name="schedkit-node")

    async def unregister(self) -> None:
        """Stop the heartbeat and delete this node's row; once (later calls do nothing),
        whether or not the heartbeat had started."""
        if not self._registered:
            return
        self._registered = False
        if self._task is not None:
            # The heartbeat ends after the write it may be in, not inside it: a write
            # whose caller was cancelled can still reach the store after the delete
            # below (the server finishes a request its client stopped waiting for) and
            # bring the node back into the list until it expired (seen on FerretDB under
            # load).
            self._stop.set()
            await asyncio.wait({self._task}, timeout=stop_time_left(UNREGISTER_WAIT))
            await cancel_and_wait(self._task)
            self._task = None
        if self._draining is not None:  # ends with the executor, stopped before this
            await asyncio.gather(self._draining, return_exceptions=True)
        try:
            await stop_write(
                "the node's row's removal",
                functools.partial(self.store.delete_node, self.node_id),  # and its drain request
            )
        except StoreError as exc:
            logger.warning("could not unregister node %s: %s", self.node_id, exc)

    async def _loop(self) -> None:
        interval = self.config.scheduler.heartbeat_interval
        # A refusal is said once and tried again slowly (waiting does not cure it); an
        # outage at every beat: a beat late once the store is back gets the node judged
        # lost by the others.
        refusals = Backoff(first=interval)
        wait = interval
        while not await self._stopped_within(wait):
            wait = interval
            try:
                await self._beat_and_look()
                refusals.reset()
                self.health.ok()
            except StoreRefusedError as exc:
                self.health.failed(exc)
                wait = refusals.after_refusal(f"node heartbeat failed: {exc}", exc)
            except StoreError as exc:
                self.health.failed(exc)
                logger.warning("node heartbeat failed: %s", exc)
            except Exception as exc:  # a bug must not end the heartbeat: the node seems dead
                self.health.failed(exc)
                logger.exception("node heartbeat: unexpected error; trying again")

    async def _beat_and_look(self) -> None:
        """A beat, then a look for a drain request, also when the beat was refused: a
        node that may not write its row still drains when asked. After an outage the
        look would only wait out the same timeouts. Raises the look's error, else the
        beat's."""
        beat_failed: StoreError | None = None
        try:
            await self.beat()
            self._answered()
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            beat_failed = exc
        asked = await self.store.get_state(DRAIN_KEY + self.node_id)
        if asked is None:
            # Deleted with this node's row by the leader (silent past node_expiry, back
            # since): a request asked now starts again at version 1.
            self._acted_on = 0
        elif asked.version > self._acted_on:
            self._acted_on = asked.version
            await self._follow(asked.value)
        if beat_failed is not None:
            raise beat_failed

    async def _follow(self, request: object) -> None:
        """Act on a drain request written since the last one acted on: the last written
        wins (drain, undo, drain again)."""
        if not drain_undone(request):
            self.start_drain(drain_grace(request))
            return
        try:
            await self.undrain()
        except ConflictError as exc:
            logger.warning("drain not undone: %s", exc)

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()

    async def beat(self) -> None:
        # Measured first, so that this beat is written in the time the node goes by.
        await self.clock_sync.measure()
        now = self.clock.now()
        await self.store.upsert_node(
            Node(
                id=self.node_id,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                started_at=self.started_at or now,
                heartbeat_at=now,
                roles=self.roles,
                version=node_version(),
                info={
                    **self._info(),
                    **self.clock_sync.report(),
                    "draining": self.draining,
                    "drained": self.drained.is_set(),
                    # Also what says this node can undo a drain (older ones lack it).
                    "stopping": self.stopping,
                },
            )
        )
