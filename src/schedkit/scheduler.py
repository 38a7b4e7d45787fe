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
from typing import Any, NamedTuple

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
from schedkit.store.values import LeaseFence, LostRun, ScheduleAdvance
from schedkit.triggers import Trigger, trigger_from_json

logger = logging.getLogger(__name__)

#: Silent runs judged per reaper pass (the rest wait for the next pass).
_REAP_BATCH = 500

LEASE_NAME = "scheduler"
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)
#: Schedules read per refresh; a larger backlog is worked off in further ticks at once.
WINDOW_LIMIT = 100_000
#: How long a schedule read stays held without being due (then it is read again).
_GENERATION = timedelta(minutes=10)


class _Entry(NamedTuple):
    schedule: Schedule
    trigger: Trigger
    #: The next nominal fire (the schedule's as read, then as this node advanced it).
    next_fire: datetime | None


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
        #: Schedules due within the lookahead window, with their next nominal fire.
        self._window: dict[str, _Entry] = {}
        #: Schedules (and their triggers) held at their latest version read, in two
        #: generations: an entry unused for a whole generation is dropped.
        self._known: dict[str, _Entry] = {}
        self._known_old: dict[str, _Entry] = {}
        self._generation_at = _LONG_AGO
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
        self._reset_window()
        self._wake.set()

    def _reset_window(self) -> None:
        """Rebuild the window and its heap from the next read (fires popped from the
        heap but not written are planned again from the store)."""
        self._window.clear()
        self._heap.clear()
        self._refresh_at = _LONG_AGO

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
        self._reset_window()

    async def _tick(self) -> None:
        now = self.clock.now()
        if now >= self._refresh_at:
            await self._refresh(now)
        due: dict[str, _Entry] = {}
        while self._heap and self._heap[0][0] <= now:
            _, schedule_id = heapq.heappop(self._heap)
            entry = self._window.get(schedule_id)
            if entry is not None:
                due[schedule_id] = entry
        if not due:
            return
        try:
            await self._fire(due, now)
        except BaseException:
            # The fires popped from the heap were not written: plan them again from a
            # fresh read (the window would otherwise hold them as already queued).
            self._reset_window()
            raise

    async def _fire(self, due: dict[str, _Entry], now: datetime) -> None:
        batch = _Batch()
        planned: list[tuple[_Entry, list[tuple[datetime, float]]]] = []
        for entry in due.values():
            mark = (len(batch.runs), len(batch.advances))
            try:
                runnable = self._plan(entry, now, batch)
            except Exception:
                # One broken schedule (e.g. stored by an older version) must not stop
                # the others from firing: drop its part of the batch and carry on.
                del batch.runs[mark[0] :]
                del batch.advances[mark[1] :]
                self._report_broken(entry.schedule)
                continue
            if runnable:
                planned.append((entry, runnable))
        # Overlap policies need the runs still active: one query for the whole tick.
        allow = OverlapPolicy.ALLOW
        watched = [e.schedule.id for e, _ in planned if e.schedule.overlap is not allow]
        active = await self.store.active_runs_of(watched) if watched else {}
        try:
            for entry, runnable in planned:
                if not self.is_leader:
                    break
                runs = active.get(entry.schedule.id, [])
                await self._create_runs(entry.schedule, runnable, runs, now, batch)
        except BaseException:
            self.executor.release(batch.reserved)
            raise
        if self.is_leader:
            await self._write(batch)
        else:
            self.executor.release(batch.reserved)
            self.wake()

    async def _refresh(self, now: datetime) -> None:
        """Re-read which schedules are due within the lookahead window, and queue the
        exact fire times of those new to it.

        Only (id, version, next fire) is read each time: whole schedules are read for
        the versions not held yet. Between refreshes a tick fires from this copy (moved
        on in memory as it fires), so a tick reads no schedule. Edits made on this node
        call :meth:`wake`; an edit made on another node is caught when the tick writes,
        since the write applies only to schedules still at the version read.
        """
        if now >= self._generation_at:
            # Schedules not due for a whole generation are dropped (deleted ones too).
            self._known_old, self._known = self._known, {}
            self._generation_at = now + _GENERATION
        until = now + timedelta(seconds=self.cfg.lookahead)
        keys = await self.store.due_schedule_keys(until, WINDOW_LIMIT)
        # Entries unchanged since the last read keep their place in the heap; only new
        # or changed ones are pushed (a stale heap entry fires nothing: its schedule's
        # next fire has moved on, or it left the window).
        window: dict[str, _Entry] = {}
        changed: list[tuple[str, int, datetime]] = []
        for sid, version, nominal in keys:
            old = self._window.get(sid)
            if old is None or old.schedule.version != version or old.next_fire != nominal:
                changed.append((sid, version, nominal))
            else:
                window[sid] = old
        missing = [
            sid
            for sid, version, _ in changed
            if self._held(sid, version) is None and (sid, version) not in self._broken
        ]
        if missing:
            for schedule in await self.store.get_schedules(missing):
                self._hold(schedule)
        for sid, version, nominal in changed:
            held = self._held(sid, version)
            if held is None:  # broken, deleted or changed since: the next refresh sees it
                continue
            try:
                fire_at = _fire_at(held.trigger, held.schedule, nominal)
            except Exception:
                self._report_broken(held.schedule)
                continue
            window[sid] = _Entry(held.schedule, held.trigger, nominal)
            heapq.heappush(self._heap, (fire_at, sid))
        self._window = window
        # A full read may have left due schedules out: read again after this tick's
        # writes have advanced the ones read.
        full = len(keys) >= WINDOW_LIMIT
        self._refresh_at = now if full else now + timedelta(seconds=self.cfg.refresh_interval)

    def _held(self, schedule_id: str, version: int) -> _Entry | None:
        entry = self._known.get(schedule_id)
        if entry is None:
            entry = self._known_old.pop(schedule_id, None)
            if entry is None:
                return None
            self._known[schedule_id] = entry
        return entry if entry.schedule.version == version else None

    def _hold(self, schedule: Schedule) -> None:
        try:
            trigger = trigger_from_json(schedule.trigger)
        except Exception:
            self._report_broken(schedule)
            return
        self._known[schedule.id] = _Entry(schedule, trigger, schedule.next_fire_time)

    def _report_broken(self, schedule: Schedule) -> None:
        key = (schedule.id, schedule.version)
        if key not in self._broken:
            self._broken.add(key)
            logger.exception(
                "schedule %s (version %d) cannot be fired; it is skipped until changed",
                schedule.id,
                schedule.version,
            )

    # -- planning fires ---------------------------------------------------------------------

    def _plan(self, entry: _Entry, now: datetime, batch: _Batch) -> list[tuple[datetime, float]]:
        """Decide the fate of every due fire of one schedule: queue its advance and the
        records of fires that do not run; return the fires that should run, each with
        how late it is (seconds)."""
        schedule, trigger = entry.schedule, entry.trigger
        fires: list[tuple[datetime, float]] = []
        nominal = entry.next_fire
        while nominal is not None and len(fires) < self.cfg.max_fires_per_tick:
            at = _fire_at(trigger, schedule, nominal)
            if at > now:
                break
            fires.append((nominal, (now - at).total_seconds()))
            nominal = trigger.next_fire_time(nominal, now)
        if not fires:
            return []
        batch.advances.append((schedule.id, schedule.version, nominal, fires[-1][0]))

        task = self.registry.get_task(schedule.task_name)
        runnable: list[tuple[datetime, float]] = []
        for fire, late in fires:
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
                runnable.append((fire, late))
        if task is None or not runnable:
            return []
        if schedule.coalesce and len(runnable) > 1:
            keep = runnable[-1]
            for fire, _ in runnable[:-1]:
                self._record(
                    batch,
                    schedule,
                    fire,
                    RunStatus.SKIPPED,
                    f"coalesced into the fire at {keep[0].isoformat()}",
                    "coalesced",
                )
            runnable = [keep]
        return runnable

    async def _create_runs(
        self,
        schedule: Schedule,
        runnable: list[tuple[datetime, float]],
        active: list[Run],
        now: datetime,
        batch: _Batch,
    ) -> None:
        """Queue the runs of a schedule's runnable fires, overlap policy applied; the ones
        that can start here at once are created already running on this node."""
        task = self.registry.get_task(schedule.task_name)
        assert task is not None
        timeout = schedule.timeout if schedule.timeout is not None else task.timeout
        catch_up_after = self.cfg.lookahead + self.cfg.refresh_interval
        for fire, late in runnable:
            skip, blocked_by = None, None
            if (
                schedule.overlap is not OverlapPolicy.ALLOW
                and len(active) >= schedule.max_instances
            ):
                skip, blocked_by = await self._overlap(schedule, fire, active)
            state: dict[str, Any] = {}
            if skip is not None:
                state = {"status": RunStatus.SKIPPED, "finished_at": now, "reason": skip}
            elif blocked_by is not None:
                state = {"blocked_by": blocked_by}
            elif self.executor.reserve(1):
                batch.reserved += 1
                state = {
                    "status": RunStatus.RUNNING,
                    "node_id": self.node_id,
                    "started_at": now,
                    "heartbeat_at": now,
                }
            run = Run(
                id=new_id(),
                task_name=schedule.task_name,
                schedule_id=schedule.id,
                trigger_source=(
                    TriggerSource.CATCH_UP if late > catch_up_after else TriggerSource.SCHEDULE
                ),
                scheduled_for=fire,
                priority=int(task.task_priority),
                max_attempts=task.retry_policy.max_attempts,
                kwargs=dict(schedule.kwargs),
                not_before=now,
                timeout=timeout,
                created_at=now,
                created_by="scheduler",
                **state,
            )
            batch.add(run, "overlap" if skip is not None else None)
            if run.status.active:
                active.append(run)

    async def _overlap(
        self, schedule: Schedule, fire: datetime, active: list[Run]
    ) -> tuple[str | None, str | None]:
        """The overlap policy's verdict on a fire while ``max_instances`` runs are active:
        (why it is skipped, or None; the run it is queued behind, or None)."""
        note = f"{len(active)} run(s) still active (max_instances={schedule.max_instances})"
        if schedule.overlap is OverlapPolicy.SKIP:
            return f"overlap policy skip: {note}", None
        if schedule.overlap is OverlapPolicy.QUEUE_ONE:
            if any(r.blocked_by is not None for r in active):
                return f"overlap policy queue_one: one run is already queued; {note}", None
            return None, active[-1].id
        # REPLACE: the newest run goes ahead; the running ones are cancelled.
        for old in active:
            why = f"replaced by the fire at {fire.isoformat()}"
            cancelled = await self.store.request_cancel(old.id, self.clock.now(), why)
            if cancelled is not None and cancelled.node_id == self.node_id:
                self.executor.cancel_local(old.id, why)
        active.clear()
        return None, None

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

    async def _write(self, batch: _Batch) -> None:
        if not batch.runs and not batch.advances:
            return
        lease = self.lease
        fence = (
            LeaseFence(name=lease.name, holder=lease.holder, term=lease.term)
            if lease is not None
            else None
        )
        advances = [
            ScheduleAdvance(schedule_id=sid, version=v, next_fire_time=nxt, last_fire_time=last)
            for sid, v, nxt, last in batch.advances
        ]
        try:
            record = await self.store.record_fires(
                batch.runs, advances, fence=fence, now=self.clock.now()
            )
        except BaseException:
            self.executor.release(batch.reserved)
            raise
        if record.fenced:
            # The lease was lost before the tick was written: nothing was.
            logger.warning("tick not written: the scheduler lease is no longer held")
            self.executor.release(batch.reserved)
            self.wake()
            return
        ids, advanced = record.inserted, record.advanced
        self._advance_window(batch)
        if advanced < len(batch.advances):
            # Changed on another node since the window was read: read it again now.
            self.wake()
        inserted = set(ids)
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
                if run.blocked_by is not None:
                    self.executor.note_blocker(run.blocked_by)
                elif run.status is RunStatus.PENDING:
                    self.executor.wake()

    def _advance_window(self, batch: _Batch) -> None:
        """Move the window on as the store was told, and queue each next fire that falls
        before the next refresh's window."""
        horizon = self._refresh_at + timedelta(seconds=self.cfg.lookahead)
        for schedule_id, _, nominal, _ in batch.advances:
            entry = self._window.get(schedule_id)
            if entry is None:
                continue
            if nominal is None:
                del self._window[schedule_id]
                continue
            fire_at = _fire_at(entry.trigger, entry.schedule, nominal)
            if fire_at <= horizon:
                self._window[schedule_id] = _Entry(entry.schedule, entry.trigger, nominal)
                heapq.heappush(self._heap, (fire_at, schedule_id))
            else:  # a later refresh reads it back (and queues it)
                del self._window[schedule_id]

    # -- housekeeping -------------------------------------------------------------------------

    async def _reap(self) -> None:
        """Mark runs of silent nodes lost and retry them per their task's policy."""
        now = self.clock.now()
        if now < self._reap_at:
            return
        self._reap_at = now + timedelta(seconds=self.cfg.heartbeat_interval)
        stale_before = now - timedelta(seconds=self.cfg.lost_after)
        reason = f"no heartbeat from its node since before {stale_before.isoformat()}"
        stale = await self.store.stale_runs(stale_before, _REAP_BATCH)
        verdicts: list[tuple[Run, LostRun]] = []
        for run in stale:
            task = self.registry.get_task(run.task_name)
            when = retry_at(task, run, RunStatus.LOST, now)
            error = {"type": "RunLost", "message": reason}
            attempt_error = {
                "attempt": run.attempt,
                "status": RunStatus.LOST.value,
                "error": error,
                "started_at": run.started_at.isoformat() if run.started_at else None,
                "finished_at": now.isoformat(),
            }
            verdict = LostRun(
                run_id=run.id,
                attempt=run.attempt,
                node_id=run.node_id or "",
                stale_before=stale_before,
                now=now,
                retry_at=when,
                attempt_error=attempt_error,
                reason=reason,
            )
            verdicts.append((run, verdict))
        applied = await self.store.lose_runs([v for _, v in verdicts]) if verdicts else []
        if any(applied):
            # Runs queued behind the lost ones are released: claim them.
            self.executor.wake()
        for (run, verdict), ok in zip(verdicts, applied, strict=True):
            if not ok:
                continue
            lost = replace(run, status=RunStatus.LOST, finished_at=now, reason=reason)
            logger.warning(
                "run %s of %s lost: node %s stopped heartbeating",
                run.id,
                run.task_name,
                run.node_id,
            )
            when = verdict.retry_at
            self.events.publish(
                RunEvent(kind=EventKind.LOST, run=lost, detail={"final": when is None})
            )
            if when is not None:
                self.events.publish(
                    RunEvent(
                        kind=EventKind.RETRYING,
                        run=replace(
                            run, status=RunStatus.PENDING, attempt=run.attempt + 1, not_before=when
                        ),
                        detail={
                            "status": RunStatus.LOST.value,
                            "error": verdict.attempt_error["error"],
                        },
                    )
                )


def _cause(batch: _Batch, run: Run) -> dict[str, str]:
    cause = batch.causes.get(run.id)
    return {"cause": cause} if cause else {}


def _fire_at(trigger: Trigger, schedule: Schedule, nominal: datetime) -> datetime:
    return nominal + timedelta(seconds=trigger.jitter_offset(schedule.id, nominal))
