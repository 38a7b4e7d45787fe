"""Run control and history: start a run by hand, wait for it, cancel or retry it, and
read what happened."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from schedkit.clock import Clock
from schedkit.config import SchedkitConfig
from schedkit.engine import runs
from schedkit.engine.executor import Executor
from schedkit.errors import (
    ConflictError,
    ResultFileNotFoundError,
    RunNotFoundError,
    StoreError,
    ValidationError,
)
from schedkit.events import EventBus, EventKind, RunEvent
from schedkit.limits import check_kwargs_size
from schedkit.models import (
    HourlyRunCount,
    LogLine,
    Run,
    RunFilter,
    RunStatus,
    TaskStats,
    TriggerSource,
)
from schedkit.registry import TaskRegistry
from schedkit.service import retention
from schedkit.service.audit import SYSTEM, Auditor
from schedkit.service.deleted_schedules import prune_deleted
from schedkit.service.run_filter import run_filter
from schedkit.stopping import wait_for
from schedkit.store.base import Store
from schedkit.store.values import RollupRebuild
from schedkit.task import BaseTask

#: How often a wait for a run executing on another node reads it again.
WAIT_POLL = 0.5


class RunControl:
    def __init__(
        self,
        *,
        store: Store,
        registry: TaskRegistry,
        clock: Clock,
        config: SchedkitConfig,
        executor: Executor,
        events: EventBus,
        audit: Auditor,
        node_id: str,
        tz: tzinfo,
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.config = config
        self.executor = executor
        self.events = events
        self.audit = audit
        self.node_id = node_id
        #: The scheduler's zone: naive date-times in kwargs are wall times there.
        self.tz = tz

    # -- starting and stopping runs --------------------------------------------------------

    async def run_now(
        self,
        task_name: str,
        kwargs: Mapping[str, Any] | None,
        *,
        max_attempts: int | None,
        actor: str,
        idempotency_key: str | None = None,
    ) -> Run:
        """Create a manual run. With ``idempotency_key``, the run of ``task_name``
        created earlier with that key is returned instead, as long as it is kept in
        the history (see :func:`schedkit.engine.runs.keyed_id`)."""
        task = self.registry.require(task_name)
        if max_attempts is not None and max_attempts < 1:
            raise ValidationError("must be >= 1", field="max_attempts")
        stored_kwargs = self.stored_kwargs(task, kwargs)
        run, created = await self._create_once(
            task, stored_kwargs, actor, idempotency_key, max_attempts=max_attempts
        )
        if created:
            await self.audit.record(actor, "run.create", run.id, detail=task_name)
        return run

    def stored_kwargs(self, task: BaseTask, kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
        """``kwargs`` as a manual run of ``task`` stores them: checked against its declared
        parameters (naive date-times read in the scheduler's zone) and the size limit."""
        stored = task.validate_kwargs(kwargs, tz=self.tz)
        check_kwargs_size(stored, self.config.limits.max_kwargs_bytes)
        return stored

    async def retry(self, run_id: str, *, actor: str, idempotency_key: str | None = None) -> Run:
        """Run a finished run's task again with the same kwargs (a new manual run; once
        per ``idempotency_key``, as :meth:`run_now`)."""
        old = await self.get(run_id)
        if not old.status.finished:
            raise ConflictError(f"run {run_id} is still {old.status.value}")
        task = self.registry.require(old.task_name)
        # On the executor the finished run had (its schedule's choice, if it had one).
        run, created = await self._create_once(
            task,
            dict(old.kwargs),
            actor,
            idempotency_key,
            source=TriggerSource.RETRY,
            executor=old.executor,
        )
        if created:
            await self.audit.record(actor, "run.retry", run.id, detail=f"retry of {run_id}")
        return run

    async def _create_once(
        self, task: BaseTask, kwargs: dict[str, Any], actor: str, key: str | None, **options: Any
    ) -> tuple[Run, bool]:
        """:meth:`_create`, or with an idempotency ``key`` the run created earlier with it
        (and False)."""
        if key is None:
            return await self._create(task, kwargs, actor, **options)
        run_id = runs.keyed_id(task.task_name, key)
        # Most repeats find their run here, without taking a slot.
        earlier = await self.store.get_run(run_id)
        run, created = (
            (earlier, False)
            if earlier is not None
            else await self._create(task, kwargs, actor, run_id=run_id, **options)
        )
        if not created:
            _check_repeat(key, kwargs, run)
        return run, created

    async def check_key(self, task: BaseTask, kwargs: dict[str, Any], key: str) -> None:
        """ConflictError if the run of ``task`` created with the idempotency ``key`` has
        other ``kwargs`` (as :meth:`run_now` would raise); nothing is created."""
        earlier = await self.store.get_run(runs.keyed_id(task.task_name, key))
        if earlier is not None:
            _check_repeat(key, kwargs, earlier)

    async def _create(
        self,
        task: BaseTask,
        kwargs: dict[str, Any],
        actor: str,
        source: TriggerSource = TriggerSource.MANUAL,
        max_attempts: int | None = None,
        executor: str | None = None,
        run_id: str | None = None,
    ) -> tuple[Run, bool]:
        """Store a manual run; it starts on this node at once when a slot is free here,
        else any node claims it (or it is handed to its executor). A ``run_id`` given
        (an idempotency key's) may be stored already: that run is returned as it is,
        with False (not created by this call)."""
        now = self.clock.now()
        run = runs.manual(
            task,
            kwargs,
            now,
            actor=actor,
            source=source,
            max_attempts=max_attempts,
            executor=executor,
            run_id=run_id,
        )
        with self.executor.reserve(1) as grant:
            if self.executor.starts_here(run.executor, run.labels) and grant.take():
                run = runs.claimed(run, self.node_id, now)
            earlier = await self._insert(run, keyed=run_id is not None)
            if earlier is not None:
                return earlier, False
            self.events.publish(RunEvent(kind=EventKind.CREATED, run=run))
            if run.status is RunStatus.RUNNING:
                self.executor.launch(grant, [run])
            else:
                self.executor.wake()
        return run, True

    async def _insert(self, run: Run, *, keyed: bool) -> Run | None:
        """Store a new run: None when this call stored it, else the run stored earlier
        under its id (a keyed id's: another request with the same idempotency key).

        A failed insert may have committed with its answer lost: a run stored claimed by
        this node would then never start here, and be judged lost (and alerted on) once
        its heartbeats are missed, a pending one would be neither announced nor audited
        nor claimed before the next poll, while the caller, told of an error, triggers
        it again. So an insert that failed is looked up by the run's id before its error
        is raised. Found, it is this call's unless its id is keyed and the run is another
        request's (:meth:`_ours`)."""
        try:
            inserted = await self.store.insert_runs([run])
        except StoreError:
            with contextlib.suppress(StoreError):
                found = await self.store.get_run(run.id)
                if found is not None:
                    return None if not keyed or self._ours(run, found) else found
            raise
        if inserted:
            return None
        earlier = await self.store.get_run(run.id)
        if earlier is None:  # purged between the two calls
            raise ConflictError(f"run {run.id} was removed while it was being created; retry")
        return earlier

    def _ours(self, run: Run, found: Run) -> bool:
        """Whether ``found``, stored under the keyed id of ``run`` whose insert failed,
        is this call's. Another request with the same key made its run at another
        instant (stores keep times to the microsecond) or for another actor. One stored
        claimed here is this call's to start only while nothing executes it (a request
        with the same key that stored it here started it before yielding)."""
        if found.created_at != run.created_at or found.created_by != run.created_by:
            return False
        if run.status is not RunStatus.RUNNING:
            return True
        return (
            found.status is RunStatus.RUNNING
            and found.node_id == self.node_id
            and found.attempt == 1
            and not self.executor.holds(found.id)
        )

    async def cancel(self, run_id: str, *, actor: str, reason: str | None) -> Run:
        """Cancel a pending run at once, or ask a running run to stop (on any node)."""
        if reason is not None and "\0" in reason:
            # PostgreSQL refuses it in the run's end, written again and again: the run
            # stayed running for good, holding a slot of its node.
            raise ValidationError("holds a NUL character, which no store accepts", field="reason")
        current = await self.get(run_id)
        if current.status.finished:
            raise ConflictError(f"run {run_id} is already {current.status.value}")
        why = reason or f"cancelled by {actor}"
        run = await self.request_cancel(run_id, why)
        if run is None:
            raise RunNotFoundError(run_id)
        await self.audit.record(actor, "run.cancel", run_id, detail=why)
        return run

    async def request_cancel(self, run_id: str, why: str) -> Run | None:
        """Cancel a pending run now or ask a running one to stop, wherever it runs (not
        audited: the caller records the action it is part of). None for an unknown run."""
        run = await self.store.request_cancel(run_id, self.clock.now(), why)
        if run is None:
            return None
        if run.status is RunStatus.RUNNING:
            if not self.executor.cancel_local(run_id, why):
                self.events.publish(RunEvent(kind=EventKind.CANCEL_REQUESTED, run=run))
        elif run.status is RunStatus.CANCELLED:
            self.events.publish(RunEvent(kind=EventKind.FINISHED, run=run))
            self.executor.wake()  # runs queued behind it are released
            await self.executor.flows.step_ended(run)  # a workflow step: what follows it
        return run

    async def wait(self, run_id: str, timeout: float | None = None) -> Run:
        """Wait until the run is finished (retries included); on timeout return it as is."""
        done = asyncio.Event()
        announced = False

        def on_event(event: RunEvent) -> None:
            nonlocal announced
            if event.run.id == run_id:
                announced = announced or event.run.status.finished
                done.set()

        # Remote too: a run ending on another node wakes us through the notify channel
        # (an end on a node without one is found by the poll below).
        remove = self.events.add_listener(
            on_event, [EventKind.FINISHED, EventKind.RETRYING], remote=True
        )
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            while True:
                # Cleared before reading, so an event published during the read is kept.
                done.clear()
                run = await self.get(run_id)
                # A run ending here is stored finished a moment before its end is
                # announced; returning then would beat the listeners (metrics, spans,
                # hooks) a caller checks next.
                if run.status.finished and (announced or not self.executor.holds(run_id)):
                    return run
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return run
                # Ends here, or announced on a channel, wake us; the poll finds the rest.
                step = WAIT_POLL if remaining is None else min(WAIT_POLL, remaining)
                with contextlib.suppress(TimeoutError):
                    await wait_for(done.wait(), step)
        finally:
            remove()

    # -- history ---------------------------------------------------------------------------

    async def get(self, run_id: str) -> Run:
        run = await self.store.get_run(run_id)
        if run is None:
            raise RunNotFoundError(run_id)
        return run

    async def history(self, flt: RunFilter, *, limit: int, offset: int) -> list[Run]:
        return await self.store.list_runs(flt, limit=limit, offset=offset)

    async def count(self, flt: RunFilter) -> int:
        return await self.store.count_runs(flt)

    async def check_task_filter(self, task_name: str) -> None:
        """Refuse ``task_name`` as a listing's filter when no task of that name is
        registered or has anything in the store: a typo would otherwise list nothing,
        as if the task had never run. A task removed from the code stays listable by
        its runs (or schedules); an unregistered name costs one indexed read for that
        (a second one before it is refused)."""
        if self.registry.get_task(task_name) is not None:
            return
        if await self.store.list_runs(RunFilter(task_name=task_name), limit=1):
            return
        if await self.store.count_schedules(task_name):
            return
        raise ValidationError(str(self.registry.not_found(task_name)), field="task")

    async def logs(self, run_id: str, *, after_seq: int, limit: int) -> list[LogLine]:
        await self.get(run_id)
        return await self.store.get_logs(run_id, after_seq=after_seq, limit=limit)

    async def stats(
        self, window: timedelta, task_name: str | None, *, exact: bool = False
    ) -> list[TaskStats]:
        return await self.store.run_stats(self.clock.now() - window, task_name, exact=exact)

    async def per_hour(self, since: datetime, until: datetime | None) -> list[HourlyRunCount]:
        return await self.store.run_counts_per_hour(since, until or self.clock.now())

    async def purge(
        self, older_than: timedelta, *, actor: str, as_of: datetime | None = None
    ) -> retention.PurgeCounts:
        """Delete the workflow runs that ended more than ``older_than`` before ``as_of``
        (default: now), then the finished runs (and their logs) that finished before
        then, except the step runs of the workflow runs kept (``Store.purge_runs``), and
        the versions of schedules deleted over a day ago (``deleted_schedules``)."""
        before = retention.cutoff(as_of or self.clock.now(), older_than, "older_than")
        # Workflow runs first: their step runs are purgeable only once they are gone or
        # ended, and a purge cut in between leaves step runs of no workflow run (the
        # next purge takes them), never a workflow run whose steps look not started.
        flows = await self.store.purge_workflow_runs(before)
        count = await self.store.purge_runs(before)
        await prune_deleted(self.store, self.clock.now())
        # In words, with the cut-off: "90 days, 0:00:00" (a timedelta) read as a typo.
        detail = (
            f"{count} run(s) and {flows} workflow run(s) older than "
            f"{retention.duration_words(older_than)} "
            f"(finished before {retention.utc_stamp(before)})"
        )
        await self.audit.record(actor, "runs.purge", "runs", detail=detail)
        return retention.PurgeCounts(runs=count, workflow_runs=flows)

    async def rebuild_rollups(self, *, actor: str) -> RollupRebuild:
        """Recount the run rollups from the runs (``Store.rebuild_rollups``), audited."""
        done = await self.store.rebuild_rollups()
        detail = (
            f"{done.runs} finished run(s) of {done.tasks} task(s) in {done.hours} task-hour "
            "rollup(s); "
            f"the rollups counted {done.runs_before} before; {done.seconds:.1f} s"
        )
        await self.audit.record(actor, "runs.rebuild_rollups", "rollups", detail=detail)
        return done

    async def result_file(self, run_id: str, name: str) -> Path:
        """The file ``name`` that the run's result lists in ``data.files``, inside
        ``result_files_dir``. Nothing else is ever served (no path outside the folder,
        no file the run did not name)."""
        run = await self.get(run_id)
        data = (run.result or {}).get("data")
        listed = data.get("files") if isinstance(data, dict) else None
        base = self.config.result_files_dir
        if base is None:
            raise ResultFileNotFoundError(run_id, name, "result_files_dir is not configured")
        if not isinstance(listed, list) or name not in listed:
            raise ResultFileNotFoundError(run_id, name, "the run's result does not list it")
        return await asyncio.to_thread(_file_inside, base, run_id, name)


class RunMethods:
    """The run methods of the façade, :class:`schedkit.Scheduler` (kept here, beside
    what they call, so that the façade's module stays readable)."""

    runs: RunControl
    store: Store

    def _require_started(self) -> None:
        raise NotImplementedError  # the Scheduler's

    async def run_now(
        self,
        task_name: str,
        kwargs: Mapping[str, Any] | None = None,
        *,
        wait: bool = False,
        timeout: float | None = None,
        max_attempts: int | None = None,
        actor: str = SYSTEM,
        idempotency_key: str | None = None,
    ) -> Run:
        """Run a task now with ``kwargs`` (validated first). With ``wait``, return when the
        run has finished (or ``timeout`` passed: then the run as it is).
        ``max_attempts`` overrides the task's retry policy for this run (1: no retry).
        With ``idempotency_key``, later calls with that key return the first call's run
        (while it is in the history) rather than create one; ConflictError if their
        ``kwargs`` differ (docs/api.md, "Retrying safely"). A ``timeout`` without
        ``wait`` is refused: it bounds the wait, it is no time limit of the run."""
        self._require_started()
        if timeout is not None and not wait:
            raise ValidationError("timeout is how long to wait: give wait=true", field="timeout")
        run = await self.runs.run_now(
            task_name,
            kwargs,
            max_attempts=max_attempts,
            actor=actor,
            idempotency_key=idempotency_key,
        )
        return await self.runs.wait(run.id, timeout) if wait else run

    def check_run_kwargs(
        self, task_name: str, kwargs: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``kwargs`` as :meth:`run_now` would store them, checked as it checks them
        (TaskNotFoundError; ValidationError naming ``kwargs.<name>``); nothing is created.
        For a caller that must refuse bad kwargs before it starts what executes the run."""
        self._require_started()
        return self.runs.stored_kwargs(self.runs.registry.require(task_name), kwargs)

    async def check_run_key(
        self, task_name: str, kwargs: Mapping[str, Any] | None, idempotency_key: str
    ) -> None:
        """:meth:`check_run_kwargs`, and ConflictError if the run created earlier with
        ``idempotency_key`` has other kwargs, as :meth:`run_now` would raise; nothing is
        created. For a caller that must refuse a key's misuse before it starts what
        executes the run (it would claim that earlier run, another request's)."""
        self._require_started()
        task = self.runs.registry.require(task_name)
        await self.runs.check_key(task, self.runs.stored_kwargs(task, kwargs), idempotency_key)

    async def wait_for_run(self, run_id: str, timeout: float | None = None) -> Run:
        """Wait until the run is finished (retries included); on timeout return it as is."""
        return await self.runs.wait(run_id, timeout)

    async def cancel_run(
        self, run_id: str, *, actor: str = SYSTEM, reason: str | None = None
    ) -> Run:
        """Cancel a pending run at once, or ask a running run to stop (on any node)."""
        self._require_started()
        return await self.runs.cancel(run_id, actor=actor, reason=reason)

    async def retry_run(
        self, run_id: str, *, actor: str = SYSTEM, idempotency_key: str | None = None
    ) -> Run:
        """Run a finished run's task again with the same kwargs (a new manual run; once
        per ``idempotency_key``, as :meth:`run_now`)."""
        self._require_started()
        return await self.runs.retry(run_id, actor=actor, idempotency_key=idempotency_key)

    async def get_run(self, run_id: str) -> Run:
        """The run (RunNotFoundError if there is none: never created, or purged)."""
        return await self.runs.get(run_id)

    async def list_runs(
        self,
        task_name: str | None = None,
        *,
        status: RunStatus | str | Sequence[RunStatus | str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        trigger_source: TriggerSource | str | None = None,
        schedule_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Run]:
        """History, newest first."""
        flt = run_filter(task_name, status, since, until, trigger_source, schedule_id)
        return await self.runs.history(flt, limit=limit, offset=offset)

    async def check_task_filter(self, task_name: str | None) -> None:
        """ValidationError naming ``task`` (with the registered names close to it) when
        ``task_name``, given to filter a listing, names no task: none registered, and
        neither runs nor schedules of it stored. None (no filter) passes."""
        if task_name is not None:
            await self.runs.check_task_filter(task_name)

    async def count_runs(
        self,
        task_name: str | None = None,
        *,
        status: RunStatus | str | Sequence[RunStatus | str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        trigger_source: TriggerSource | str | None = None,
        schedule_id: str | None = None,
    ) -> int:
        """How many runs :meth:`list_runs` with the same filters would list in all."""
        flt = run_filter(task_name, status, since, until, trigger_source, schedule_id)
        return await self.runs.count(flt)

    async def last_finished_runs(self, task_names: Sequence[str]) -> dict[str, Run]:
        """The latest finished run of each task named (tasks without one left out)."""
        return await self.store.last_finished_runs(task_names)

    async def result_file(self, run_id: str, name: str) -> Path:
        """A file the run's result lists in ``data.files`` (see RunControl.result_file)."""
        return await self.runs.result_file(run_id, name)

    async def get_logs(
        self, run_id: str, *, after_seq: int = -1, limit: int = 1000
    ) -> list[LogLine]:
        """Up to ``limit`` log lines of the run, in order, after line ``after_seq`` (-1:
        from the first; pass the last ``seq`` seen to follow a running one)."""
        return await self.runs.logs(run_id, after_seq=after_seq, limit=limit)

    async def stats(
        self,
        window: timedelta = timedelta(days=1),
        task_name: str | None = None,
        *,
        exact: bool = False,
    ) -> list[TaskStats]:
        """Per task, run statistics of the runs scheduled in the last ``window``; the
        percentiles from the store's rollups unless ``exact`` (``Store.run_stats``)."""
        return await self.runs.stats(window, task_name, exact=exact)

    async def runs_per_hour(
        self, since: datetime, until: datetime | None = None
    ) -> list[HourlyRunCount]:
        """Runs of every task per UTC hour of ``scheduled_for`` and status, from the hour
        holding ``since`` to the one holding ``until`` (default: now), whole hours;
        exact for any number of runs (``Store.run_counts_per_hour``)."""
        return await self.runs.per_hour(since, until)

    async def purge(
        self, older_than: timedelta, *, actor: str = SYSTEM, as_of: datetime | None = None
    ) -> int:
        """Delete finished runs (and their logs) that finished more than ``older_than``
        before ``as_of`` (default: now; a :class:`~schedkit.service.retention.PurgePlan`'s
        to delete what it counted), and the workflow runs that ended before then; returns
        how many runs (:meth:`purge_history` counts the workflow runs too)."""
        return (await self.purge_history(older_than, actor=actor, as_of=as_of)).runs

    async def purge_history(
        self, older_than: timedelta, *, actor: str = SYSTEM, as_of: datetime | None = None
    ) -> retention.PurgeCounts:
        """:meth:`purge`, returning how many runs and how many workflow runs it deleted.
        A workflow step's run is kept as long as its workflow run is (``running``, or
        ended after the cut-off)."""
        return await self.runs.purge(older_than, actor=actor, as_of=as_of)

    async def rebuild_rollups(self, *, actor: str = SYSTEM) -> RollupRebuild:
        """Recount the run statistics' rollups from the runs stored, while nodes run:
        the repair when stats from rollups differ from ``exact=True``."""
        return await self.runs.rebuild_rollups(actor=actor)


def _file_inside(base: str, run_id: str, name: str) -> Path:
    root = Path(base).resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise ResultFileNotFoundError(run_id, name, "outside result_files_dir")
    if not path.is_file():
        raise ResultFileNotFoundError(run_id, name, "the file no longer exists")
    return path


def _check_repeat(key: str, kwargs: Mapping[str, Any], earlier: Run) -> None:
    runs.check_repeat(
        key, f"run {earlier.id} of {earlier.task_name!r}", kwargs, earlier.kwargs, "kwargs"
    )
