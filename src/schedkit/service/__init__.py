"""The service façade: ``schedkit.Scheduler``, the one object users, adapters and
extensions talk to.

It composes small parts, each with one job: :class:`~schedkit.service.schedules.ScheduleBook`
(schedule definitions), :class:`~schedkit.service.runs.RunControl` (runs and history),
:class:`~schedkit.service.node.NodeLifecycle` (this process as a node),
:class:`~schedkit.service.workflows.WorkflowControl` (workflows), and the engine
(:class:`~schedkit.engine.scheduler.SchedulerLoop`, :class:`~schedkit.engine.executor.Executor`).
It offers the design document's methods (``add_task``, ``remove_task``, ``pause_task``,
``resume_task``, ``get_job_info``) plus run control, history, and what the API, console,
CLI and extensions read. Every mutating method takes an ``actor`` and is audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from zoneinfo import ZoneInfo

from schedkit import broadcast
from schedkit.clock import Clock, StoreClock, SystemClock
from schedkit.engine.executor import Executor
from schedkit.engine.scheduler import SchedulerLoop
from schedkit.engine.watchdog import LoopWatchdog
from schedkit.errors import NotRunningError
from schedkit.events import EventBus, EventKind, Listener, RunEvent
from schedkit.extension import Extension
from schedkit.failing import INFO_KEY as FAILING_KEY
from schedkit.failing import Failing
from schedkit.logcapture import RunLogBuffer, acting_as
from schedkit.models import Schedule, ScheduleCounts
from schedkit.registry import TaskRegistry, task_registry
from schedkit.service import next_fires
from schedkit.service.admin import AdminFacade
from schedkit.service.audit import SYSTEM, Auditor
from schedkit.service.backfill import BackfillMethods, Backfills
from schedkit.service.bulk import EntryError, ScheduleEntry
from schedkit.service.calendar_years import CalendarYears
from schedkit.service.calendars import CalendarDesk
from schedkit.service.clock_sync import ClockSync
from schedkit.service.cluster import DrainMethods
from schedkit.service.config_input import ConfigInput, load_config
from schedkit.service.extensions import ExtensionHooks, node_extensions
from schedkit.service.fire_searches import FireSearches
from schedkit.service.node import (
    NodeLifecycle,
    freeze_startup_heap,
    make_node_id,
    raise_gc_threshold,
)
from schedkit.service.pending_defaults import say_inherited
from schedkit.service.retention import RetentionMethods
from schedkit.service.runs import RunControl, RunMethods
from schedkit.service.schedules import ScheduleBook
from schedkit.service.start_once import StartOnce
from schedkit.service.store_wait import StoreWait
from schedkit.service.workflows import WorkflowControl
from schedkit.stopping import STOP_DEADLINE, StopDeadline, say_unwritten
from schedkit.store import Store, UpgradeCheck, create_store
from schedkit.task import BaseTask, definition
from schedkit.token_trust import TokenTrust
from schedkit.triggers import AllowedFire, ScheduleSpec
from schedkit.version import __version__
from schedkit.workflows import Workflow

logger = logging.getLogger(__name__)

__all__ = ["SYSTEM", "ConfigInput", "Extension", "Scheduler", "__version__", "load_config"]

#: Later than any fire time: "due by the end of time" is every fire to come.
END_OF_TIME = datetime.max.replace(tzinfo=UTC)


class Scheduler(
    AdminFacade, BackfillMethods, DrainMethods, ExtensionHooks, RunMethods, RetentionMethods
):
    """A schedkit node. ``async with Scheduler(config) as s: ...`` or start()/stop().

    ``config``: a :class:`SchedkitConfig`, a dict of its fields, the design document's
    ``SCHEDULER_CONFIG`` dict, a TOML path, or None (the CLI's: ``$SCHEDKIT_CONFIG``,
    else ``./schedkit.toml`` if present, under the environment).
    ``registry`` defaults to the global ``task_registry`` (the document's singleton).
    ``store`` is the store this node uses; it is public for tests and tools, while the
    API, console, CLI and extensions use the methods below.
    """

    def __init__(
        self,
        config: ConfigInput = None,
        *,
        registry: TaskRegistry | None = None,
        store: Store | None = None,
        clock: Clock | None = None,
        tasks: Iterable[type[BaseTask] | BaseTask] = (),
        extensions: Iterable[Extension] = (),
        workflows: Iterable[Workflow] = (),
    ) -> None:
        self.config = load_config(config)
        self.registry = registry if registry is not None else task_registry
        for t in tasks:
            self.registry.register_task(t)
        for wf in workflows:
            self.registry.register_workflow(wf)
        self.store = store or create_store(self.config.store_url, **self.config.store_options)
        # An injected clock (a test's) is used as it is, never set to the store's.
        if clock is None:
            clock = StoreClock() if self.config.scheduler.clock == "store" else SystemClock()
        self.clock: Clock = clock
        self.tz = ZoneInfo(self.config.timezone)
        self.node_id = make_node_id(self.config)
        self._events = EventBus()
        logs = self._logs = RunLogBuffer(node_id=self.node_id)
        self._executor = Executor(
            store=self.store,
            registry=self.registry,
            events=self._events,
            clock=self.clock,
            node_id=self.node_id,
            config=self.config,
            logs=logs,
            # One sender in a cluster: the node that fires them.
            may_hand_off=lambda: self.is_leader,
        )
        self._watchdog = LoopWatchdog(
            node_id=self.node_id,
            interval=self.config.scheduler.heartbeat_interval,
            grace=self.config.scheduler.blocked_loop_grace,
            clock=self.clock,
            executing=self._executor.executing,
            # A store object given cannot be copied: a held loop is then only reported.
            open_store=None
            if store is not None
            else functools.partial(
                create_store, self.config.store_url, **self.config.store_options
            ),
        )
        self._loop = SchedulerLoop(
            store=self.store,
            registry=self.registry,
            executor=self._executor,
            events=self._events,
            clock=self.clock,
            node_id=self.node_id,
            config=self.config,
        )
        audit = Auditor(self.store, self.clock)
        self._audit = audit
        api = self.config.api
        self._token_trust = TokenTrust(cache=api.token_cache, outage_grace=api.token_outage_grace)
        self.schedules = ScheduleBook(
            store=self.store,
            registry=self.registry,
            clock=self.clock,
            config=self.config,
            audit=audit,
            events=self._events,
            changed=self._loop.wake,
        )
        self.calendars = CalendarDesk(
            store=self.store, clock=self.clock, tz=self.tz, audit=audit, registry=self.registry
        )
        #: The calendar searches of listings: shared between callers, one at a time.
        self.fire_searches = FireSearches(self.tz)
        #: The year view's calendar years: in the searches' turns, kept while unchanged.
        self.calendar_years = CalendarYears(self.fire_searches)
        self.runs = RunControl(
            store=self.store,
            registry=self.registry,
            clock=self.clock,
            config=self.config,
            executor=self._executor,
            events=self._events,
            audit=audit,
            node_id=self.node_id,
            tz=self.tz,
        )
        self.backfills = Backfills(self.runs, self.calendars)
        #: Workflows: definitions, starting by hand, their runs, retrying a step.
        self.workflows = WorkflowControl(
            store=self.store,
            registry=self.registry,
            flows=self._executor.flows,
            clock=self.clock,
            audit=audit,
            max_params_bytes=self.config.limits.max_kwargs_bytes,
        )
        self._node = NodeLifecycle(
            store=self.store,
            clock=self.clock,
            config=self.config,
            node_id=self.node_id,
            logs=logs,
            info=lambda: {
                "leader": self.is_leader,
                "running": self.running_count,
                **self._executor.node_info(),
                # For the node list of every node (readmodels.NodeView.failing).
                FAILING_KEY: [f.to_json() for f in self.failing],
            },
            drain=self._executor.drain,
            undrain=self._executor.undrain,
            clock_sync=ClockSync(self.store, self.clock),
            answered=self._store_answered,
        )
        self.extensions = node_extensions(self.config, extensions, self.is_node)
        self._stack: contextlib.AsyncExitStack | None = None
        self._start_once = StartOnce()
        #: When this node's stop gives up on its store writes (set as the stop begins).
        self._stop_deadline = StopDeadline()
        #: The start that waits for the store (``scheduler.store_wait = "retry"``), if any.
        self.store_wait: StoreWait | None = None
        #: The grace period of the stop in progress (None: the configured one).
        self._grace: float | None = None
        #: The process that started it (a forked child's copy is not its to use).
        self._started_in = os.getpid()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether :meth:`start` has completed and :meth:`stop` not begun."""
        return self._stack is not None

    @property
    def is_node(self) -> bool:
        """False for a management client: neither firing nor executing, it registers no
        node and gets no monitor (CLI commands, an API-only app)."""
        return self.config.scheduler.enabled or self.config.executor.enabled

    @property
    def is_leader(self) -> bool:
        """Whether this node holds the scheduler lease now: the one node that fires."""
        return self._loop.is_leader

    @property
    def failing(self) -> list[Failing]:
        """This node's loops whose passes fail although its store answers: the scheduler
        loop's or lease's (nothing fires), the claim loop's (no run starts here), the node
        heartbeat's (the other nodes find it silent); empty while they work. What
        ``/ready`` and ``/health`` report and the node's heartbeat carries (the node list
        shows it, unless the heartbeat is what fails)."""
        return [*self._loop.failing, *self._executor.failing, *self._node.failing]

    @property
    def running_count(self) -> int:
        """How many runs this node executes now."""
        return len(self._executor.running_ids)

    @property
    def dropped(self) -> dict[str, int]:
        """What this node's bounded buffers dropped since it started, by buffer (run log
        lines waiting for the store, listener calls waiting to finish)."""
        return {o.what: o.dropped for o in (self._logs.overflow, self._events.overflow)}

    async def start(
        self, *, create_store: bool = True, store_defaults: bool = True, upgrade_store: bool = True
    ) -> None:
        """Open the store, discover tasks, register their default schedules, start firing
        (if this node wins the lease) and executing. Fires missed while the service was
        down are handled on the first tick, per each schedule's misfire/coalesce policy.
        A step that fails undoes the ones before it. ``create_store=False`` (tools that
        read): a database holding no store raises StoreNotFoundError.
        ``store_defaults=False`` (a management client that must write nothing): the
        default schedules are left unstored (the calendar warnings count them all the
        same). ``upgrade_store=False`` (tools that read): a store older than this
        release raises StoreOutdatedError instead of being upgraded. A start called while
        one is under way waits for that one (and raises its error)."""
        await self._start_once.run(
            functools.partial(self._start, create_store, store_defaults, upgrade_store),
            lambda: self.started,
        )

    async def _start(self, create_store: bool, store_defaults: bool, upgrade_store: bool) -> None:
        # A node's records carry its id (JSON logs' node_id), those of the tasks started
        # here included; a management client (CLI command) is no node.
        with acting_as(self.node_id) if self.is_node else contextlib.nullcontext():
            await self._start_steps(create_store, store_defaults, upgrade_store)

    async def _start_steps(
        self, create_store: bool, store_defaults: bool, upgrade_store: bool
    ) -> None:
        if self.is_node:  # a service's log is where its operator looks; check lists them
            for warning in self.config.warnings:
                logger.warning("%s", warning)
        async with contextlib.AsyncExitStack() as stack:
            if self.is_node:
                stack.callback(self._node.stamp_logs())
            # Nodes alive past lost_after, as the node list and the reaper judge them, hold
            # back an upgrade older code cannot work with (store._upgrade).
            upgrade = UpgradeCheck(lost_after=self.config.scheduler.lost_after)
            await self.store.open(create=create_store, upgrade=upgrade if upgrade_store else False)
            stack.push_async_callback(self.store.close)
            # Before anything is written: the times written are in the node's time.
            await self._node.clock_sync.measure()
            self.registry.discover(self.config.task_packages)
            if self.config.entry_points:
                self.registry.discover_entry_points()
            self.registry.check_workflows()
            self.registry.check_dependencies()
            # Only a node that fires changes a stored default schedule to its code's: a
            # CLI command or a worker of older (or newer) code rewrote them at each
            # start, reverting a deployed change and restarting interval series.
            # `schedkit calendar warnings`, a read, wrote (and audited) every default
            # schedule on a new store.
            if store_defaults:
                await self.schedules.sync_defaults(create_only=not self.config.scheduler.enabled)
            if self.config.scheduler.enabled:  # the node that fires them
                say_inherited(self.registry, self.config.timezone)
            # The national notices as stored, for preview() before anything else reads
            # them (a node whose scheduler is off judged by the built-in estimate).
            await self.calendars.snapshot()
            if self.is_node:
                await self._node.register()
                # Undoes the registration should a later step fail: the row would show a
                # node that never ran until node_expiry. (A stop unregisters through the
                # callback pushed with the heartbeat; this one then does nothing.)
                stack.push_async_callback(self._node.unregister)
            self._node.capture_logs(definition(t).__module__ for t in self.registry)
            stack.callback(self._node.release_logs)
            self._node.started_at = self.clock.now()
            for extension in self.extensions:
                await extension.start(self)
                stack.push_async_callback(extension.stop)
            stack.push_async_callback(self._events.drain)
            if self.is_node:
                raise_gc_threshold(self.config.scheduler.gc_threshold)
                self._node.start_heartbeat()
                # Right after the executor stops (its runs' ends recorded), before the
                # extensions stop.
                stack.push_async_callback(self._node.unregister)
            # Before the executor: it stops after it, so the last runs' ends go out.
            await broadcast.attach(stack, self.config, self.store, self._events, self._executor)
            await self._executor.start()
            stack.push_async_callback(self._stop_executor)
            if self.is_node:
                self._watchdog.start()
                stack.push_async_callback(self._watchdog.stop)
            if self.config.scheduler.enabled:
                if self.config.scheduler.gc_freeze:
                    freeze_startup_heap()
                self._loop.start()
                stack.push_async_callback(self._loop.stop)
            self._stack = stack.pop_all()
            self._started_in = os.getpid()
        logger.info(
            "schedkit node %s started: %d task(s), store %s",
            self.node_id,
            len(self.registry),
            self.store.display_url,
        )
        if self.is_node and not len(self.registry):
            # A forgotten registry= or task_packages otherwise shows only as an empty list.
            logger.warning(
                "schedkit node %s has no task: %s; set task_packages or pass registry=",
                self.node_id,
                self.registry.searched(),
            )

    async def stop(self, grace: float | None = None) -> None:
        """Stop firing, let running runs finish for ``grace`` seconds (config default),
        cancel and record the rest, then close the store."""
        if self._stack is None:
            return
        stack, self._stack = self._stack, None
        if self._started_in != os.getpid():
            # A forked child's copy, only forgotten: its stop unregistered the parent's
            # node and closed store connections the two share.
            return
        self._grace = grace
        self._node.stopping = True  # a drain can no longer be undone
        deadline = self._stop_deadline
        deadline.begin(self.config.scheduler.shutdown_grace if grace is None else grace)
        given = STOP_DEADLINE.set(deadline)
        with acting_as(self.node_id) if self.is_node else contextlib.nullcontext():
            try:
                await stack.aclose()
            finally:
                STOP_DEADLINE.reset(given)
                self._grace = None
                deadline.end()
            left = sorted({*deadline.runs_left, *self._executor.running_ids})
            say_unwritten(self.node_id, deadline.unwritten, left, self.config.scheduler)
            logger.info("schedkit node %s stopped", self.node_id)

    async def _stop_executor(self) -> None:
        grace = self._grace
        await self._executor.stop(self.config.scheduler.shutdown_grace if grace is None else grace)
        # Their ends may still be on the way when the store closes (then never written).
        self._stop_deadline.runs_left = self._executor.running_ids

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _require_started(self) -> None:
        if not self.started and self.store_wait is not None:
            raise self.store_wait.not_started()
        if not self.started:
            raise NotRunningError("the scheduler is not started: call start() or use 'async with'")
        if self._started_in != os.getpid():
            raise NotRunningError.forked("Scheduler", self._started_in)

    async def ping(self) -> None:
        """Raise StoreUnavailableError unless the store answers now (readiness)."""
        await self.store.ping()
        self._store_answered()

    def _store_answered(self) -> None:
        """A call of this node's own found the store answering: whatever waits out an
        outage stops doing so (the claim loop's backoff, reads on a token's grace)."""
        self._executor.store_answered()
        self.store_outage.answered()

    # -- tasks -------------------------------------------------------------------------------

    def get_task(self, task_name: str) -> BaseTask:
        """The registered task (TaskNotFoundError naming close names otherwise)."""
        return self.registry.require(task_name)

    def find_task(self, task_name: str) -> BaseTask | None:
        """The registered task, or None (:meth:`get_task` raises instead)."""
        return self.registry.get_task(task_name)

    def list_tasks(
        self, category: str | None = None, tags: Iterable[str] | None = None
    ) -> list[BaseTask]:
        """The registered tasks by name: of ``category``, having any of ``tags``."""
        return self.registry.list_tasks(category, tags)

    # -- schedules ---------------------------------------------------------------------------

    def parse_schedule(self, schedule_config: Any) -> ScheduleSpec:
        """Validate a schedule config; policies it leaves out come from ``job_defaults``."""
        return self.schedules.parse(schedule_config)

    def preview(self, schedule_config: Any, n: int = 5) -> list[datetime]:
        """Next fires by the calendars as last read (at start, and by each fire and
        ``calendars.preview``), searched for at most a second."""
        return self.schedules.preview(schedule_config, n, self.calendars.current)

    async def add_task(
        self,
        task_name: str,
        schedule_config: Any,
        *,
        schedule_id: str | None = None,
        actor: str = SYSTEM,
        expected_version: int | None = None,
    ) -> Schedule:
        """Schedule a task (replacing the schedule with the same id; default id: the task
        name). Persisted, so it survives restarts and wins over the task's default.
        ``expected_version``: the version the change was based on (0: the schedule must
        not exist yet); a schedule changed since is a ScheduleConflictError, not
        overwritten."""
        self._require_started()
        await self.calendars.require(self.schedules.parse(schedule_config).trigger)
        self.calendars.changed()
        return await self.schedules.put(
            task_name,
            schedule_config,
            schedule_id=schedule_id,
            actor=actor,
            expected_version=expected_version,
        )

    async def remove_task(self, task_name: str, *, actor: str = SYSTEM) -> bool:
        """Remove every schedule of the task (its history stays)."""
        self._require_started()
        return await self.schedules.remove_task(task_name, actor=actor)

    async def delete_schedule(
        self,
        schedule_id: str,
        *,
        task_name: str | None = None,
        actor: str = SYSTEM,
        expected_version: int | None = None,
    ) -> None:
        """Delete a schedule; with ``task_name``, only if it is one of that task's
        (ConflictError otherwise, as ``add_task`` refuses to set another task's).
        ``expected_version``: only if it is still at that version (ScheduleConflictError
        otherwise); without it, a schedule changed meanwhile (a pause) is deleted all
        the same."""
        self._require_started()
        await self.schedules.delete(
            schedule_id, task_name=task_name, actor=actor, expected_version=expected_version
        )

    async def pause_task(
        self, task_name: str, note: str | None = None, *, actor: str = SYSTEM
    ) -> list[Schedule]:
        """Pause every schedule of the task, with an optional note for operators."""
        self._require_started()
        return await self.schedules.set_paused(task_name, True, note, actor=actor)

    async def resume_task(self, task_name: str, *, actor: str = SYSTEM) -> list[Schedule]:
        """Resume a paused task; fires that fell in the pause are not run (they were
        paused on purpose) and the next fire is computed from now."""
        self._require_started()
        return await self.schedules.set_paused(task_name, False, None, actor=actor)

    async def add_schedules(
        self,
        entries: Sequence[ScheduleEntry | EntryError],
        *,
        actor: str = SYSTEM,
        what: str = "line",
    ) -> list[Schedule]:
        """Create many schedules, all or nothing: each entry is validated first
        (BulkScheduleError lists every bad entry by its ``line``, named ``what``, with
        each EntryError given among ``entries``: an item its reader could make no entry
        of), then all are written in one batch. Only creates (an id already stored is an
        error)."""
        self._require_started()
        return await self.schedules.put_many(entries, actor=actor, what=what)

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        """The stored schedule, or None."""
        return await self.schedules.get(schedule_id)

    async def list_schedules(
        self, task_name: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[Schedule]:
        """Schedules in id order (of one task if given); a page with ``limit``."""
        return await self.schedules.of_task(task_name, limit=limit, offset=offset)

    async def count_schedules(self, task_name: str | None = None) -> int:
        """How many schedules are stored (of one task if given)."""
        return await self.schedules.count(task_name)

    async def pending_defaults(self, tasks: Iterable[BaseTask]) -> list[Schedule]:
        """The default schedules of ``tasks`` that a node's start will store, as it will
        store them: none is stored and it was not deleted on purpose. Only a façade
        started with ``store_defaults=False`` (a command that writes nothing) finds any."""
        return await self.schedules.pending_defaults(tasks)

    async def schedule_counts(self) -> list[ScheduleCounts]:
        """Per task with schedules: how many, how many paused, the earliest next fire."""
        return await self.store.schedule_counts()

    async def next_schedules(self, limit: int, task_name: str | None = None) -> list[Schedule]:
        """The ``limit`` unpaused schedules firing soonest (of one task if given)."""
        return await self.store.due_schedules(END_OF_TIME, limit, task_name=task_name)

    async def get_job_info(self, task_name: str | None = None) -> list[dict[str, Any]]:
        """The document's job listing: id, name, next_run_time (the next fire its
        business calendar allows, as the console shows it), trigger, executor,
        max_instances (plus paused and pause_note)."""
        schedules = await self.store.list_schedules(task_name)
        return self.schedules.job_info(schedules, await self.allowed_fires(schedules))

    async def allowed_fires(
        self, schedules: Iterable[Schedule], *, deadline: float | None = None
    ) -> dict[str, AllowedFire]:
        """By id, the next fire each schedule neither paused nor ended may run at: its
        stored (nominal) next fire, or the first one from there its business calendar
        allows (:mod:`schedkit.service.next_fires`). ``deadline``: a request's
        ``fire_searches.deadline()``, shared by its calls (default: a budget of its own)."""
        return await next_fires.allowed_fires(
            self.calendars, self.fire_searches, schedules, deadline=deadline
        )

    # -- events ------------------------------------------------------------------------------

    def add_listener(
        self, listener: Listener, kinds: Iterable[EventKind] | None = None
    ) -> Callable[[], None]:
        """The document's listeners: called with a RunEvent for each event of ``kinds``;
        returns a function that removes the listener."""
        return self._events.add_listener(listener, kinds)

    @contextlib.contextmanager
    def subscribe(self, maxsize: int = 1000) -> Iterator[asyncio.Queue[RunEvent]]:
        """A queue receiving every run event of this node while the block runs (a full
        queue drops its oldest event)."""
        queue = self._events.subscribe(maxsize)
        try:
            yield queue
        finally:
            self._events.unsubscribe(queue)
