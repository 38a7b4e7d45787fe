"""The service façade: ``schedkit.Scheduler`` wires store, registry, scheduler loop and
executor, and offers the design document's methods (``add_task``, ``remove_task``,
``pause_task``, ``resume_task``, ``get_job_info``) plus run control and history queries.

The API, console and CLI are thin adapters over this class. Every mutating method takes
an ``actor`` and writes an audit event.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self
from zoneinfo import ZoneInfo

from schedkit.clock import Clock, SystemClock
from schedkit.config import SchedkitConfig
from schedkit.errors import (
    ConflictError,
    NotRunningError,
    ResultFileNotFoundError,
    RunNotFoundError,
    ScheduleNotFoundError,
    StoreError,
    TaskNotFoundError,
    ValidationError,
)
from schedkit.events import EventBus, EventKind, Listener, RunEvent
from schedkit.executor import Executor
from schedkit.logcapture import RunLogBuffer, RunLogHandler, install_record_factory
from schedkit.models import (
    AuditEvent,
    LogLine,
    Node,
    Run,
    RunFilter,
    RunStatus,
    Schedule,
    TaskStats,
    TriggerSource,
    new_id,
    to_json,
)
from schedkit.registry import TaskRegistry, task_registry
from schedkit.scheduler import SchedulerLoop
from schedkit.store import Store, create_store
from schedkit.task import BaseTask
from schedkit.triggers import ScheduleSpec, trigger_from_json

logger = logging.getLogger(__name__)

SYSTEM = "system"
__version__ = "0.1.0"


class Extension(Protocol):
    """Something started with the scheduler and stopped after it (monitor, plugins)."""

    async def start(self, scheduler: Scheduler) -> None: ...

    async def stop(self) -> None: ...


_heap_frozen = False


def _freeze_startup_heap() -> None:
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


class Scheduler:
    """A schedkit node. ``async with Scheduler(config) as s: ...`` or start()/stop().

    ``config``: a :class:`SchedkitConfig`, a dict of its fields, the design document's
    ``SCHEDULER_CONFIG`` dict, a TOML path, or None (environment and defaults).
    ``registry`` defaults to the global ``task_registry`` (the document's singleton).
    """

    def __init__(
        self,
        config: SchedkitConfig | Mapping[str, Any] | str | Path | None = None,
        *,
        registry: TaskRegistry | None = None,
        store: Store | None = None,
        clock: Clock | None = None,
        tasks: Iterable[type[BaseTask] | BaseTask] = (),
        extensions: Iterable[Extension] = (),
    ) -> None:
        self.config = _load_config(config)
        self.registry = registry if registry is not None else task_registry
        for t in tasks:
            self.registry.register_task(t)
        self.store = store or create_store(self.config.store_url, **self.config.store_options)
        self.clock: Clock = clock or SystemClock()
        self.events = EventBus()
        self.tz = ZoneInfo(self.config.timezone)
        host = socket.gethostname()
        self.node_id = f"{self.config.node_name or host}:{os.getpid()}:{new_id()[-6:]}"
        self._logs = RunLogBuffer()
        self._log_handler = RunLogHandler(self._logs)
        self.executor = Executor(
            store=self.store,
            registry=self.registry,
            events=self.events,
            clock=self.clock,
            node_id=self.node_id,
            config=self.config,
            logs=self._logs,
        )
        self.loop = SchedulerLoop(
            store=self.store,
            registry=self.registry,
            executor=self.executor,
            events=self.events,
            clock=self.clock,
            node_id=self.node_id,
            config=self.config,
        )
        self.extensions: list[Extension] = list(extensions)
        if self.is_node:
            self.extensions.extend(_default_extensions(self.extensions))
        self._started_at: datetime | None = None
        self._node_task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._started_at is not None

    @property
    def is_node(self) -> bool:
        """False for a management client: neither firing nor executing, it registers no
        node and gets no monitor (CLI commands, an API-only app)."""
        return self.config.scheduler.enabled or self.config.executor.enabled

    @property
    def is_leader(self) -> bool:
        return self.loop.is_leader

    async def start(self) -> None:
        """Open the store, discover tasks, register their default schedules, start firing
        (if this node wins the lease) and executing. Fires missed while the service was
        down are handled on the first tick, per each schedule's misfire/coalesce policy."""
        if self.started:
            return
        await self.store.open()
        try:
            self.registry.discover(self.config.task_packages)
            if self.config.entry_points:
                self.registry.discover_entry_points()
            await self._sync_default_schedules()
            if self.is_node:
                await self._heartbeat_node()
        except BaseException:
            await self.store.close()
            raise
        install_record_factory()
        logging.getLogger().addHandler(self._log_handler)
        task_logger = logging.getLogger("schedkit.task")
        if task_logger.level == logging.NOTSET:
            task_logger.setLevel(logging.INFO)
        self._started_at = self.clock.now()
        started: list[Extension] = []
        try:
            for extension in self.extensions:
                await extension.start(self)
                started.append(extension)
        except BaseException:
            for extension in reversed(started):
                await extension.stop()
            logging.getLogger().removeHandler(self._log_handler)
            self._started_at = None
            await self.store.close()
            raise
        await self.executor.start()
        if self.config.scheduler.enabled:
            if self.config.scheduler.gc_freeze:
                _freeze_startup_heap()
            self.loop.start()
        if self.is_node:
            self._node_task = asyncio.create_task(self._node_loop(), name="schedkit-node")
        logger.info(
            "schedkit node %s started: %d task(s), store %s",
            self.node_id,
            len(self.registry),
            self.store.display_url,
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stop firing, let running runs finish for ``grace`` seconds (config default),
        cancel and record the rest, then close the store."""
        if not self.started:
            return
        if self.config.scheduler.enabled:
            await self.loop.stop()
        await self.executor.stop(self.config.scheduler.shutdown_grace if grace is None else grace)
        if self._node_task is not None:
            self._node_task.cancel()
            await asyncio.gather(self._node_task, return_exceptions=True)
            self._node_task = None
            try:
                await self.store.delete_node(self.node_id)
            except StoreError as exc:
                logger.warning("could not unregister node %s: %s", self.node_id, exc)
        await self.events.drain()
        for extension in reversed(self.extensions):
            await extension.stop()
        logging.getLogger().removeHandler(self._log_handler)
        await self.store.close()
        self._started_at = None
        logger.info("schedkit node %s stopped", self.node_id)

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
        if not self.started:
            raise NotRunningError("the scheduler is not started: call start() or use 'async with'")

    async def _node_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.scheduler.heartbeat_interval)
            try:
                await self._heartbeat_node()
            except StoreError as exc:
                logger.warning("node heartbeat failed: %s", exc)

    async def _heartbeat_node(self) -> None:
        now = self.clock.now()
        roles = [
            r
            for r, on in (
                ("scheduler", self.config.scheduler.enabled),
                ("executor", self.config.executor.enabled),
            )
            if on
        ]
        await self.store.upsert_node(
            Node(
                id=self.node_id,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                started_at=self._started_at or now,
                heartbeat_at=now,
                roles=roles,
                version=__version__,
                info={"leader": self.is_leader, "running": len(self.executor.running_ids)},
            )
        )

    # -- tasks -------------------------------------------------------------------------------

    def get_task(self, task_name: str) -> BaseTask:
        return self.registry.require(task_name)

    def list_tasks(
        self, category: str | None = None, tags: Iterable[str] | None = None
    ) -> list[BaseTask]:
        return self.registry.list_tasks(category, tags)

    # -- schedules ---------------------------------------------------------------------------

    def parse_schedule(self, schedule_config: Any) -> ScheduleSpec:
        """Validate a schedule config (document dict, nested spec or crontab string);
        policies it leaves out come from ``job_defaults``."""
        spec = ScheduleSpec.parse(schedule_config, default_timezone=self.config.timezone)
        defaults = self.config.job_defaults.model_dump()
        missing = {k: v for k, v in defaults.items() if k not in spec.model_fields_set}
        return spec.model_copy(update=missing) if missing else spec

    async def add_task(
        self,
        task_name: str,
        schedule_config: Any,
        *,
        schedule_id: str | None = None,
        actor: str = SYSTEM,
    ) -> Schedule:
        """Schedule a task (replacing the schedule with the same id; default id: the task
        name). Persisted, so it survives restarts and wins over the task's default."""
        self._require_started()
        task = self.registry.require(task_name)
        spec = self.parse_schedule(schedule_config)
        kwargs = task.validate_kwargs(spec.kwargs)
        sid = schedule_id or task_name
        before = await self.store.get_schedule(sid)
        if before is not None and before.task_name != task_name:
            raise ConflictError(f"schedule {sid!r} belongs to task {before.task_name!r}")
        schedule = self._schedule_from_spec(sid, task, spec, kwargs, "runtime", before)
        await self.store.put_schedule(
            schedule, expected_version=before.version if before is not None else 0
        )
        await self.store.delete_state(_removed_key(sid))
        self.loop.wake()
        await self._audit(actor, "schedule.put", sid, before, schedule)
        return schedule

    async def remove_task(self, task_name: str, *, actor: str = SYSTEM) -> bool:
        """Remove every schedule of the task (its history stays)."""
        self._require_started()
        removed = False
        for schedule in await self.store.list_schedules(task_name):
            removed |= await self._delete(schedule, actor)
        return removed

    async def delete_schedule(self, schedule_id: str, *, actor: str = SYSTEM) -> None:
        self._require_started()
        await self._delete(await self._require_schedule(schedule_id), actor)

    async def _delete(self, schedule: Schedule, actor: str) -> bool:
        """Delete a schedule; a task's default one is remembered as removed so that the
        next start does not bring it back from the code (until ``add_task`` again)."""
        deleted = await self.store.delete_schedule(schedule.id)
        if schedule.id == schedule.task_name:
            entry = await self.store.get_state(_removed_key(schedule.id))
            await self.store.set_state(
                _removed_key(schedule.id),
                {"by": actor, "at": self.clock.now().isoformat()},
                entry.version if entry is not None else 0,
            )
        self.loop.wake()
        await self._audit(actor, "schedule.delete", schedule.id, schedule, None)
        return deleted

    async def pause_task(
        self, task_name: str, note: str | None = None, *, actor: str = SYSTEM
    ) -> list[Schedule]:
        """Pause every schedule of the task, with an optional note for operators."""
        return await self._set_paused(task_name, True, note, actor)

    async def resume_task(self, task_name: str, *, actor: str = SYSTEM) -> list[Schedule]:
        """Resume a paused task; fires that fell in the pause are not run (they were
        paused on purpose) and the next fire is computed from now."""
        return await self._set_paused(task_name, False, None, actor)

    async def _set_paused(
        self, task_name: str, paused: bool, note: str | None, actor: str
    ) -> list[Schedule]:
        self._require_started()
        self.registry.require(task_name)
        schedules = await self.store.list_schedules(task_name)
        if not schedules:
            raise ConflictError(f"task {task_name!r} has no schedule to pause or resume")
        if not paused and not any(s.paused for s in schedules):
            raise ConflictError(f"task {task_name!r} is not paused")
        now = self.clock.now()
        changed = []
        for old in schedules:
            if old.paused == paused and (not paused or old.pause_note == note):
                changed.append(old)
                continue
            next_fire = old.next_fire_time
            if not paused:
                next_fire = trigger_from_json(old.trigger).next_fire_time(None, now)
            new = _bump(
                old,
                now,
                paused=paused,
                pause_note=note if paused else None,
                next_fire_time=next_fire,
            )
            await self.store.put_schedule(new, expected_version=old.version)
            await self._audit(
                actor,
                "schedule.pause" if paused else "schedule.resume",
                old.id,
                old,
                new,
                detail=note,
            )
            changed.append(new)
        self.loop.wake()
        return changed

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        return await self.store.get_schedule(schedule_id)

    async def list_schedules(self, task_name: str | None = None) -> list[Schedule]:
        return await self.store.list_schedules(task_name)

    async def _require_schedule(self, schedule_id: str) -> Schedule:
        schedule = await self.store.get_schedule(schedule_id)
        if schedule is None:
            raise ScheduleNotFoundError(schedule_id)
        return schedule

    async def get_job_info(self, task_name: str | None = None) -> list[dict[str, Any]]:
        """The document's job listing: id, name, next_run_time, trigger, executor,
        max_instances (plus paused and pause_note)."""
        infos = []
        for s in await self.store.list_schedules(task_name):
            task = self.registry.get_task(s.task_name)
            infos.append(
                {
                    "id": s.id,
                    "name": task.task_description if task else s.task_name,
                    "next_run_time": None
                    if s.paused or s.next_fire_time is None
                    else s.next_fire_time.astimezone(self.tz).isoformat(),
                    "trigger": trigger_from_json(s.trigger).describe("en"),
                    "executor": "asyncio" if task is None or task.is_async else "threadpool",
                    "max_instances": s.max_instances,
                    "paused": s.paused,
                    "pause_note": s.pause_note,
                }
            )
        return infos

    def _schedule_from_spec(
        self,
        schedule_id: str,
        task: BaseTask,
        spec: ScheduleSpec,
        kwargs: dict[str, Any],
        origin: str,
        existing: Schedule | None,
    ) -> Schedule:
        now = self.clock.now()
        trigger_json = spec.to_json()["trigger"]
        keep_series = (
            existing is not None
            and existing.trigger == trigger_json
            and not existing.paused
            and existing.next_fire_time is not None
        )
        next_fire = (
            existing.next_fire_time
            if keep_series and existing is not None
            else trigger_from_json(trigger_json).next_fire_time(None, now)
        )
        return Schedule(
            id=schedule_id,
            task_name=task.task_name,
            trigger=trigger_json,
            kwargs=kwargs,
            paused=existing.paused if existing is not None else False,
            pause_note=existing.pause_note if existing is not None else None,
            misfire_grace_time=spec.misfire_grace_time,
            coalesce=spec.coalesce,
            max_instances=spec.max_instances,
            overlap=spec.overlap,
            timeout=spec.timeout,
            origin=origin,
            next_fire_time=next_fire,
            last_fire_time=existing.last_fire_time if existing is not None else None,
            version=existing.version + 1 if existing is not None else 1,
            created_at=existing.created_at if existing is not None else now,
            updated_at=now,
        )

    async def _sync_default_schedules(self) -> None:
        """Give each task its default schedule, keeping runtime changes and the pending
        series (so fires missed while down are still due on the first tick)."""
        for task in self.registry:
            config = task.default_schedule
            existing = await self.store.get_schedule(task.task_name)
            if config is None or (existing is not None and existing.origin != "code"):
                continue
            if existing is None and await self.store.get_state(_removed_key(task.task_name)):
                continue
            spec = self.parse_schedule(config)
            schedule = self._schedule_from_spec(
                task.task_name, task, spec, task.validate_kwargs(spec.kwargs), "code", existing
            )
            if existing is not None and _same_definition(existing, schedule):
                continue
            await self.store.put_schedule(
                schedule, expected_version=existing.version if existing is not None else 0
            )
            await self._audit(SYSTEM, "schedule.default", schedule.id, existing, schedule)

    def preview(self, schedule_config: Any, n: int = 5) -> list[datetime]:
        from schedkit.triggers import preview

        spec = self.parse_schedule(schedule_config)
        return preview(spec, n, now=self.clock.now(), default_timezone=self.config.timezone)

    # -- runs --------------------------------------------------------------------------------

    async def run_now(
        self,
        task_name: str,
        kwargs: Mapping[str, Any] | None = None,
        *,
        wait: bool = False,
        timeout: float | None = None,
        max_attempts: int | None = None,
        actor: str = SYSTEM,
    ) -> Run:
        """Run a task now with ``kwargs`` (validated first). With ``wait``, return when the
        run has finished (or ``timeout`` passed: then the run as it is).
        ``max_attempts`` overrides the task's retry policy for this run (1: no retry)."""
        self._require_started()
        task = self.registry.require(task_name)
        if max_attempts is not None and max_attempts < 1:
            raise ValidationError("must be >= 1", field="max_attempts")
        stored_kwargs = task.validate_kwargs(kwargs)
        run = await self._create_manual_run(task, stored_kwargs, actor, max_attempts=max_attempts)
        await self._audit(actor, "run.create", run.id, None, None, detail=task_name)
        if wait:
            return await self.wait_for_run(run.id, timeout)
        return run

    async def _create_manual_run(
        self,
        task: BaseTask,
        kwargs: dict[str, Any],
        actor: str,
        source: TriggerSource = TriggerSource.MANUAL,
        max_attempts: int | None = None,
    ) -> Run:
        now = self.clock.now()
        run = Run(
            id=new_id(),
            task_name=task.task_name,
            schedule_id=None,
            trigger_source=source,
            scheduled_for=now,
            priority=int(task.task_priority),
            max_attempts=max_attempts or task.retry_policy.max_attempts,
            kwargs=kwargs,
            not_before=now,
            timeout=task.timeout,
            created_at=now,
            created_by=actor,
        )
        claimed = self.executor.reserve(1)
        if claimed:
            run = Run(
                **{
                    **_fields(run),
                    "status": RunStatus.RUNNING,
                    "node_id": self.node_id,
                    "started_at": now,
                    "heartbeat_at": now,
                }
            )
        try:
            await self.store.insert_runs([run])
        except BaseException:
            self.executor.release(claimed)
            raise
        self.events.publish(RunEvent(kind=EventKind.CREATED, run=run))
        if claimed:
            self.executor.start_claimed(run)
        else:
            self.executor.wake()
        return run

    async def wait_for_run(self, run_id: str, timeout: float | None = None) -> Run:
        """Wait until the run is finished (retries included); on timeout return it as is."""
        done = asyncio.Event()

        def on_event(event: RunEvent) -> None:
            if event.run.id == run_id:
                done.set()

        remove = self.events.add_listener(on_event, [EventKind.FINISHED, EventKind.RETRYING])
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            while True:
                # Cleared before reading, so an event published during the read is kept.
                done.clear()
                run = await self.get_run(run_id)
                if run.status.finished:
                    return run
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return run
                # Local runs wake us by event; runs on other nodes are polled.
                step = 0.5 if remaining is None else min(0.5, remaining)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), step)
        finally:
            remove()

    async def cancel_run(
        self, run_id: str, *, actor: str = SYSTEM, reason: str | None = None
    ) -> Run:
        """Cancel a pending run at once, or ask a running run to stop (on any node)."""
        self._require_started()
        current = await self.get_run(run_id)
        if current.status.finished:
            raise ConflictError(f"run {run_id} is already {current.status.value}")
        why = reason or f"cancelled by {actor}"
        run = await self.store.request_cancel(run_id, self.clock.now(), why)
        if run is None:
            raise RunNotFoundError(run_id)
        if run.status is RunStatus.RUNNING:
            if not self.executor.cancel_local(run_id, why):
                self.events.publish(RunEvent(kind=EventKind.CANCEL_REQUESTED, run=run))
        elif run.status is RunStatus.CANCELLED:
            self.events.publish(RunEvent(kind=EventKind.FINISHED, run=run))
            self.executor.wake()  # runs queued behind it are released
        await self._audit(actor, "run.cancel", run_id, None, None, detail=why)
        return run

    async def retry_run(self, run_id: str, *, actor: str = SYSTEM) -> Run:
        """Run a finished run's task again with the same kwargs (a new manual run)."""
        self._require_started()
        old = await self.get_run(run_id)
        if not old.status.finished:
            raise ConflictError(f"run {run_id} is still {old.status.value}")
        task = self.registry.require(old.task_name)
        run = await self._create_manual_run(task, dict(old.kwargs), actor, TriggerSource.RETRY)
        await self._audit(actor, "run.retry", run.id, None, None, detail=f"retry of {run_id}")
        return run

    async def get_run(self, run_id: str) -> Run:
        run = await self.store.get_run(run_id)
        if run is None:
            raise RunNotFoundError(run_id)
        return run

    async def list_runs(
        self,
        task_name: str | None = None,
        *,
        status: RunStatus | Sequence[RunStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        trigger_source: TriggerSource | None = None,
        schedule_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Run]:
        """History, newest first."""
        flt = _filter(task_name, status, since, until, trigger_source, schedule_id)
        return await self.store.list_runs(flt, limit=limit, offset=offset)

    async def count_runs(
        self,
        task_name: str | None = None,
        *,
        status: RunStatus | Sequence[RunStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        trigger_source: TriggerSource | None = None,
        schedule_id: str | None = None,
    ) -> int:
        flt = _filter(task_name, status, since, until, trigger_source, schedule_id)
        return await self.store.count_runs(flt)

    async def result_file(self, run_id: str, name: str) -> Path:
        """The file ``name`` that the run's result lists in ``data.files``, inside
        ``result_files_dir``. Nothing else is ever served (no path outside the folder,
        no file the run did not name)."""
        run = await self.get_run(run_id)
        data = (run.result or {}).get("data")
        listed = data.get("files") if isinstance(data, dict) else None
        base = self.config.result_files_dir
        if base is None:
            raise ResultFileNotFoundError(run_id, name, "result_files_dir is not configured")
        if not isinstance(listed, list) or name not in listed:
            raise ResultFileNotFoundError(run_id, name, "the run's result does not list it")
        return await asyncio.to_thread(_file_inside, base, run_id, name)

    async def get_logs(
        self, run_id: str, *, after_seq: int = -1, limit: int = 1000
    ) -> list[LogLine]:
        await self.get_run(run_id)
        return await self.store.get_logs(run_id, after_seq=after_seq, limit=limit)

    async def stats(
        self, window: timedelta = timedelta(days=1), task_name: str | None = None
    ) -> list[TaskStats]:
        return await self.store.run_stats(self.clock.now() - window, task_name)

    async def purge(self, older_than: timedelta, *, actor: str = SYSTEM) -> int:
        """Delete finished runs (and their logs) that finished more than ``older_than`` ago."""
        count = await self.store.purge_runs(self.clock.now() - older_than)
        await self._audit(
            actor,
            "runs.purge",
            "runs",
            None,
            None,
            detail=f"{count} run(s) older than {older_than}",
        )
        return count

    def add_listener(self, listener: Listener, kinds: Iterable[EventKind] | None = None) -> Any:
        """The document's listeners: called with a RunEvent for each event of ``kinds``."""
        return self.events.add_listener(listener, kinds)

    # -- audit -------------------------------------------------------------------------------

    async def _audit(
        self,
        actor: str,
        action: str,
        target: str,
        before: Any,
        after: Any,
        detail: str | None = None,
    ) -> None:
        await self.store.add_audit(
            AuditEvent(
                id=new_id(),
                at=self.clock.now(),
                actor=actor,
                action=action,
                target=target,
                before=to_json(before) if before is not None else None,
                after=to_json(after) if after is not None else None,
                detail=detail,
            )
        )


def _load_config(config: SchedkitConfig | Mapping[str, Any] | str | Path | None) -> SchedkitConfig:
    if isinstance(config, SchedkitConfig):
        return config
    if config is None:
        return SchedkitConfig.load()
    if isinstance(config, str | Path):
        return SchedkitConfig.load(config)
    if "jobstores" in config or "executors" in config:
        return SchedkitConfig.from_document(dict(config))
    return SchedkitConfig.load(**config)


def _default_extensions(given: Sequence[Extension]) -> list[Extension]:
    """A monitor (metrics, alerts, traces) for every node that has none, when its extra
    is installed."""
    try:
        from schedkit.monitor import Monitor
    except ImportError as exc:  # the "alerts" extra (prometheus-client, apprise) is absent
        logger.info("no monitor (metrics, alerts, traces): %s", exc)
        return []
    return [] if any(isinstance(e, Monitor) for e in given) else [Monitor()]


def _file_inside(base: str, run_id: str, name: str) -> Path:
    root = Path(base).resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise ResultFileNotFoundError(run_id, name, "outside result_files_dir")
    if not path.is_file():
        raise ResultFileNotFoundError(run_id, name, "the file no longer exists")
    return path


def _removed_key(schedule_id: str) -> str:
    return f"schedule-removed:{schedule_id}"


def _fields(run: Run) -> dict[str, Any]:
    return {name: getattr(run, name) for name in run.__dataclass_fields__}


def _bump(old: Schedule, now: datetime, **changes: Any) -> Schedule:
    values = {name: getattr(old, name) for name in old.__dataclass_fields__}
    values.update(changes, version=old.version + 1, updated_at=now)
    return Schedule(**values)


def _same_definition(a: Schedule, b: Schedule) -> bool:
    keys = (
        "trigger",
        "kwargs",
        "misfire_grace_time",
        "coalesce",
        "max_instances",
        "overlap",
        "timeout",
    )
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def _filter(
    task_name: str | None,
    status: RunStatus | Sequence[RunStatus] | None,
    since: datetime | None,
    until: datetime | None,
    trigger_source: TriggerSource | None,
    schedule_id: str | None,
) -> RunFilter:
    statuses = None
    if status is not None:
        statuses = frozenset([status] if isinstance(status, RunStatus) else status)
    return RunFilter(
        task_name=task_name,
        statuses=statuses,
        since=since,
        until=until,
        trigger_source=trigger_source,
        schedule_id=schedule_id,
    )


__all__ = ["Scheduler", "TaskNotFoundError"]
