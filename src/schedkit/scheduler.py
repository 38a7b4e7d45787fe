"""The firing loop: turns due schedules into runs. Only the ``scheduler`` lease holder fires.

Each node runs this loop; one holds the lease and fires, the others stand by and try to
take the lease every ``refresh_interval`` (invariant 2). The holder renews every third of
the TTL and stops firing ``margin`` seconds before its lease could expire if renewals fail.

The loop keeps a heap of the exact times schedules in the next ``lookahead`` seconds fire
(nominal time + jitter) and sleeps until the earliest. At a wake it re-reads the due
schedules from the store (so pauses and edits made on any node count), creates their runs
insert-if-absent on (schedule_id, scheduled_for) — the fencing key that makes a stale or
racing leader harmless (invariant 1) — then advances each schedule. Fires that do not run
are recorded as ``skipped`` or ``missed`` runs with the reason (invariant 6).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from schedkit.clock import Clock
from schedkit.config import SchedkitConfig
from schedkit.errors import StoreError
from schedkit.events import EventBus, EventKind, RunEvent
from schedkit.executor import Backoff, Executor, retry_at
from schedkit.models import (
    Lease,
    OverlapPolicy,
    Run,
    RunStatus,
    Schedule,
    TriggerSource,
    new_id,
)
from schedkit.registry import TaskRegistry
from schedkit.store.base import Store
from schedkit.triggers import Trigger, trigger_from_json

logger = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)
#: Schedules read per tick; a larger backlog is worked off in further ticks at once.
DUE_BATCH = 10_000


@dataclass(kw_only=True, slots=True)
class _Batch:
    """What one tick writes: runs to insert and schedules to advance."""

    runs: list[Run] = field(default_factory=list)
    advances: list[tuple[str, int, datetime | None, datetime | None]] = field(default_factory=list)
    reserved: int = 0
    #: Why a recorded fire did not run, by run id: calendar, coalesced, misfire, overlap,
    #: unregistered (machine-readable, for monitors; the run's reason is for people).
    causes: dict[str, str] = field(default_factory=dict)

    def add(self, run: Run, cause: str | None = None) -> None:
        self.runs.append(run)
        if cause is not None:
            self.causes[run.id] = cause


class SchedulerLoop:
    def __init__(
        self,
        *,
        store: Store,
        registry: TaskRegistry,
        executor: Executor,
        events: EventBus,
        clock: Clock,
        node_id: str,
        config: SchedkitConfig,
    ) -> None:
        self.store = store
        self.registry = registry
        self.executor = executor
        self.events = events
        self.clock = clock
        self.node_id = node_id
        self.cfg = config.scheduler
        self.margin = min(2.0, self.cfg.lease_ttl / 4)
        self.lease: Lease | None = None
        self._renew_at = _LONG_AGO
        self._refresh_at = _LONG_AGO
        self._reap_at = _LONG_AGO
        self._heap: list[tuple[datetime, str]] = []
        self._triggers: dict[str, tuple[int, Trigger]] = {}
        self._broken: set[tuple[str, int]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="schedkit-scheduler")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self.lease is not None:
            with contextlib.suppress(StoreError):
                await self.store.release_lease(LEASE_NAME, self.node_id)
            self.lease = None

    def wake(self) -> None:
        """Re-read the store now (a schedule was added, changed or removed here)."""
        self._refresh_at = _LONG_AGO
        self._wake.set()

    @property
    def is_leader(self) -> bool:
        """True while this node holds a lease that cannot have expired yet."""
        lease = self.lease
        if lease is None:
            return False
        return self.clock.now() < lease.expires_at - timedelta(seconds=self.margin)

    # -- the loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = Backoff()
        while not self._stopping:
            try:
                await self._keep_lease()
                if self.is_leader:
                    await self._tick()
                    await self._reap()
                backoff.reset()
            except StoreError as exc:
                await backoff.wait(f"scheduler loop: store error: {exc}")
                continue
            except Exception:
                logger.exception("scheduler loop: unexpected error; continuing in 1 s")
                await asyncio.sleep(1)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._sleep_time())

    def _sleep_time(self) -> float:
        now = self.clock.now()
        deadlines = [self._renew_at, self._refresh_at]
        if self.is_leader:
            deadlines.append(self._reap_at)
            if self._heap:
                deadlines.append(self._heap[0][0])
        else:
            deadlines.append(now + timedelta(seconds=self.cfg.refresh_interval))
        return max(0.0, min((d - now).total_seconds() for d in deadlines))

    async def _keep_lease(self) -> None:
        now = self.clock.now()
        if now < self._renew_at:
            return
        ttl = self.cfg.lease_ttl
        held = self.lease
        if held is not None:
            lease = await self.store.renew_lease(LEASE_NAME, self.node_id, held.term, ttl, now)
            if lease is None:
                logger.warning(
                    "node %s lost the scheduler lease (term %d)", self.node_id, held.term
                )
                self._step_down()
                lease = await self.store.acquire_lease(LEASE_NAME, self.node_id, ttl, now)
        else:
            lease = await self.store.acquire_lease(LEASE_NAME, self.node_id, ttl, now)
        if lease is not None and (held is None or held.term != lease.term):
            logger.info("node %s holds the scheduler lease (term %d)", self.node_id, lease.term)
            self._refresh_at = now
        self.lease = lease
        self._renew_at = now + timedelta(seconds=ttl / 3)
        if lease is None:
            self._renew_at = now + timedelta(seconds=min(self.cfg.refresh_interval, ttl / 3))

    def _step_down(self) -> None:
        self.lease = None
        self._heap.clear()

    async def _tick(self) -> None:
        now = self.clock.now()
        if now >= self._refresh_at:
            await self._refresh(now)
        if not (self._heap and self._heap[0][0] <= now) and now < self._refresh_at:
            return
        while self._heap and self._heap[0][0] <= now:
            heapq.heappop(self._heap)
        due = await self.store.due_schedules(now, DUE_BATCH)
        if len(due) >= DUE_BATCH:
            self._wake.set()
        batch = _Batch()
        for schedule in due:
            if not self.is_leader:
                break
            mark = (len(batch.runs), len(batch.advances), batch.reserved)
            try:
                await self._plan(schedule, now, batch)
            except StoreError:
                raise
            except Exception:
                # One broken schedule (e.g. stored by an older version) must not stop
                # the others from firing: drop its part of the batch and carry on.
                del batch.runs[mark[0] :]
                del batch.advances[mark[1] :]
                self.executor.release(batch.reserved - mark[2])
                batch.reserved = mark[2]
                self._report_broken(schedule)
        await self._write(batch, now)

    async def _refresh(self, now: datetime) -> None:
        """Rebuild the timer heap from the schedules due within the lookahead window."""
        until = now + timedelta(seconds=self.cfg.lookahead)
        window = await self.store.due_schedules(until, 100_000)
        self._heap = []
        for schedule in window:
            assert schedule.next_fire_time is not None
            try:
                fire_at = _fire_at(self._trigger(schedule), schedule, schedule.next_fire_time)
            except Exception:
                self._report_broken(schedule)
                continue
            self._heap.append((fire_at, schedule.id))
        heapq.heapify(self._heap)
        self._refresh_at = now + timedelta(seconds=self.cfg.refresh_interval)

    def _report_broken(self, schedule: Schedule) -> None:
        key = (schedule.id, schedule.version)
        if key not in self._broken:
            self._broken.add(key)
            logger.exception(
                "schedule %s (version %d) cannot be fired; it is skipped until changed",
                schedule.id,
                schedule.version,
            )

    def _trigger(self, schedule: Schedule) -> Trigger:
        cached = self._triggers.get(schedule.id)
        if cached is not None and cached[0] == schedule.version:
            return cached[1]
        trigger = trigger_from_json(schedule.trigger)
        self._triggers[schedule.id] = (schedule.version, trigger)
        return trigger

    # -- planning fires ---------------------------------------------------------------------

    async def _plan(self, schedule: Schedule, now: datetime, batch: _Batch) -> None:
        """Decide the fate of every due fire of one schedule and queue the writes."""
        trigger = self._trigger(schedule)
        fires: list[datetime] = []
        nominal = schedule.next_fire_time
        while nominal is not None and len(fires) < self.cfg.max_fires_per_tick:
            if _fire_at(trigger, schedule, nominal) > now:
                break
            fires.append(nominal)
            nominal = trigger.next_fire_time(nominal, now)
        if not fires:
            return
        batch.advances.append((schedule.id, schedule.version, nominal, fires[-1]))
        if nominal is not None and nominal <= now + timedelta(seconds=self.cfg.lookahead):
            heapq.heappush(self._heap, (_fire_at(trigger, schedule, nominal), schedule.id))

        task = self.registry.get_task(schedule.task_name)
        runnable: list[datetime] = []
        for fire in fires:
            late = (now - _fire_at(trigger, schedule, fire)).total_seconds()
            if task is None:
                self._record(
                    batch,
                    schedule,
                    fire,
                    RunStatus.SKIPPED,
                    f"task {schedule.task_name!r} is not registered on the scheduling node",
                    "unregistered",
                )
            elif not trigger.calendar_allows(fire):
                self._record(
                    batch,
                    schedule,
                    fire,
                    RunStatus.SKIPPED,
                    "business calendar: not a run day",
                    "calendar",
                )
            elif schedule.misfire_grace_time is not None and late > schedule.misfire_grace_time:
                self._record(
                    batch,
                    schedule,
                    fire,
                    RunStatus.MISSED,
                    f"{late:.1f} s late, over misfire_grace_time {schedule.misfire_grace_time:g} s",
                    "misfire",
                )
            else:
                runnable.append(fire)
        if task is None or not runnable:
            return
        if schedule.coalesce and len(runnable) > 1:
            keep = runnable[-1]
            for fire in runnable[:-1]:
                self._record(
                    batch,
                    schedule,
                    fire,
                    RunStatus.SKIPPED,
                    f"coalesced into the fire at {keep.isoformat()}",
                    "coalesced",
                )
            runnable = [keep]
        active = (
            []
            if schedule.overlap is OverlapPolicy.ALLOW
            else await self.store.active_runs(schedule.id)
        )
        for fire in runnable:
            late = (now - _fire_at(trigger, schedule, fire)).total_seconds()
            run = self._new_run(
                schedule,
                task.task_priority,
                task.retry_policy.max_attempts,
                task.timeout,
                fire,
                now,
                late,
            )
            run = await self._apply_overlap(schedule, run, active)
            if (
                run.status is RunStatus.PENDING
                and run.blocked_by is None
                and self.executor.reserve(1)
            ):
                batch.reserved += 1
                run = replace(
                    run,
                    status=RunStatus.RUNNING,
                    node_id=self.node_id,
                    started_at=now,
                    heartbeat_at=now,
                )
            batch.add(run, "overlap" if run.status is RunStatus.SKIPPED else None)
            if run.status.active:
                active.append(run)

    async def _apply_overlap(self, schedule: Schedule, run: Run, active: list[Run]) -> Run:
        if schedule.overlap is OverlapPolicy.ALLOW or len(active) < schedule.max_instances:
            return run
        note = f"{len(active)} run(s) still active (max_instances={schedule.max_instances})"
        if schedule.overlap is OverlapPolicy.SKIP:
            return replace(
                run,
                status=RunStatus.SKIPPED,
                finished_at=run.created_at,
                reason=f"overlap policy skip: {note}",
            )
        if schedule.overlap is OverlapPolicy.QUEUE_ONE:
            if any(r.blocked_by is not None for r in active):
                return replace(
                    run,
                    status=RunStatus.SKIPPED,
                    finished_at=run.created_at,
                    reason=f"overlap policy queue_one: one run is already queued; {note}",
                )
            return replace(run, blocked_by=active[-1].id)
        # REPLACE: the newest run goes ahead; the running ones are cancelled.
        for old in active:
            why = f"replaced by the fire at {run.scheduled_for.isoformat()}"
            cancelled = await self.store.request_cancel(old.id, self.clock.now(), why)
            if cancelled is not None and cancelled.node_id == self.node_id:
                self.executor.cancel_local(old.id, why)
        active.clear()
        return run

    def _new_run(
        self,
        schedule: Schedule,
        priority: int,
        max_attempts: int,
        task_timeout: float | None,
        fire: datetime,
        now: datetime,
        late: float,
    ) -> Run:
        catch_up = late > self.cfg.lookahead + self.cfg.refresh_interval
        return Run(
            id=new_id(),
            task_name=schedule.task_name,
            schedule_id=schedule.id,
            trigger_source=TriggerSource.CATCH_UP if catch_up else TriggerSource.SCHEDULE,
            scheduled_for=fire,
            priority=int(priority),
            max_attempts=max_attempts,
            kwargs=dict(schedule.kwargs),
            not_before=now,
            timeout=schedule.timeout if schedule.timeout is not None else task_timeout,
            created_at=now,
            created_by="scheduler",
        )

    def _record(
        self,
        batch: _Batch,
        schedule: Schedule,
        fire: datetime,
        status: RunStatus,
        reason: str,
        cause: str,
    ) -> None:
        """Queue the record of a fire that does not run (invariant 6)."""
        now = self.clock.now()
        run = Run(
            id=new_id(),
            task_name=schedule.task_name,
            schedule_id=schedule.id,
            trigger_source=TriggerSource.SCHEDULE,
            scheduled_for=fire,
            status=status,
            kwargs=dict(schedule.kwargs),
            not_before=now,
            finished_at=now,
            reason=reason,
            created_at=now,
            created_by="scheduler",
        )
        batch.add(run, cause)

    async def _write(self, batch: _Batch, now: datetime) -> None:
        if not batch.runs and not batch.advances:
            return
        try:
            inserted = set(await self.store.insert_runs(batch.runs)) if batch.runs else set()
        except BaseException:
            self.executor.release(batch.reserved)
            raise
        for run in batch.runs:
            fresh = run.id in inserted
            if run.status is RunStatus.RUNNING:
                if fresh:
                    self.executor.start_claimed(run)
                else:
                    self.executor.release(1)
            if not fresh:
                continue
            if run.status is RunStatus.SKIPPED:
                logger.info(
                    "fire of %s at %s skipped: %s", run.schedule_id, run.scheduled_for, run.reason
                )
                self.events.publish(
                    RunEvent(kind=EventKind.SKIPPED, run=run, detail=_cause(batch, run))
                )
            elif run.status is RunStatus.MISSED:
                logger.warning(
                    "fire of %s at %s missed: %s", run.schedule_id, run.scheduled_for, run.reason
                )
                self.events.publish(
                    RunEvent(kind=EventKind.MISSED, run=run, detail=_cause(batch, run))
                )
            else:
                self.events.publish(RunEvent(kind=EventKind.CREATED, run=run))
        if any(r.status is RunStatus.PENDING and r.id in inserted for r in batch.runs):
            self.executor.wake()
        if batch.advances:
            await self.store.advance_schedules(batch.advances)

    # -- housekeeping -------------------------------------------------------------------------

    async def _reap(self) -> None:
        """Mark runs of silent nodes lost and retry them per their task's policy."""
        now = self.clock.now()
        if now < self._reap_at:
            return
        self._reap_at = now + timedelta(seconds=self.cfg.heartbeat_interval)
        stale_before = now - timedelta(seconds=self.cfg.lost_after)
        for run in await self.store.mark_lost(stale_before, now):
            logger.warning(
                "run %s of %s lost: node %s stopped heartbeating",
                run.id,
                run.task_name,
                run.node_id,
            )
            task = self.registry.get_task(run.task_name)
            when = retry_at(task, run, RunStatus.LOST, now)
            self.events.publish(
                RunEvent(kind=EventKind.LOST, run=run, detail={"final": when is None})
            )
            if when is None:
                continue
            error = {"type": "RunLost", "message": run.reason or "node stopped heartbeating"}
            attempt_error = {
                "attempt": run.attempt,
                "status": RunStatus.LOST.value,
                "error": error,
                "started_at": run.started_at.isoformat() if run.started_at else None,
                "finished_at": now.isoformat(),
            }
            if await self.store.requeue_run(
                run.id, run.attempt, [RunStatus.LOST], when, attempt_error
            ):
                self.events.publish(
                    RunEvent(
                        kind=EventKind.RETRYING,
                        run=replace(
                            run, status=RunStatus.PENDING, attempt=run.attempt + 1, not_before=when
                        ),
                        detail={"status": RunStatus.LOST.value, "error": error},
                    )
                )
                self.executor.wake()


def _cause(batch: _Batch, run: Run) -> dict[str, str]:
    cause = batch.causes.get(run.id)
    return {"cause": cause} if cause else {}


def _fire_at(trigger: Trigger, schedule: Schedule, nominal: datetime) -> datetime:
    return nominal + timedelta(seconds=trigger.jitter_offset(schedule.id, nominal))
